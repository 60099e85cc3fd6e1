"""The train stage's training (har/train.py) run in-process in a scratch folder: what it keeps
and resumes, in seconds.

The real `run_seed` runs, as stages/train.py calls it (params, model, optimizer, checkpoints,
dvclive, the final model.pt). With a Script, only the library's `train_one_epoch` and
`evaluate` are replaced: a scripted epoch sets every weight to the epoch's number, so a saved
state dict says which epoch it came from, and validation answers what the script says. `stop_after` ends a run right after an
epoch's checkpoint, as a kill would.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from har import paths, resume
from har import train as training
from har.code_deps import model_code, stage_code
from har.config import load_params
from har.fileio import write_csv
from har.models import registry

ROOT = Path(__file__).resolve().parents[1]
MODEL, SEED = "probe", 0
RUN = paths.run_name(MODEL, SEED)
MODEL_FILE = paths.checkpoint(MODEL, SEED)  # the stage's output, relative to the project
CHECKPOINT = resume.path(RUN)  # the per-epoch training checkpoint
CLASSES = ["A", "B"]
FIELDS = ["id", "label", "class", "group", "frames", "frames_stored"]


def project(work: Path, epochs: int) -> Path:
    """params.yaml with one tiny cnn3d, split files, and a copy of the code the resume
    fingerprint reads (what stages/train.py imports): the real one, so a code edit there is
    a real one."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["models"] = {MODEL: {"arch": "cnn3d",
                                "model": {"channels": [2, 2], "fc": [4, 4], "dropout": 0.0},
                                "train": {"epochs": epochs, "frames": 4, "crop": 16}}}
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    for name, groups in (("train", ("g01", "g02")), ("val", ("g03",))):
        rows = [{"id": f"{c}/v_{c}_{g}_c01", "label": i, "class": c, "group": g,
                 "frames": f"{c}/v_{c}_{g}_c01.npz", "frames_stored": 8}
                for g in groups for i, c in enumerate(CLASSES)]
        write_csv(work / "data/splits" / f"{name}.csv", FIELDS, rows)
    (work / "data/splits/classes.txt").write_text("".join(f"{c}\n" for c in CLASSES))
    copy_code(work)
    return work


def copy_code(work: Path) -> None:
    """The files the train stage's resume fingerprint reads (the stage's code and every model
    family's), copied from the project."""
    families = set().union(*(model_code(arch, ROOT) for arch in registry.MODEL_MODULES))
    for rel in sorted(stage_code(resume.TRAIN_SCRIPT, ROOT) | families):
        src, dst = ROOT / rel, work / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


class Script:
    """Validation (top1, loss) per epoch, in the order the epochs run; records what ran."""

    def __init__(self, val: list[tuple[float, float]], first_epoch: int = 1):
        self.val = val
        self.epoch = first_epoch - 1
        self.trained: list[int] = []

    def train_one_epoch(self, model, loader, optimizer, device, scaler=None, amp=False, ctx=None):
        self.epoch += 1
        self.trained.append(self.epoch)
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(float(self.epoch))
        optimizer.step()  # no gradients, so no change; the LR scheduler wants it called first
        return {"loss": 10.0 - self.epoch, "acc": self.epoch / 100}

    def evaluate(self, model, loader, device, amp=False, ctx=None):
        top1, loss = self.val[self.epoch - 1]
        # A balanced validation set (one class of 1,000 clips): its mean class accuracy, which
        # selection compares, is the scripted top-1 (har.engine.selection_score).
        return {"top1": top1, "loss": loss, "videos": len(loader.dataset),
                "class_correct": [round(top1 * 1000)], "class_total": [1000],
                "mean_class_top1": round(top1 * 1000) / 1000}


class Killed(BaseException):
    """Not an Exception: nothing in the stage may catch it, as nothing catches SIGKILL."""


def stage(name: str):
    """stages/<name>.py as a module (a fresh import each time)."""
    spec = importlib.util.spec_from_file_location(f"stage_{name}", ROOT / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(script: Script | None, stop_after: int | None = None, model: str = MODEL,
        seed: int = SEED) -> None:
    """`python stages/train.py <model> <seed>` in the current folder, its epochs scripted (or
    real with script=None). With stop_after=k the run dies right after epoch k's checkpoint,
    as a killed one would."""
    save = resume.save

    def save_then_die(run_name: str, state: dict) -> None:
        save(run_name, state)
        if state["epoch"] == stop_after:
            raise Killed

    with pytest.MonkeyPatch.context() as patch:
        if script is not None:
            patch.setattr(training, "train_one_epoch", script.train_one_epoch)
            patch.setattr(training, "evaluate", script.evaluate)
        patch.setattr(resume, "save", save_then_die)
        try:
            training.run_seed(load_params(), model, seed)
        except Killed:
            pass
