"""Load a checkpoint written by the train stage and rebuild its model."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from har.data import Preprocessing
from har.models import create_model, options


def load_model(path: Path | str, device: torch.device | str = "cpu"
               ) -> tuple[nn.Module, Preprocessing, dict]:
    """(model in eval mode, its preprocessing, the checkpoint dict)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found (run `dvc repro` to train)")
    try:
        # weights_only: a checkpoint is data, never code to execute.
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several unrelated types for a bad file
        raise ValueError(f"{path}: not a har checkpoint ({str(e).splitlines()[0]})") from None
    for key in ("arch", "model_config", "num_classes", "preprocessing", "state_dict", "class_names"):
        if key not in ckpt:
            raise ValueError(f"{path}: not a har checkpoint (no {key!r})")
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
