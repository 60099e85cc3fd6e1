"""Loading ImageNet / Kinetics-400 weights from models/pretrained/ (fetched once, DVC-tracked)."""

from __future__ import annotations

from torch import nn


def load_pretrained(model: nn.Module, key: str) -> None:
    """Load torchvision's weights for `key` into `model` (before its head is replaced)."""
    from har.weights import PRETRAINED_DIR, fetch, load_state_dict, weight_url

    path = fetch(weight_url(key), PRETRAINED_DIR)
    model.load_state_dict(load_state_dict(path))
