"""Typed view of params.yaml.

Every section is a frozen pydantic model with no defaults: params.yaml is the single place
where a value lives, so a missing key is an error, and so is an unknown one (a typo such as
`train.lr_` must not silently train with the old value). Types are strict (an int is not read
from "3", a bool is not an int; an int where a float is expected is read as that float), and
NaN and infinities are refused everywhere. The models also give params.schema.json
(`python -m har.config --schema`), which an editor uses to check and complete params.yaml.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import typing
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, WrapValidator, field_validator
from pydantic_core import PydanticCustomError

from har.errors import InputError
from har.input_spec import crop_hw

PARAMS_FILE = Path("params.yaml")
DATASETS = ("synthetic", "ucf101", "hmdb51", "folder")


class ConfigError(InputError):
    """params.yaml does not describe a valid run."""


class _Section(BaseModel):
    """A section of params.yaml: every key required, no other key, strict types, no NaN."""
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Positional arguments in field order, as the dataclasses these models replace took them.
        if args:
            names = list(type(self).model_fields)
            if len(args) > len(names):
                raise TypeError(f"{type(self).__name__} takes {len(names)} fields, got {len(args)}")
            kwargs.update(zip(names, args))
        super().__init__(**kwargs)


def _one_error(message: str):
    """A type whose every validation error is `message` (a union's errors name each alternative)."""
    def validate(value: Any, handler):
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError("params_type", message) from None
    return WrapValidator(validate)


Crop = Annotated[int | list[int], _one_error("must be int or a list of int")]
ClipLength = Annotated[int | None, _one_error("must be int or null")]


class SyntheticConfig(_Section):
    classes: list[str]  # names from har.datasets.synthetic.MOTIONS
    groups: int  # UCF101 has 25; the official split rule needs at least 21
    clips_per_group: int
    min_frames: int
    max_frames: int
    width: int
    height: int
    fps: int


class ArchiveSource(_Section):
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


class UCF101Config(_Section):
    videos: ArchiveSource  # UCF101.rar, or the zip mirror UCF101_videos.zip
    splits: ArchiveSource  # UCF101TrainTestSplits-RecognitionTask.zip


class HMDB51Config(_Section):
    videos: ArchiveSource  # hmdb51_org.rar: a RAR of 51 per-class RARs
    splits: ArchiveSource  # test_train_splits.rar


class FolderConfig(_Section):
    root: str  # <root>/<class>/<video>; relative to the project root, or absolute
    extensions: list[str]  # which files are videos, e.g. ".mp4" (any case matches)
    group_regex: str  # the recording id in a file name; a file it does not match is its own group
    test_fraction: float  # of each class's videos, taken as whole groups
    seed: int  # which groups go to test


class DatasetConfig(_Section):
    name: str  # one of DATASETS
    seed: int  # synthetic only: the generated videos are a pure function of it
    split: int  # 1, 2 or 3: the official split to train and test on (folder: 1)
    synthetic: SyntheticConfig
    ucf101: UCF101Config
    hmdb51: HMDB51Config
    folder: FolderConfig


class ExtractConfig(_Section):
    frames: int  # frames kept per video, sampled uniformly over the whole video
    short_side: int  # pixels after resizing, aspect preserved
    jpeg_quality: int
    max_failed_fraction: float
    workers: int  # 0 = one per CPU core


class SplitConfig(_Section):
    val_fraction: float  # fraction of the training *groups* moved to validation
    seed: int


class TrainConfig(_Section):
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
    eval_frames: ClipLength
    crop: Crop  # a square's side, or [height, width]; see crop_hw
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
EVAL_CROPS = (1, 3)  # eval.crops: the spatial views har.preprocessing.crop_origin cuts


class EvalConfig(_Section):
    clips: int  # clips per test video whose softmax is averaged for video accuracy
    batch_size: int
    # Spatial views per clip: 1 = the centre crop; 3 = both ends and the middle of the long
    # side (the field's "3-crop" testing). The softmax is averaged over clips x crops.
    crops: int


class ServeConfig(_Section):
    """`har serve`: limits on what one upload may cost the server."""
    max_upload_mb: float  # larger uploads are refused with 413 before any decoding
    decode_timeout_s: float  # an upload that takes longer to decode is refused (422)
    threads: int  # requests handled at once by waitress; more wait in its queue


class ModelConfig(_Section):
    arch: str  # registry name, see `har models`
    model: dict[str, Any]  # keyword arguments of the architecture
    train: dict[str, Any]  # overrides of the train section for this model only

    @field_validator("model", "train", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return {} if value is None else value  # `model:` with nothing after it


class ReportedResult(_Section):
    """An accuracy from the literature, shown as a "reported" row of the results table."""
    model: str  # the models entry that reproduces it
    accuracy: float  # percent, as published
    protocol: str  # dataset, split and evaluation, as the source describes them
    source: str  # who reported it


class Params(_Section):
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
        return _validated(TrainConfig, {**self.train.model_dump(), **overrides},
                          f"models.{model_name}.train")


_TYPE_ERRORS = {"int_type": "must be int", "float_type": "must be float", "string_type": "must be str",
                "bool_type": "must be bool", "list_type": "must be a list",
                "dict_type": "must be a mapping", "model_type": "must be a mapping",
                "finite_number": "must be a finite number"}


def _path(where: str, loc: tuple) -> str:
    path = where
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _fields_at(cls: type, loc: tuple) -> list[str]:
    """The keys of the section at `loc` under model `cls` (empty if it is no section)."""
    t: Any = cls
    for part in loc:
        if isinstance(t, type) and issubclass(t, BaseModel):
            t = t.model_fields[part].annotation if part in t.model_fields else None
        elif typing.get_origin(t) in (dict, list):
            t = typing.get_args(t)[-1]
        else:
            return []
    return list(t.model_fields) if isinstance(t, type) and issubclass(t, BaseModel) else []


def _validated(cls: type[_Section], data: Any, where: str = ""):
    """cls built from data; a ConfigError naming each key's full path if it does not fit."""
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        errors = e.errors(include_url=False)
    unknown = [err for err in errors if err["type"] == "extra_forbidden"]
    if unknown:
        parent = unknown[0]["loc"][:-1]
        section = _path(where, parent)
        raise ConfigError(f"params.yaml: unknown key(s) "
                          f"{', '.join(_path(where, err['loc']) for err in unknown)}; known keys"
                          f"{' of ' + section if section else ''}: "
                          f"{', '.join(_fields_at(cls, parent))}") from None
    missing = [err for err in errors if err["type"] == "missing"]
    if missing:
        raise ConfigError("params.yaml: missing key(s) "
                          f"{', '.join(_path(where, err['loc']) for err in missing)}") from None
    err = errors[0]
    text = err["msg"] if err["type"] == "params_type" else _TYPE_ERRORS.get(err["type"])
    text = text or f"is not valid: {err['msg']}"
    raise ConfigError(f"params.yaml: '{_path(where, err['loc']) or 'top level'}' {text}, "
                      f"got {err['input']!r}") from None


def _refuse_non_finite(value: Any, where: str) -> None:
    """NaN and infinities (YAML's .nan, .inf) compare false with every bound: refused anywhere,
    the models' options (any type) included."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"params.yaml: '{where}' must be a finite number, got {value}")
    if isinstance(value, dict):
        for k, v in value.items():
            _refuse_non_finite(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _refuse_non_finite(v, f"{where}[{i}]")


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
    # long side depends on each video's aspect ratio and orientation: frames a [height, width]
    # crop does not fit inside are scaled until it does (har.preprocessing.fit_crop).
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
    _refuse_non_finite(data, "")
    params = _validated(Params, data)
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


def json_schema() -> str:
    """params.schema.json: the JSON schema of params.yaml, from the models."""
    schema = {**Params.model_json_schema(), "title": "params.yaml"}
    return json.dumps(schema, indent=2) + "\n"


__all__ = ["ConfigError", "crop_hw", "Params", "load_params", "parse_params", "deep_merge",
           "DATASETS", "DatasetConfig", "SyntheticConfig", "ArchiveSource", "UCF101Config", "HMDB51Config",
           "FolderConfig", "ExtractConfig", "SplitConfig", "TrainConfig", "EvalConfig", "ServeConfig",
           "ModelConfig", "ReportedResult"]

if __name__ == "__main__":
    if sys.argv[1:] != ["--schema"]:
        sys.exit("usage: python -m har.config --schema > params.schema.json")
    sys.stdout.write(json_schema())
