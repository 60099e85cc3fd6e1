"""Any aspect, every model, everywhere (issue 24, point 1, and the aspect part of point 5).

Frames that a model's crop does not fit inside (a portrait or square video under a
landscape crop) are scaled, aspect kept, until it fits, then cropped: torchvision's Resize
then CenterCrop / RandomCrop, by one function (har.preprocessing.fit_crop) in training,
evaluation, `har predict`, `--timeline`, `har serve` and before an exported .onnx graph.
Frames the crop fits are never resampled: the default profile's tensors are compared, bit
for bit, with the code from before the rule (old_spatial_transform, old_eval_clip below).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import commands
from har.checkpoint import save_checkpoint
from har.cli import main
from har.config import load_params
from har.data import (ClipDataset, clip_indices, preprocess_frames, random_affine,
                      spatial_transform)
from har.datasets.synthetic import encode_avi, group_style, render_clip
from har.engine import make_adam, make_loader, predict_clips, train_one_epoch, video_scores
from har.extract import ExtractSettings, extract_all
from har.fileio import read_csv
from har.frames import jpeg_round_trip, load_frames
from har.models import create_model, get_entry, list_models
from har.predict import Predictor
from har.preprocessing import (Preprocessing, eval_clip, eval_clip_indices, eval_clips, fit_crop,
                               fitted_size)
from har.serve import create_app
from har.video import probe, read_frames
from serving import SETTINGS
from videos import moving_square, write_video

pytestmark = pytest.mark.slow  # every model on every aspect, predict/serve/.onnx as processes

ROOT = Path(__file__).resolve().parents[1]


# --- The code before the rule (549eada), verbatim but for the error type, for frames it fits ---

def old_spatial_transform(frames, prep, train):
    _, _, h, w = frames.shape
    ch, cw = prep.crop_hw
    if ch > h or cw > w:
        raise ValueError(f"crop {ch}x{cw} (height x width) is larger than the frames, {h}x{w}")
    if train:
        top = int(torch.randint(0, h - ch + 1, (1,)))
        left = int(torch.randint(0, w - cw + 1, (1,)))
    else:
        top, left = (h - ch) // 2, (w - cw) // 2
    x = frames[:, :, top:top + ch, left:left + cw]
    if train and prep.hflip and bool(torch.rand(1) < 0.5):
        x = x.flip(-1)
    x = x.float().div_(255)
    if train and (prep.zoom or prep.rotation or prep.shift):
        x = random_affine(x, prep.zoom, prep.rotation, prep.shift)
    mean = torch.tensor(prep.mean).view(1, 3, 1, 1)
    std = torch.tensor(prep.std).view(1, 3, 1, 1)
    x = (x - mean) / std
    if prep.layout == "NCTHW":
        x = x.permute(1, 0, 2, 3)
    return x.contiguous()


def old_eval_clip(frames, prep, clip=0, num_clips=1):
    t, h, w, _ = frames.shape
    ch, cw = prep.crop_hw
    if ch > h or cw > w:
        raise ValueError(f"crop {ch}x{cw} (height x width) is larger than the frames, {h}x{w}")
    top, left = (h - ch) // 2, (w - cw) // 2
    idx = eval_clip_indices(t, prep.clip_frames(train=False), clip, num_clips)
    x = frames[idx, top:top + ch, left:left + cw].astype(np.float32) / np.float32(255)
    x = (x - np.asarray(prep.mean, np.float32)) / np.asarray(prep.std, np.float32)
    axes = (3, 0, 1, 2) if prep.layout == "NCTHW" else (0, 3, 1, 2)
    return np.ascontiguousarray(x.transpose(axes))


# --- The default profile: bit for bit what it was -----------------------------------------

@pytest.fixture(scope="module")
def params():
    return load_params(ROOT / "params.yaml")


@pytest.fixture(scope="module")
def default_frames(params, tmp_path_factory) -> tuple[Path, list[dict]]:
    """A few videos of the built-in dataset, made and stored as the default profile makes them."""
    root = tmp_path_factory.mktemp("default")
    cfg = params.dataset.synthetic
    for k, cls in enumerate(cfg.classes[:3]):
        frames = render_clip(cls, k + 1, 1, params.dataset.seed, cfg,
                             group_style(params.dataset.seed, k + 1, cfg))
        encode_avi(frames, root / "videos" / cls / f"v_{cls}_g{k + 1:02d}_c01.avi", cfg.fps)
    e = params.extract
    extract_all(root / "videos", root / "frames", root / "manifest.csv",
                ExtractSettings(e.frames, e.short_side, e.jpeg_quality, 0.0, 1))
    rows = [{**r, "label": "0"} for r in read_csv(root / "manifest.csv")]
    return root / "frames", rows


def default_preps(params) -> list[tuple[str, Preprocessing]]:
    """What each model of the default profile trains and evaluates with."""
    return [(name, Preprocessing.for_model(params, name)) for name in params.models]


def test_the_default_profile_takes_32x32_and_32x44_crops_of_36x48_frames(params, default_frames):
    frames_root, rows = default_frames
    assert {p.crop_hw for _, p in default_preps(params)} == {(32, 32), (32, 44)}
    for row in rows:
        assert tuple(load_frames(frames_root / row["frames"]).shape[-2:]) == (36, 48)


def test_default_frames_are_never_resampled_and_give_the_old_tensors_bit_for_bit(params,
                                                                                 default_frames):
    frames_root, rows = default_frames
    num_clips = params.eval.clips
    for name, prep in default_preps(params):
        for video, row in enumerate(rows):
            path = frames_root / row["frames"]
            stored = load_frames(path)  # (T, 3, 36, 48) uint8, as the extract stage stored it
            hwc = stored.permute(0, 2, 3, 1).numpy()
            assert fit_crop(hwc, prep.crop) is hwc  # not a copy, not a resampling: the same array
            for c in range(num_clips):  # validation, the evaluate stage, har predict/serve
                idx = clip_indices(len(stored), prep.clip_frames(False), c, num_clips)
                old = old_spatial_transform(stored[idx], prep, train=False)
                assert torch.equal(preprocess_frames(stored, prep, c, num_clips), old), name
                assert np.array_equal(eval_clip(hwc, prep, c, num_clips), old_eval_clip(hwc, prep, c, num_clips))
                assert np.array_equal(eval_clip(hwc, prep, c, num_clips), old.numpy())
            evaluation = ClipDataset(rows, frames_root, prep, train=False, num_clips=num_clips)
            for c in range(num_clips):
                idx = clip_indices(int(row["frames_stored"]), prep.clip_frames(False), c, num_clips)
                old = old_spatial_transform(load_frames(path, idx), prep, train=False)
                assert torch.equal(evaluation[video * num_clips + c][0], old)
            training = ClipDataset(rows, frames_root, prep, train=True)
            for seed in range(8):  # training: the same random draws, in the same order
                torch.manual_seed(seed)
                new = training[video][0]
                after_new = torch.rand(1)
                torch.manual_seed(seed)
                idx = clip_indices(int(row["frames_stored"]), prep.frames, None)
                old = old_spatial_transform(load_frames(path, idx), prep, train=True)
                assert torch.equal(new, old) and torch.equal(after_new, torch.rand(1)), (name, seed)


@pytest.mark.parametrize("crop", [32, (32, 44), (36, 48), (20, 20)])
def test_crops_that_fit_with_every_augmentation_give_the_old_tensors(crop):
    prep = Preprocessing(source_frames=24, short_side=36, frames=8, crop=crop, mean=(0.4, 0.5, 0.6),
                         std=(0.2, 0.25, 0.3), layout="NCTHW", hflip=True, zoom=0.1, rotation=8.0,
                         shift=0.2)
    stored = torch.randint(0, 256, (24, 3, 36, 48), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(1))
    for seed in range(10):
        torch.manual_seed(seed)
        new = spatial_transform(stored[:8], prep, train=True)
        torch.manual_seed(seed)
        assert torch.equal(new, old_spatial_transform(stored[:8], prep, train=True))
    hwc = stored.permute(0, 2, 3, 1).numpy()
    assert np.array_equal(eval_clips(hwc, prep, 3), np.stack([old_eval_clip(hwc, prep, c, 3) for c in range(3)]))


# --- The rule ----------------------------------------------------------------------------

@pytest.mark.parametrize("frame, crop, expected", [
    ((36, 48), (32, 44), (36, 48)),  # fits: unchanged
    ((36, 48), (36, 48), (36, 48)),  # fits exactly
    ((64, 36), (32, 44), (78, 44)),  # 9:16 portrait under cnn3d's crop: 64 * 44 / 36 = 78.2
    ((36, 36), (32, 44), (44, 44)),  # square
    ((36, 84), (44, 32), (44, 103)),  # 21:9 under a portrait crop: 84 * 44 / 36 = 102.7
    ((36, 84), (32, 44), (36, 84)),  # 21:9 under a landscape crop: fits
    ((576, 36), (32, 44), (704, 44)),  # 1:16, the limit
    ((36, 576), (44, 32), (44, 704)),  # 16:1
    ((20, 30), (32, 32), (32, 48)),  # both sides short: scaled by the larger factor
    ((30, 20), (40, 20), (40, 27)),  # 26.67 rounds up
    ((36, 50), (36, 51), (37, 51)),  # 36.72 rounds up to 37; a height of 36 would be too small
])
def test_frames_are_scaled_just_enough_for_the_crop_aspect_kept(frame, crop, expected):
    h, w = frame
    assert fitted_size(h, w, crop) == expected
    ch, cw = crop
    size_h, size_w = expected
    assert size_h >= ch and size_w >= cw and size_h >= h and size_w >= w
    if expected != frame:
        # One side is the crop's, the other within half a pixel of the same scale.
        assert size_h == ch or size_w == cw
        scale = max(ch / h, cw / w)
        assert abs(size_h - h * scale) <= 0.5 and abs(size_w - w * scale) <= 0.5


def test_the_scaling_is_bilinear_with_antialias_as_torchvision():
    rng = np.random.default_rng(0)
    for (h, w), crop in [((64, 36), (32, 44)), ((36, 36), (32, 44)), ((36, 84), (44, 32))]:
        frames = rng.integers(0, 256, (3, h, w, 3), dtype=np.uint8)
        scaled = fit_crop(frames, crop)
        size_h, size_w = fitted_size(h, w, crop)
        assert scaled.shape == (3, size_h, size_w, 3) and scaled.dtype == np.uint8
        # Exactly Pillow's BILINEAR, what torchvision's Resize does to an image ...
        pil = [np.asarray(Image.fromarray(f).resize((size_w, size_h), Image.Resampling.BILINEAR))
               for f in frames]
        assert np.array_equal(scaled, np.stack(pil))
        # ... and within 1 of 255 of its tensor version (bilinear, antialias=True, uint8).
        tensor = F.interpolate(torch.from_numpy(frames).permute(0, 3, 1, 2), size=(size_h, size_w),
                               mode="bilinear", antialias=True, align_corners=False)
        assert np.abs(scaled.astype(int) - tensor.permute(0, 2, 3, 1).numpy()).max() <= 1


@pytest.mark.parametrize("shape", [(64, 36), (36, 36), (36, 84), (576, 36), (36, 576)])
@pytest.mark.parametrize("crop", [32, (32, 44), (44, 32)])
@pytest.mark.parametrize("layout", ["NCTHW", "NTCHW"])
def test_every_aspect_gives_the_crop_and_numpy_equals_torch(shape, crop, layout):
    prep = Preprocessing(source_frames=12, short_side=36, frames=4, crop=crop, mean=(0.4, 0.5, 0.6),
                         std=(0.2, 0.25, 0.3), layout=layout, hflip=True)
    frames = np.random.default_rng(2).integers(0, 256, (12, *shape, 3), dtype=np.uint8)
    ch, cw = prep.crop_hw
    channels_first = torch.from_numpy(frames).permute(0, 3, 1, 2)
    expected = torch.stack([preprocess_frames(channels_first, prep, c, 2) for c in range(2)])
    got = eval_clips(frames, prep, 2)
    assert got.shape == ((2, 3, 4, ch, cw) if layout == "NCTHW" else (2, 4, 3, ch, cw))
    assert np.array_equal(got, expected.numpy())  # prediction's numpy = training's torch, exactly
    torch.manual_seed(0)
    assert spatial_transform(channels_first[:4], prep, train=True).shape == expected.shape[1:]


def test_random_training_crops_of_scaled_frames_cover_every_position():
    # A 9:16 portrait clip (64x36) under cnn3d's 32x44 crop is scaled to 78x44: the random
    # crop takes any of its 47 rows, and the whole width.
    frames = np.random.default_rng(3).integers(0, 256, (2, 64, 36, 3), dtype=np.uint8)
    scaled = fit_crop(frames, (32, 44))
    assert scaled.shape == (2, 78, 44, 3)
    prep = Preprocessing(source_frames=2, short_side=36, frames=2, crop=(32, 44), mean=(0, 0, 0),
                         std=(1, 1, 1), layout="NTCHW", hflip=False)
    windows = {top: scaled[:, top:top + 32] for top in range(78 - 32 + 1)}
    torch.manual_seed(0)
    seen = set()
    for _ in range(400):
        x = spatial_transform(torch.from_numpy(frames).permute(0, 3, 1, 2), prep, train=True)
        pixels = (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        seen |= {top for top, window in windows.items() if np.array_equal(pixels, window)}
    assert seen == set(windows)


# --- Videos of every aspect through every model family ------------------------------------

CLASSES = ["a", "b", "c"]
# (name, coded width, coded height, display rotation): what each video is shown as.
VIDEOS = [("portrait_9x16", 72, 128, 0), ("square", 96, 96, 0), ("ultrawide_21x9", 168, 72, 0),
          ("rotated", 128, 72, -90)]  # coded landscape, shown 72x128 (a phone's metadata)
SHOWN = {"portrait_9x16": (72, 128), "square": (96, 96), "ultrawide_21x9": (168, 72),
         "rotated": (72, 128)}
# A tiny model of every family of the registry (tests/test_models.py's reduced sizes).
FAMILIES = {
    "cnn3d": {"channels": [4, 8], "fc": [16, 16], "dropout": 0.0},
    "crnn": {"channels": [4, 4, 8, 8], "fc": [16], "embed": 8, "lstm_hidden": 8, "lstm_layers": 1,
             "head": 8},
    "td_scratch_gru": {"scratch_channels": [4, 4, 8, 8], "units": 8, "dense": [8]},
    "tsn": {"depth": 18},
    "r3d_18": {"layers": [1, 1, 1, 1]},
}
CROPS = [32, (32, 44)]  # a square, and the default profile's cnn3d crop
MODELS = [(arch, crop) for arch in FAMILIES for crop in CROPS]
CLIPS = 2
WINDOW = ["--window", "0.4", "--stride", "0.2"]


def model_name(arch: str, crop) -> str:
    h, w = crop if isinstance(crop, tuple) else (crop, crop)
    return f"{arch}-{h}x{w}"


@pytest.fixture(scope="module")
def aspect_videos(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("aspects")
    return {name: write_video(root / f"{name}.mp4", moving_square(w, h, seed=w * h), rotation=r)
            for name, w, h, r in VIDEOS}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[tuple, Path]:
    """An untrained tiny checkpoint per family and crop, in the train stage's format."""
    root = tmp_path_factory.mktemp("aspect_models")
    out = {}
    for arch, crop in MODELS:
        entry = get_entry(arch)
        prep = Preprocessing(source_frames=8, short_side=36, frames=4, crop=crop, mean=entry.mean,
                             std=entry.std, layout=entry.layout, hflip=False)
        torch.manual_seed(0)
        model = create_model(arch, len(CLASSES), prep.frames, crop, **FAMILIES[arch])
        path = root / model_name(arch, crop) / "model.pt"
        path.parent.mkdir()
        save_checkpoint({"model_name": model_name(arch, crop), "arch": arch,
                         "model_config": FAMILIES[arch], "num_classes": len(CLASSES),
                         "class_names": CLASSES, "preprocessing": prep.to_dict(),
                         "state_dict": model.state_dict()}, path)
        out[arch, crop] = path
    return out


