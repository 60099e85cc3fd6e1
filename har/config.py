"""Typed view of params.yaml.

Every section is a dataclass with no defaults: params.yaml is the single place
where a value lives, so a missing key is an error, and so is an unknown one (a
typo such as `train.lr_` must not silently train with the old value).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from har.errors import InputError
from har.input_spec import crop_hw

PARAMS_FILE = Path("params.yaml")
DATASETS = ("synthetic", "ucf101", "hmdb51", "folder")


class ConfigError(InputError):
    """params.yaml does not describe a valid run."""


@dataclass(frozen=True)
class SyntheticConfig:
    classes: list[str]  # names from har.datasets.synthetic.MOTIONS
    groups: int  # UCF101 has 25; the official split rule needs at least 21
    clips_per_group: int
    min_frames: int
    max_frames: int
    width: int
    height: int
    fps: int


@dataclass(frozen=True)
class ArchiveSource:
    """One archive to fetch: where from, and the checksum it must have before it is unpacked."""
    url: str  # http(s)://, or file:///abs/path for a copy you already have
    checksum: str  # "sha256:<64 hex>" or "md5:<32 hex>" (only where no sha256 is known)

    @property
    def sha256(self) -> str | None:
        algorithm, _, digest = self.checksum.partition(":")
        return digest if algorithm == "sha256" else None

    @property
    def md5(self) -> str | None:
        algorithm, _, digest = self.checksum.partition(":")
        return digest if algorithm == "md5" else None


@dataclass(frozen=True)
class UCF101Config:
    videos: ArchiveSource  # UCF101.rar, or the zip mirror UCF101_videos.zip
    splits: ArchiveSource  # UCF101TrainTestSplits-RecognitionTask.zip


@dataclass(frozen=True)
class HMDB51Config:
    videos: ArchiveSource  # hmdb51_org.rar: a RAR of 51 per-class RARs
    splits: ArchiveSource  # test_train_splits.rar


@dataclass(frozen=True)
class FolderConfig:
    root: str  # <root>/<class>/<video>; relative to the project root, or absolute
    extensions: list[str]  # which files are videos, e.g. ".mp4" (any case matches)
    group_regex: str  # the recording id in a file name; a file it does not match is its own group
    test_fraction: float  # of each class's videos, taken as whole groups
    seed: int  # which groups go to test


@dataclass(frozen=True)
class DatasetConfig:
    name: str  # one of DATASETS
    seed: int  # synthetic only: the generated videos are a pure function of it
    split: int  # 1, 2 or 3: the official split to train and test on (folder: 1)
    synthetic: SyntheticConfig
    ucf101: UCF101Config
    hmdb51: HMDB51Config
    folder: FolderConfig


@dataclass(frozen=True)
class ExtractConfig:
    frames: int  # frames kept per video, sampled uniformly over the whole video
    short_side: int  # pixels after resizing, aspect preserved
    jpeg_quality: int
    max_failed_fraction: float
    workers: int  # 0 = one per CPU core


@dataclass(frozen=True)
class SplitConfig:
    val_fraction: float  # fraction of the training *groups* moved to validation
    seed: int


@dataclass(frozen=True)
class TrainConfig:
    # Every model trains once per seed (DVC's matrix, dvc.yaml); the results show their mean
    # and spread. The same for all models: a model's `train` overrides cannot change it.
    seeds: list[int]
    epochs: int
    batch_size: int
    lr: float
    lr_schedule: str  # "cosine" (anneal to 0 over the epochs) or "constant"
    weight_decay: float
    frames: int  # frames per training clip, drawn from the extracted ones
    # Frames per evaluation clip (validation, the evaluate stage, prediction); None = frames.
    # A model whose layers are sized for the clip length (cnn3d) takes only None or frames.
    eval_frames: int | None
    crop: int | list[int]  # a square's side, or [height, width]; see crop_hw
    hflip: bool  # off for direction classes: a mirrored MoveLeft is a MoveRight
    # Random affine augmentation in training, one draw per clip (as Keras' ImageDataGenerator
    # with zoom_range, rotation_range, width/height_shift_range); 0 turns each off.
    zoom: float  # each axis scaled by a factor drawn from [1 - zoom, 1 + zoom]
    rotation: float  # degrees, drawn from [-rotation, rotation]
    shift: float  # fraction of the crop side, drawn from [-shift, shift] on each axis
    workers: int  # DataLoader workers; 0 decodes in the training process
    device: str  # "auto", "cpu", "cuda", "cuda:1", "mps"
    amp: bool  # mixed precision on CUDA (bf16 where supported, else fp16); a no-op on CPU
    channels_last: bool  # conv weights in channels-last layout on CUDA; a no-op on CPU
    compile: bool  # torch.compile the model on CUDA; a no-op on CPU
    nproc: int  # processes on this machine (torchrun); 1 = plain python; see har/distributed.py
    feature_cache: bool  # train a fully frozen encoder's head on cached features (features stage)
    # Decoded frames kept in memory across epochs, per loading process (har.frames.FrameCache);
    # 0 decodes every clip every epoch. The results are the same either way.
    frame_cache_mb: float
    # How training draws its clips: "none" (every clip once per epoch, shuffled) or "sampler"
    # (a class-balanced sampler: clips drawn with replacement, each class equally likely).
    class_balance: str


CLASS_BALANCE = ("none", "sampler")  # train.class_balance (har.engine.make_loader)
EVAL_CROPS = (1, 3)  # eval.crops: the spatial views har.data.crop_origin cuts


@dataclass(frozen=True)
class EvalConfig:
    clips: int  # clips per test video whose softmax is averaged for video accuracy
    batch_size: int
    # Spatial views per clip: 1 = the centre crop; 3 = both ends and the middle of the long
    # side (the field's "3-crop" testing). The softmax is averaged over clips x crops.
    crops: int


@dataclass(frozen=True)
class ServeConfig:
    """`har serve`: limits on what one upload may cost the server."""
    max_upload_mb: float  # larger uploads are refused with 413 before any decoding
    decode_timeout_s: float  # an upload that takes longer to decode is refused (422)
    threads: int  # requests handled at once by waitress; more wait in its queue


@dataclass(frozen=True)
class ModelConfig:
    arch: str  # registry name, see `har models`
    model: dict[str, Any]  # keyword arguments of the architecture
    train: dict[str, Any]  # overrides of the train section for this model only


@dataclass(frozen=True)
class ReportedResult:
    """An accuracy from the literature, shown as a "reported" row of the results table."""
    model: str  # the models entry that reproduces it
    accuracy: float  # percent, as published
    protocol: str  # dataset, split and evaluation, as the source describes them
    source: str  # who reported it


@dataclass(frozen=True)
class Params:
    dataset: DatasetConfig
    extract: ExtractConfig
    split: SplitConfig
    train: TrainConfig
    eval: EvalConfig
    serve: ServeConfig
    models: dict[str, ModelConfig]
    reported: list[ReportedResult]

    def model(self, model_name: str) -> ModelConfig:
        if model_name not in self.models:
            raise ConfigError(f"params.yaml: model {model_name!r} is not under 'models' "
                              f"(has: {', '.join(self.models)})")
        return self.models[model_name]

    def train_config(self, model_name: str) -> TrainConfig:
        """The train section with this model's overrides applied."""
        overrides = self.models[model_name].train
        return _build(TrainConfig, {**dataclasses.asdict(self.train), **overrides},
                      f"models.{model_name}.train")


