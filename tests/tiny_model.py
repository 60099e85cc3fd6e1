"""A tiny trained checkpoint for the prediction and serving tests, made the pipeline's way.

Synthetic clips (har.datasets.synthetic) -> AVI files -> the extract stage's code (frames files
and manifest) -> ClipDataset training of a small cnn3d -> a checkpoint saved as the train stage
saves it (har.checkpoint.write_checkpoint, with its weights' digest), so the prediction and
serving tests load it the real way. No `dvc repro` output is needed, and it takes seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from har.checkpoint import write_checkpoint
from har.config import SyntheticConfig
from har.data import ClipDataset, Preprocessing
from har.datasets.synthetic import encode_avi, group_style, render_clip
from har.engine import make_adam, make_loader, seed_everything, train_one_epoch
from har.extract import ExtractSettings, extract_all
from har.fileio import read_csv
from har.models import count_parameters, create_model, get_entry

# Three classes from different pairs: separable in a few epochs by a tiny model.
CLASSES = ["FadeIn", "MoveLeft", "MoveUp"]
FPS = 25
SYNTHETIC = SyntheticConfig(classes=CLASSES, groups=21, clips_per_group=2, min_frames=25,
                            max_frames=50, width=64, height=48, fps=FPS)
TRAIN_GROUPS = range(1, 13)
TEST_GROUPS = range(13, 15)
ARCH, MODEL = "cnn3d", {"channels": [8, 16], "fc": [32, 32], "dropout": 0.0}
EPOCHS = 25
SEED = 0


@dataclass
class TinyModel:
    checkpoint: Path
    videos: Path  # <class>/v_<class>_gGG_cCC.avi, train and test groups
    frames: Path  # the extract stage's frames files
    test_rows: list[dict]  # manifest rows of the test groups, with "label"
    prep: Preprocessing
    classes: list[str]


def prep_for(arch: str = ARCH) -> Preprocessing:
    entry = get_entry(arch)
    return Preprocessing(source_frames=12, short_side=32, frames=6, crop=32, mean=entry.mean,
                         std=entry.std, layout=entry.layout, hflip=False, jpeg_quality=90)


def write_clip(path: Path, frames: np.ndarray) -> Path:
    encode_avi(frames, path, FPS)
    return path


def clip(cls: str, group: int, index: int, frames: int | None = None) -> np.ndarray:
    cfg = SYNTHETIC if frames is None else SyntheticConfig(
        **{**SYNTHETIC.__dict__, "min_frames": frames, "max_frames": frames})
    return render_clip(cls, group, index, SEED, cfg, group_style(SEED, group, cfg))


def build(root: Path) -> TinyModel:
    root.mkdir(parents=True, exist_ok=True)
    videos = root / "videos"
    for cls in CLASSES:
        for group in [*TRAIN_GROUPS, *TEST_GROUPS]:
            for index in range(1, SYNTHETIC.clips_per_group + 1):
                write_clip(videos / cls / f"v_{cls}_g{group:02d}_c{index:02d}.avi",
                           clip(cls, group, index))
    prep = prep_for()
    settings = ExtractSettings(frames=prep.source_frames, short_side=prep.short_side,
                               jpeg_quality=prep.jpeg_quality, max_failed_fraction=0.0, workers=2)
    extract_all(videos, root / "frames", root / "manifest.csv", settings)
    rows = read_csv(root / "manifest.csv")  # as the split stage reads it: strings
    for row in rows:
        row["label"] = CLASSES.index(row["class"])
    train_rows = [r for r in rows if int(r["group"][1:]) in TRAIN_GROUPS]
    test_rows = [r for r in rows if int(r["group"][1:]) in TEST_GROUPS]

    seed_everything(SEED)
    model = create_model(ARCH, len(CLASSES), prep.frames, prep.crop, **MODEL)
    loader = make_loader(ClipDataset(train_rows, root / "frames", prep, train=True), 16, True, 0, SEED)
    optimizer = make_adam(model.parameters(), lr=3e-3)  # the train stage's optimizer
    threads = torch.get_num_threads()
    # Tiny convolutions gain nothing from two threads, and on a busy 2-core machine
    # OpenMP's spinning threads make each step 10x slower.
    torch.set_num_threads(1)
    try:
        for _ in range(EPOCHS):
            last = train_one_epoch(model, loader, optimizer, torch.device("cpu"))
    finally:
        torch.set_num_threads(threads)
    total, trainable = count_parameters(model)
    path = root / "models" / "tiny" / "model.pt"
    write_checkpoint(path, model_name="tiny", arch=ARCH, model_config=MODEL, class_names=CLASSES,
                     preprocessing=prep, weights=model, summary={
                         "best_epoch": EPOCHS, "val_top1": last["acc"], "val_loss": last["loss"],
                         "train_top1": last["acc"], "train_loss": last["loss"], "epochs": EPOCHS,
                         "params_total": total, "params_trainable": trainable, "history": [],
                         "feature_cache": False})
    return TinyModel(path, videos, root / "frames", test_rows, prep, CLASSES)
