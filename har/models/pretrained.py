"""Loading ImageNet / Kinetics-400 weights that the weights@<model> stage put in models/pretrained/."""

from __future__ import annotations

from torch import nn

from har.weights import find_weights, load_state_dict


def load_pretrained(model: nn.Module, key: str) -> None:
    """Load torchvision's weights for `key` into `model` (before its head is replaced).

    Never downloads: a missing file is an error saying how to get it, so training
    runs offline once `dvc repro` has fetched the weights.
    """
    model.load_state_dict(load_state_dict(find_weights(key)))