def _type_name(annotation: Any) -> str:
    if annotation is type(None):
        return "null"
    if typing.get_origin(annotation) is list:
        return f"a list of {_type_name(typing.get_args(annotation)[0])}"
    return getattr(annotation, "__name__", str(annotation))


def _check_type(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        # The first alternative the value fits; `int | None` takes null, `int | list[int]` either.
        for alternative in typing.get_args(annotation):
            if alternative is type(None):
                if value is None:
                    return None
                continue
            try:
                return _check_type(value, alternative, where)
            except ConfigError:
                pass
        names = " or ".join(_type_name(a) for a in typing.get_args(annotation))
        raise ConfigError(f"params.yaml: '{where}' must be {names}, got {value!r}")
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation in (int, float, str, bool):
        if type(value) is not annotation:
            raise ConfigError(f"params.yaml: '{where}' must be {annotation.__name__}, "
                              f"got {value!r}")
        _refuse_non_finite(value, where)
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"params.yaml: '{where}' must be a list, got {value!r}")
        (item_type,) = typing.get_args(annotation)
        return [_check_type(v, item_type, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(f"params.yaml: '{where}' must be a mapping, got {value!r}")
        _, value_type = typing.get_args(annotation)
        return {k: _check_type(v, value_type, f"{where}.{k}") for k, v in value.items()}
    if annotation is Any:
        _refuse_non_finite(value, where)
        return value
    if dataclasses.is_dataclass(annotation):
        return _build(annotation, value, where)
    raise TypeError(f"unsupported annotation {annotation!r} at {where}")  # a bug here, not in params


def _refuse_non_finite(value: Any, where: str) -> None:
    """NaN and infinities (YAML's .nan, .inf) compare false with every bound: refuse them here."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"params.yaml: '{where}' must be a finite number, got {value}")
    if isinstance(value, dict):
        for k, v in value.items():
            _refuse_non_finite(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _refuse_non_finite(v, f"{where}[{i}]")


def _build(cls: type, data: Any, where: str):
    if not isinstance(data, dict):
        raise ConfigError(f"params.yaml: '{where or 'top level'}' must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(f"params.yaml: unknown key(s) {', '.join(prefix + k for k in unknown)}; "
                          f"known keys{' of ' + where if where else ''}: {', '.join(names)}")
    missing = [n for n in names if n not in data]
    if missing:
        prefix = f"{where}." if where else ""
        raise ConfigError(f"params.yaml: missing key(s) {', '.join(prefix + k for k in missing)}")
    kwargs = {n: _check_type(data[n], hints[n], f"{where}.{n}" if where else n) for n in names}
    return cls(**kwargs)


def _positive(value: int | float, key: str) -> None:
    if value <= 0:
        raise ConfigError(f"params.yaml: '{key}' must be positive, got {value}")


def _validate(p: Params) -> None:
    syn = p.dataset.synthetic
    for key, value in [("dataset.synthetic.clips_per_group", syn.clips_per_group),
                       ("dataset.synthetic.width", syn.width), ("dataset.synthetic.height", syn.height),
                       ("dataset.synthetic.fps", syn.fps), ("extract.frames", p.extract.frames),
                       ("extract.short_side", p.extract.short_side), ("eval.clips", p.eval.clips),
                       ("eval.batch_size", p.eval.batch_size),
                       ("serve.max_upload_mb", p.serve.max_upload_mb),
                       ("serve.decode_timeout_s", p.serve.decode_timeout_s),
                       ("serve.threads", p.serve.threads)]:
        _positive(value, key)
    if p.eval.crops not in EVAL_CROPS:
        raise ConfigError(f"params.yaml: eval.crops must be 1 (the centre) or 3 (both ends and "
                          f"the middle of the long side), got {p.eval.crops}")
    if not 1 <= p.extract.jpeg_quality <= 100:
        raise ConfigError("params.yaml: extract.jpeg_quality must be within 1..100")
    _validate_dataset(p.dataset)
    if not 0 <= p.extract.max_failed_fraction <= 1:
        raise ConfigError("params.yaml: extract.max_failed_fraction must be within [0, 1]")
    seeds = p.train.seeds
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ConfigError(f"params.yaml: train.seeds must list distinct whole numbers >= 0, "
                          f"got {seeds}")
    if not 0 < p.split.val_fraction < 1:
        raise ConfigError("params.yaml: split.val_fraction must be within (0, 1)")
    if not p.models:
        raise ConfigError("params.yaml: 'models' lists no model to train")
    for name in p.models:
        if not name.replace("_", "").isalnum():
            raise ConfigError(f"params.yaml: model name {name!r} must be letters, digits and _")
        if name == "pretrained":  # models/pretrained/ holds the weights stage's files
            raise ConfigError("params.yaml: a model may not be named 'pretrained' (models/"
                              "pretrained/ holds the pretrained weight files); rename it")
        if "seeds" in p.models[name].train:
            raise ConfigError(f"params.yaml: models.{name}.train.seeds: seeds are the same for "
                              "every model (DVC's matrix runs each model over train.seeds); set "
                              "train.seeds instead")
        tc = p.train_config(name)
        for key in ("epochs", "batch_size", "lr", "frames", "nproc"):
            _positive(getattr(tc, key), f"train.{key} (model {name})")
        _validate_input_size(p, name, tc)
        if tc.class_balance not in CLASS_BALANCE:
            raise ConfigError(f"params.yaml: train.class_balance must be none or sampler, "
                              f"got {tc.class_balance!r} (model {name!r})")
        if tc.class_balance == "sampler" and tc.nproc > 1:
            raise ConfigError(f"params.yaml: train.class_balance sampler runs in one process; "
                              f"set train.nproc to 1 (model {name!r})")
        if tc.lr_schedule not in ("cosine", "constant"):
            raise ConfigError(f"params.yaml: train.lr_schedule must be cosine or constant, "
                              f"got {tc.lr_schedule!r} (model {name!r})")
        for key, value, top in (("zoom", tc.zoom, 1), ("shift", tc.shift, 1),
                                ("rotation", tc.rotation, 180)):
            if not 0 <= value < top:
                raise ConfigError(f"params.yaml: train.{key} (model {name}) must be within "
                                  f"[0, {top}), got {value}")
    for i, result in enumerate(p.reported):
        if result.model not in p.models:
            raise ConfigError(f"params.yaml: reported[{i}].model {result.model!r} is not under "
                              f"'models' (has: {', '.join(p.models)})")


def _validate_input_size(p: Params, name: str, tc: TrainConfig) -> None:
    """Clip length and crop of model `name`: they fit the extracted frames, and the model."""
    for key, frames in (("frames", tc.frames), ("eval_frames", tc.eval_frames)):
        if frames is None:  # eval_frames: the training length
            continue
        _positive(frames, f"train.{key} (model {name})")
        if frames > p.extract.frames:
            raise ConfigError(f"params.yaml: train.{key} ({frames}) for model {name!r} "
                              f"exceeds extract.frames ({p.extract.frames})")
    # Whether the architecture takes another evaluation length needs the model registry
    # (torch): har.models.registry.check_model_params, run by the params stage.
    crop = tc.crop
    if isinstance(crop, list) and (len(crop) != 2 or min(crop) <= 0):
        raise ConfigError(f"params.yaml: train.crop (model {name}) must be one positive side or "
                          f"[height, width], two positive ints; got {crop}")
    if not isinstance(crop, list):
        _positive(crop, f"train.crop (model {name})")
    # The frames' short side is extract.short_side, so no crop whose sides both exceed it fits. The
    # long side, and so whether a [height, width] crop fits, depends on each video's aspect
    # ratio and orientation: that is checked per clip (har.data.spatial_transform).
    if min(crop_hw(crop)) > p.extract.short_side:
        raise ConfigError(f"params.yaml: train.crop ({crop}) for model {name!r} "
                          f"exceeds extract.short_side ({p.extract.short_side}), the frames' short side")


def _validate_dataset(ds: DatasetConfig) -> None:
    if ds.name not in DATASETS:
        raise ConfigError(f"params.yaml: dataset.name {ds.name!r} is not supported; "
                          f"available: {', '.join(DATASETS)}")
    if ds.split not in (1, 2, 3):
        raise ConfigError(f"params.yaml: dataset.split must be 1, 2 or 3, got {ds.split}")
    if ds.name == "folder" and ds.split != 1:
        raise ConfigError(f"params.yaml: dataset.split is {ds.split}, but a folder dataset has "
                          "one split (set dataset.split: 1; dataset.folder.seed draws another)")
    for name, archives in (("ucf101", ds.ucf101), ("hmdb51", ds.hmdb51)):
        for role in ("videos", "splits"):
            _validate_source(getattr(archives, role), f"dataset.{name}.{role}")
    folder = ds.folder
    if not folder.root:
        raise ConfigError("params.yaml: dataset.folder.root is empty")
    if not folder.extensions or not all(re.fullmatch(r"\.\w+", e) for e in folder.extensions):
        raise ConfigError("params.yaml: dataset.folder.extensions must list extensions such as "
                          f"'.mp4', got {folder.extensions}")
    try:
        re.compile(folder.group_regex)
    except re.error as e:
        raise ConfigError(f"params.yaml: dataset.folder.group_regex {folder.group_regex!r} is not "
                          f"a valid regular expression: {e}") from None
    if not 0 < folder.test_fraction < 1:
        raise ConfigError("params.yaml: dataset.folder.test_fraction must be within (0, 1)")


def _validate_source(source: ArchiveSource, key: str) -> None:
    url = urlsplit(source.url)
    if url.scheme.lower() not in ("http", "https", "file"):
        raise ConfigError(f"params.yaml: {key}.url must be http://, https:// or file:///<absolute "
                          f"path>, got {source.url!r}")
    # file://x/y names host x: a relative path written with two slashes, almost always.
    if url.scheme.lower() == "file" and url.netloc not in ("", "localhost"):
        raise ConfigError(f"params.yaml: {key}.url must be file:///<absolute path> (three "
                          f"slashes), got {source.url!r}")
    if not re.fullmatch(r"sha256:[0-9a-f]{64}|md5:[0-9a-f]{32}", source.checksum):
        raise ConfigError(f"params.yaml: {key}.checksum must be 'sha256:<64 hex digits>' or "
                          f"'md5:<32 hex digits>' (lower case), got {source.checksum!r}; "
                          "an archive is never unpacked unverified")


# DVC's run-cache key drops every key named like these at any depth (treeverse/dvc issue
# 10296: it strips its own output metadata by name), so a param so named could change and
# `dvc repro` would restore the old outputs from the run-cache as if nothing had.
KEYS_DVC_CANNOT_SEE = ("size", "nfiles")


def _refuse_keys_dvc_cannot_see(data: Any, where: str = "") -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{where}.{key}" if where else str(key)
            if key in KEYS_DVC_CANNOT_SEE:
                raise ConfigError(
                    f"params.yaml: '{path}': no key may be named {' or '.join(KEYS_DVC_CANNOT_SEE)}: "
                    "DVC's run-cache ignores keys so named (treeverse/dvc issue 10296), so changing "
                    "it would silently restore old outputs; rename it (extract.short_side, say)")
            _refuse_keys_dvc_cannot_see(value, path)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            _refuse_keys_dvc_cannot_see(value, f"{where}[{i}]")


def parse_params(data: Any) -> Params:
    """Build and validate Params from an already-loaded mapping."""
    _refuse_keys_dvc_cannot_see(data)
    params = _build(Params, data, "")
    _validate(params)
    return params


def load_params(path: Path | str = PARAMS_FILE) -> Params:
    path = Path(path)
    try:
        try:
            data = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: not found; run from the project root") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from None
        return parse_params(data)
    except ConfigError as e:
        stage = os.environ.get("DVC_STAGE")  # set by DVC for every stage command it runs
        if stage:
            raise ConfigError(f"{e}\n{restore_hint(stage)}") from None
        raise


def restore_hint(stage: str) -> str:
    """How to get back what DVC deleted before running `stage` (it removes a stage's outputs first)."""
    return (f"DVC removed the outputs of stage {stage!r} before running it. Fix params.yaml and run "
            f"`dvc repro` to make them again, or get the previous ones back: `dvc checkout "
            f"{stage}` restores those in DVC's cache, `git checkout -- metrics/ reports/` the "
            "ones git keeps (cache: false)")


def deep_merge(base: dict, overrides: dict) -> dict:
    """Return base with overrides applied recursively (mappings merge, other values replace)."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


__all__ = ["ConfigError", "crop_hw", "Params", "load_params", "parse_params", "deep_merge",
           "DATASETS", "DatasetConfig", "SyntheticConfig", "ArchiveSource", "UCF101Config", "HMDB51Config",
           "FolderConfig", "ExtractConfig", "SplitConfig", "TrainConfig", "EvalConfig", "ServeConfig",
           "ModelConfig", "ReportedResult"]
