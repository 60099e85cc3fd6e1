"""A tiny model registry: `@register_model` on a constructor, `create_model(name, ...)` to build.

Each entry declares its input spec (layout, normalisation); frames and crop come
from params (a crop is a square's side or (height, width), see har.input_spec.crop_hw).
The training stage stores the resulting Preprocessing in the checkpoint, and
prediction reads it from there.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Callable

from torch import nn

from har.config import ConfigError, Params
from har.errors import InputError
from har.input_spec import Crop, IMAGENET_MEAN, IMAGENET_STD, crop_hw


@dataclass(frozen=True)
class ModelEntry:
    name: str
    family: str
    layout: str  # "NCTHW" or "NTCHW"
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    source: str  # which published system it comes from (har/models/sources.py), or ours
    build: Callable[..., nn.Module]
    fixed_input: tuple[int, int] | None  # (frames, square side) the architecture requires, if any
    min_input: tuple[int, int]  # the smallest (frames, square side) it accepts: used by tests
    # Layers sized for the clip length at construction (an FC layer after flattening time,
    # or a fixed input): such a model runs only on clips as long as its training ones, so
    # train.eval_frames must equal train.frames (har/config.py checks it).
    fixed_frames: bool
    # options (defaults filled in) -> the har.weights key its `pretrained: true` loads
    weights: Callable[[dict], str] | None


_REGISTRY: dict[str, ModelEntry] = {}

# The module of har/models that registers each model. create_model imports only that one, so
# a stage that builds cnn3d runs har/models/cnn3d.py and none of the other families' files,
# and an edit to one family re-runs only its models' stages (the code stage fingerprints
# each model's family with har/code_deps.py, which reads this table as a literal, without
# importing torch). tests/test_models.py checks it against the registrations.
MODEL_MODULES = {
    "cnn3d": "cnn3d",
    "crnn": "crnn",
    "frame_avg": "crnn",
    "resnet_crnn": "resnet_crnn",
    "td_scratch_lstm": "timedistributed",
    "td_scratch_gru": "timedistributed",
    "td_mobilenet_lstm": "timedistributed",
    "td_mobilenet_gru": "timedistributed",
    "td_resnet152_lstm": "timedistributed",
    "td_resnet152_gru": "timedistributed",
    "tsn": "tsn",
    "r3d_18": "video",
    "mc3_18": "video",
    "r2plus1d_18": "video",
    "s3d": "video",
    "mvit_v2_s": "video",
    "swin3d_t": "video",
}


def register_model(*, family: str, layout: str, source: str, mean=IMAGENET_MEAN,
                   std=IMAGENET_STD, name: str | None = None,
                   fixed_input: tuple[int, int] | None = None, min_input: tuple[int, int] = (4, 32),
                   fixed_frames: bool = False, weights: Callable[[dict], str] | None = None):
    def wrap(fn):
        key = name or fn.__name__
        if key in _REGISTRY:
            raise ValueError(f"model {key!r} registered twice")
        _REGISTRY[key] = ModelEntry(key, family, layout, tuple(mean), tuple(std), source, fn,
                                    fixed_input, fixed_input or min_input,
                                    fixed_frames or fixed_input is not None, weights)
        return fn
    return wrap


def _import_family(name: str) -> None:
    importlib.import_module(f"har.models.{MODEL_MODULES[name]}")  # registers its models


def list_models() -> list[str]:
    for name in MODEL_MODULES:
        _import_family(name)
    return sorted(_REGISTRY)


def get_entry(name: str) -> ModelEntry:
    if name not in _REGISTRY and name in MODEL_MODULES:
        _import_family(name)
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown model {name!r}; registered: {', '.join(list_models())}") from None


def create_model(name: str, num_classes: int, frames: int, crop: Crop, **cfg) -> nn.Module:
    """Build a registered model for clips of `frames` frames of `crop` (side, or (height, width)).

    Unknown keyword arguments are an error naming the model.
    """
    entry = get_entry(name)
    crop = crop_hw(crop)  # the one place: every model's constructor gets (height, width)
    if entry.fixed_input:
        need_frames, need_side = entry.fixed_input
        if (frames, crop) != (need_frames, (need_side, need_side)):
            h, w = crop
            raise InputError(f"model {name!r} needs {need_frames} frames of {need_side}x{need_side}, "
                             f"got {frames} of {h}x{w} (height x width)")
    accepted = inspect.signature(entry.build).parameters
    unknown = sorted(set(cfg) - set(accepted))
    if unknown:
        options = [p for p in accepted if p not in ("num_classes", "frames", "crop")]
        raise InputError(f"model {name!r}: unknown option(s) {', '.join(unknown)}; "
                         f"accepted: {', '.join(options)}")
    return entry.build(num_classes=num_classes, frames=frames, crop=crop, **cfg)


def options(name: str, cfg: dict) -> dict:
    """The model's options: its constructor's defaults, overridden by `cfg`."""
    defaults = {p.name: p.default for p in inspect.signature(get_entry(name).build).parameters.values()
                if p.default is not inspect.Parameter.empty}
    return {**defaults, **cfg}


def pretrained_weights(name: str, cfg: dict) -> str | None:
    """The weights key (see har.weights) that building `name` with `cfg` loads, or None."""
    entry = get_entry(name)
    full = options(name, cfg)
    if not full.get("pretrained") or entry.weights is None:
        return None
    return entry.weights(full)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


def check_model_params(params: Params) -> None:
    """The checks of params.yaml that need the registry (har.config stays free of torch):
    every arch exists, and one whose layers are sized for the clip length (fixed_frames)
    is not asked to evaluate another length. The params stage runs it before any other."""
    for name, spec in params.models.items():
        try:
            entry = get_entry(spec.arch)
        except ValueError as e:
            raise ConfigError(f"params.yaml: models.{name}.arch: {e}") from None
        tc = params.train_config(name)
        if entry.fixed_frames and tc.eval_frames not in (None, tc.frames):
            raise ConfigError(
                f"params.yaml: train.eval_frames ({tc.eval_frames}) for model {name!r} differs "
                f"from train.frames ({tc.frames}), but {spec.arch} has layers sized for the clip "
                f"length it trains on, so it can evaluate only that length; set eval_frames: null "
                f"for it (models.{name}.train)")
