"""Per-epoch training checkpoints, so a killed `train@<model>` resumes where it stopped.

The checkpoint lives in checkpoints/<model>/seed<k>/last.pt, outside every DVC output: DVC
deletes a stage's outputs before it reruns the stage, so a file among them (or a
`persist` output, which DVC would also cache and push) could not carry state from
a killed run to the next. It is written atomically after each complete epoch and
deleted once models/<model>/seed<k>/model.pt is written.

A checkpoint resumes only the run that made it. It records a fingerprint of
everything that decides the training (the model's params, the train section, the
data and the code); when the fingerprint differs, as after the params change that
made DVC rerun the stage, it is refused with a message saying what differs, and
training starts over.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import numpy as np
import torch

from har.code_deps import model_code, stage_code
from har.errors import InputError
from har.fileio import atomic_path

ROOT = Path("checkpoints")
# What the train stage's result depends on beyond params: its code, every har file the
# script imports and the model family's own files (har/code_deps.py; dvc.yaml's deps and the
# code stage's fingerprint cover the same, tests/test_dvc_deps.py).
TRAIN_SCRIPT = "stages/train.py"
DATA = ("data/splits",)


def path(run: str) -> Path:
    """`run`: paths.run_name(model, seed), e.g. cnn3d/seed0."""
    return ROOT / run / "last.pt"


def _files_digest(paths: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for root in map(Path, paths):
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for f in files:
            if f.exists() and "__pycache__" not in f.parts:
                digest.update(str(f).encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()


def _frames_digest(frames: Path) -> str:
    """Names and sizes of the frame files: cheap, and a re-extraction changes the sizes."""
    digest = hashlib.sha256()
    for f in sorted(frames.rglob("*.npz")):
        digest.update(f"{f.relative_to(frames)}\0{f.stat().st_size}\n".encode())
    return digest.hexdigest()


def fingerprint(params, model_name: str, seed: int, world_size: int, features_info: Path,
                frames: Path) -> dict[str, str]:
    """What must match for a checkpoint to resume, one entry per cause (so a refusal names it)."""
    spec = params.model(model_name)
    parts = {
        "model params": {"arch": spec.arch, "model": spec.model},
        # This run's seed, not the list: adding a seed to train.seeds does not change this run.
        "train params": {**params.train_config(model_name).model_dump(), "seeds": seed},
        "dataset/extract/split params": [params.dataset.model_dump(),
                                         params.extract.model_dump(),
                                         params.split.model_dump()],
        # More processes shard the batches differently: another run, not a continuation.
        "process count": world_size,
    }
    out = {k: hashlib.sha256(json.dumps(v, sort_keys=True, default=str).encode()).hexdigest()
           for k, v in parts.items()}
    out["data (splits, features)"] = _files_digest(DATA + (str(features_info),))
    out["data (frames)"] = _frames_digest(frames)
    out["code"] = _files_digest(tuple(sorted(stage_code(TRAIN_SCRIPT) | model_code(spec.arch))))
    return out


def rng_state(generators: list[torch.Generator]) -> dict:
    """Every random state training draws from: Python, NumPy, torch (CPU, CUDA), the loaders'."""
    return {"python": random.getstate(), "numpy": np.random.get_state(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "loaders": [g.get_state() for g in generators]}


def set_rng_state(state: dict, generators: list[torch.Generator]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for g, s in zip(generators, state["loaders"], strict=True):
        g.set_state(s)


def save(run: str, state: dict) -> None:
    target = path(run)
    for stale in target.parent.glob(f".{target.name}.*.tmp"):  # left by a kill mid-save
        stale.unlink(missing_ok=True)
    with atomic_path(target) as tmp:
        torch.save(state, tmp)


def load(run: str, expected: dict[str, str], say=print) -> dict | None:
    """The checkpoint to resume from, or None (none there, or made by another config: said why)."""
    target = path(run)
    if not target.is_file():
        return None
    try:
        # Not weights_only: the RNG states are Python and NumPy objects. The file is one this
        # project wrote on this machine, in a git-ignored folder.
        state = torch.load(target, map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises several unrelated types for a bad file
        raise InputError(f"{target}: unreadable training checkpoint ({str(e).splitlines()[0]}); "
                         "delete it to train from the start") from None
    differs = [k for k, v in expected.items() if state.get("fingerprint", {}).get(k) != v]
    if differs:
        say(f"{target}: refused, made with a different config (differs: {', '.join(differs)}); "
              "training from the start")
        return None
    say(f"{target}: resuming after epoch {state['epoch']}")
    return state


def remove(run: str) -> None:
    path(run).unlink(missing_ok=True)