@pytest.fixture(scope="module")
def exported(checkpoints, tmp_path_factory) -> dict[tuple, Path]:
    root = tmp_path_factory.mktemp("aspect_onnx")
    out = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for key, checkpoint in checkpoints.items():
            out[key] = root / f"{model_name(*key)}.onnx"
            assert main(["export", str(checkpoint), str(out[key])]) == 0
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from more threads, and a busy machine makes them slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_the_tiny_models_cover_every_family_of_the_registry():
    assert {get_entry(a).family for a in FAMILIES} == {get_entry(m).family for m in list_models()}


def test_the_videos_are_shown_at_the_aspects_they_are_named_for(aspect_videos):
    # Frames at short side 36 (height x width): the portrait and rotated ones are too narrow
    # for a 32x44 crop, the square one too; the 21:9 one too low for a 44x32 one.
    frames = {"portrait_9x16": (64, 36), "square": (36, 36), "ultrawide_21x9": (36, 84),
              "rotated": (64, 36)}
    for name, path in aspect_videos.items():
        info = probe(path)
        assert (info.width, info.height) == SHOWN[name], name
        assert read_frames(path, 4, 36).array.shape[1:3] == frames[name], name
    assert probe(aspect_videos["rotated"]).rotation == -90


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([*map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def sampled_clips(predictor: Predictor, video: Path) -> tuple[np.ndarray, np.ndarray]:
    """(prediction's model input, training's torch transform of the same stored frames)."""
    prep = predictor.prep
    sampled = read_frames(video, prep.source_frames, prep.short_side).array
    stored = torch.from_numpy(jpeg_round_trip(sampled, prep.jpeg_quality)).permute(0, 3, 1, 2)
    torch_clips = torch.stack([preprocess_frames(stored, prep, c, CLIPS) for c in range(CLIPS)])
    return predictor.clip_batch(sampled), torch_clips.numpy()


@pytest.mark.parametrize("arch, crop", MODELS, ids=[model_name(*m) for m in MODELS])
def test_har_predict_and_timeline_take_every_aspect(checkpoints, aspect_videos, arch, crop, capsys):
    checkpoint = checkpoints[arch, crop]
    videos = list(aspect_videos.values())
    code, out, err = run(capsys, "predict", *videos, "--model", checkpoint, "--json",
                         "--clips", CLIPS, "--topk", 3)
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["video"] for r in rows] == [str(v) for v in videos]
    predictor = Predictor(checkpoint, clips=CLIPS)
    ch, cw = predictor.prep.crop_hw
    for row, video in zip(rows, videos):
        assert sorted(t["class"] for t in row["topk"]) == CLASSES
        assert sum(t["probability"] for t in row["topk"]) == pytest.approx(1, abs=1e-5)
        batch, trained = sampled_clips(predictor, video)
        assert batch.shape[-2:] == (ch, cw)
        assert np.array_equal(batch, trained), video.name  # exactly the training transform
        code, out, err = run(capsys, "predict", video, "--model", checkpoint, "--timeline",
                             *WINDOW, "--clips", CLIPS)
        assert code == 0, err
        lines = out.splitlines()
        assert lines[0] == "start,end,class,probability" and len(lines) >= 3, video.name


def test_har_serve_takes_every_aspect_with_every_model(checkpoints, aspect_videos, tmp_path):
    predictors = [Predictor(path, clips=CLIPS) for path in checkpoints.values()]
    client = create_app(predictors, SETTINGS, tmp_path).test_client()
    for predictor in predictors:
        for name, video in aspect_videos.items():
            response = client.post("/api/predict", content_type="multipart/form-data", data={
                "file": (io.BytesIO(video.read_bytes()), f"{name}.mp4"), "model": predictor.name,
                "timeline": "1", "window": "0.4", "stride": "0.2"})
            body = response.get_json()
            assert response.status_code == 200, (predictor.name, name, body)
            assert body["topk"] == predictor.predict_file(video).topk(predictor.classes, 5)
            assert len(body["timeline"]["windows"]) >= 2
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("arch, crop", MODELS, ids=[model_name(*m) for m in MODELS])
def test_an_exported_onnx_model_takes_every_aspect(checkpoints, exported, aspect_videos, arch, crop,
                                                   capsys, tmp_path):
    pt, onnx = Predictor(checkpoints[arch, crop], clips=CLIPS), Predictor(exported[arch, crop], clips=CLIPS)
    assert onnx.prep == pt.prep
    for video in aspect_videos.values():
        sampled = read_frames(video, pt.prep.source_frames, pt.prep.short_side).array
        assert np.array_equal(onnx.clip_batch(sampled), pt.clip_batch(sampled))
        assert np.abs(onnx.probabilities(sampled) - pt.probabilities(sampled)).max() <= 1e-4
    code, out, err = run(capsys, "predict", *aspect_videos.values(), "--model", exported[arch, crop],
                         "--json", "--clips", CLIPS)
    assert code == 0 and len(out.splitlines()) == len(aspect_videos), err
    code, out, err = run(capsys, "predict", aspect_videos["rotated"], "--model", exported[arch, crop],
                         "--timeline", *WINDOW, "--clips", CLIPS)
    assert code == 0 and len(out.splitlines()) >= 3, err
    client = create_app([onnx], SETTINGS, tmp_path).test_client()
    response = client.post("/api/predict", content_type="multipart/form-data", data={
        "file": (io.BytesIO(aspect_videos["square"].read_bytes()), "square.mp4"), "timeline": "1",
        "window": "0.4", "stride": "0.2"})
    assert response.status_code == 200, response.get_json()


def test_har_predict_takes_the_rotated_phone_clip_with_a_32x44_crop(checkpoints, videos, tmp_path):
    """The issue's case: it exited 2, 'crop 32x44 (height x width) is larger than the frames, 64x36'."""
    clip = videos / "FFMpegCore__input_3sec_rotation_negative_90deg.mp4"
    result = commands.run(["har", "predict", clip, "--model", checkpoints["cnn3d", (32, 44)],
                           "--json", "--clips", CLIPS], tmp_path, timeout=300)  # as a person runs it
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["video"] == str(clip)


def test_a_folder_dataset_of_every_aspect_trains_and_evaluates_as_it_predicts(
        checkpoints, aspect_videos, tmp_path):
    """The extract stage's code on a folder of mixed aspects, then ClipDataset in training (one
    epoch) and in evaluation, whose probabilities prediction must give for each file."""
    root = tmp_path / "videos"
    for k, (name, video) in enumerate(aspect_videos.items()):
        (root / CLASSES[k % 3]).mkdir(parents=True, exist_ok=True)
        (root / CLASSES[k % 3] / video.name).write_bytes(video.read_bytes())
    extract_all(root, tmp_path / "frames", tmp_path / "manifest.csv",
                ExtractSettings(frames=8, short_side=36, jpeg_quality=90, max_failed_fraction=0.0,
                                workers=1))
    rows = [{**r, "label": CLASSES.index(r["class"])} for r in read_csv(tmp_path / "manifest.csv")]
    assert len(rows) == len(aspect_videos) and all(r["status"] == "ok" for r in rows)
    for (arch, crop), checkpoint in checkpoints.items():
        predictor = Predictor(checkpoint, clips=CLIPS)
        model, prep = predictor.model.module, predictor.prep
        ch, cw = prep.crop_hw
        training = ClipDataset(rows, tmp_path / "frames", prep, train=True)
        loader = make_loader(training, len(rows), True, 0, 0)  # one batch of every aspect
        x, _, _ = next(iter(loader))
        assert x.shape[-2:] == (ch, cw)
        evaluation = ClipDataset(rows, tmp_path / "frames", prep, train=False, num_clips=CLIPS)
        logits, labels, index = predict_clips(model, make_loader(evaluation, 8, False, 0, 0),
                                              torch.device("cpu"))
        evaluated, _ = video_scores(logits, labels, index)
        for i, row in enumerate(rows):
            video = root / row["source"]
            assert np.abs(predictor.predict_file(video).probabilities - evaluated[i].numpy()).max() <= 1e-6
        before = {k: v.clone() for k, v in model.state_dict().items()}
        stats = train_one_epoch(model, loader, make_adam(model.parameters(), lr=1e-3), torch.device("cpu"))
        assert np.isfinite(stats["loss"]), model_name(arch, crop)
        assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
