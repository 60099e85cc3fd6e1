"""Write, save and load the train stage's checkpoints, and rebuild their model.

`write_checkpoint` is the one writer (the train stage, the tests' tiny models and the
benchmarks' untrained ones); `load_model` the one reader.

A checkpoint carries a sha256 of its weights (`weights_sha256`: every tensor of the
state dict, by sorted name, with its dtype and shape), checked at load: a file
corrupted on disk or in transit (one flipped byte changes the predictions and
nothing else notices) is an error naming it. Checkpoints saved before the digest
existed load with a warning, since nothing can be checked.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from har.data import Preprocessing
from har.errors import InputError, MissingFileError
from har.fileio import atomic_path
from har.models import create_model, options

DIGEST_KEY = "weights_sha256"


def weights_digest(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 over the tensors' names, dtypes, shapes and bytes, in sorted name order."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        # Bytes as stored, whatever the dtype (bfloat16 has no numpy type): a uint8 view.
        h.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_checkpoint(checkpoint: dict, path: Path | str) -> None:
    """Write `checkpoint` (the train stage's dict) atomically, with the digest of its weights.

    Through an open file, not the temporary path: torch.save names the zip's top folder after
    the file it is given, and the temporary name is random, so the same checkpoint would get
    other bytes on every save. Given a file object it writes "archive/": the file is then a
    pure function of its contents, and so the same md5 in dvc.lock on every machine."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save({**checkpoint, DIGEST_KEY: weights_digest(checkpoint["state_dict"])}, f)


def write_checkpoint(path: Path | str, *, model_name: str, arch: str, model_config: Mapping,
                     class_names: list[str], preprocessing: Preprocessing | Mapping,
                     weights: nn.Module | Mapping[str, torch.Tensor], seed: int | None = None,
                     summary: Mapping[str, Any] | None = None) -> dict:
    """Build the checkpoint dict and save it with its weights' digest (save_checkpoint).

    `weights`: a model (its state dict) or a state dict (the train stage's best epoch).
    `preprocessing`: a Preprocessing, or the dict of one (the tests' older formats).
    `summary`: the training's numbers (best epoch, its accuracy and loss, history, ...),
    after the keys load_model needs. Returns the dict saved, without the digest.
    """
    state_dict = weights.state_dict() if isinstance(weights, nn.Module) else weights
    prep = (preprocessing.to_dict() if isinstance(preprocessing, Preprocessing)
            else dict(preprocessing))
    checkpoint = {"model_name": model_name, **({} if seed is None else {"seed": seed}),
                  "arch": arch, "model_config": dict(model_config),
                  "num_classes": len(class_names), "class_names": list(class_names),
                  "preprocessing": prep, "state_dict": state_dict, **(summary or {})}
    save_checkpoint(checkpoint, path)
    return checkpoint


def verify_digest(ckpt: dict, path: Path | str) -> None:
    """ValueError naming `path` when its weights are not the ones it was saved with."""
    expected = ckpt.get(DIGEST_KEY)
    if expected is None:
        warnings.warn(f"{path}: saved without a digest of its weights (an older checkpoint), so "
                      "corruption cannot be detected; train it again to add one", stacklevel=3)
        return
    try:
        actual = weights_digest(ckpt["state_dict"])
    except (AttributeError, TypeError, RuntimeError) as e:  # a tensor replaced by other data
        raise InputError(f"{path}: corrupted: its weights cannot be read ({e})") from None
    if actual != expected:
        raise InputError(f"{path}: corrupted: its weights do not match the digest saved with "
                         "them (the file changed after training); restore it with `dvc checkout` "
                         "or train again")


def load_model(path: Path | str, device: torch.device | str = "cpu"
               ) -> tuple[nn.Module, Preprocessing, dict]:
    """(model in eval mode, its preprocessing, the checkpoint dict)."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: checkpoint not found (run `dvc repro` to train)")
    try:
        # weights_only: a checkpoint is data, never code to execute.
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several unrelated types for a bad file
        raise InputError(f"{path}: not a har checkpoint ({str(e).splitlines()[0]})") from None
    for key in ("arch", "model_config", "num_classes", "preprocessing", "state_dict", "class_names"):
        if key not in ckpt:
            raise InputError(f"{path}: not a har checkpoint (no {key!r})")
    verify_digest(ckpt, path)
    prep = Preprocessing.from_dict(ckpt["preprocessing"])
    config = dict(ckpt["model_config"])
    if "pretrained" in options(ckpt["arch"], {}):
        # The state dict below holds every weight: loading the pretrained file first
        # would only need it on disk (a deployment machine has no models/pretrained).
        config["pretrained"] = False
    # Built for the training clip (frames, crop); its evaluation clips have
    # prep.clip_frames(train=False) frames, which config validation allowed for this arch.
    model = create_model(ckpt["arch"], ckpt["num_classes"], prep.frames, prep.crop, **config)
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval(), prep, ckpt
