"""What turns a video's sampled frames into a model's input, without torch.

`Preprocessing` is saved inside every checkpoint (and every exported .onnx file), so
prediction repeats exactly the transforms evaluation used; nothing reads a second
copy of these constants. `eval_clips` is the evaluation transform in numpy: `har
predict` and `har serve` use it for .pt and .onnx models alike, and it gives
bit for bit the tensor of har.data's torch transform, which training and the evaluate
stage use (tests/test_onnx_runtime.py compares them on the fixture videos).

Frames of any aspect take any crop: where the crop does not fit inside a clip's frames (a
portrait or square video under a landscape crop), `fit_crop` first scales them, aspect
kept, to the smallest size that holds it, then the crop is cut as usual: torchvision's
Resize followed by CenterCrop (RandomCrop in training). Training, evaluation, prediction
and serving (.pt and .onnx alike) all scale with that one function, so a model is always
fed what it was trained on. Frames the crop fits are never resampled: the same array goes on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from har.input_spec import crop_hw


@dataclass(frozen=True)
class Preprocessing:
    source_frames: int  # frames sampled uniformly from the whole video (extract.frames)
    short_side: int  # their short side after resizing (extract.short_side)
    frames: int  # frames per training clip fed to the model, one per temporal segment
    # Random in training, centred in evaluation. A square's side (an int: every checkpoint
    # before non-square crops, and a square crop still), or (height, width); see crop_hw.
    crop: int | tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    layout: str  # "NCTHW" (3D convolutions) or "NTCHW" (per-frame encoders)
    hflip: bool  # random horizontal flip in training only
    # Random affine augmentation in training only (see random_affine); 0 = off. Defaults,
    # because checkpoints saved before these fields existed trained without them.
    zoom: float = 0.0
    rotation: float = 0.0  # degrees
    shift: float = 0.0
    # The frames went through JPEG at this quality (extract.jpeg_quality) before any model saw
    # them; prediction repeats that round trip (har.frames.jpeg_round_trip). Checkpoints saved
    # before this field existed were all trained on quality 90, the only value it ever had.
    jpeg_quality: int = 90
    # Frames per evaluation clip (validation, evaluate stage, prediction); None = frames.
    # Checkpoints saved before this field existed evaluated on `frames`.
    eval_frames: int | None = None

    def __post_init__(self):
        # One form per crop, whatever it came from (params' [h, w] list, a checkpoint's list):
        # (height, width), or an int for a square, so equal crops compare and save equal.
        height, width = crop_hw(self.crop)
        object.__setattr__(self, "crop", height if height == width else (height, width))

    @property
    def crop_hw(self) -> tuple[int, int]:
        """The crop's (height, width)."""
        return crop_hw(self.crop)

    def clip_frames(self, train: bool) -> int:
        """Frames per clip: `frames` in training, `eval_frames` (if set) in evaluation."""
        if train or self.eval_frames is None:
            return self.frames
        return self.eval_frames

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        if isinstance(self.crop, tuple):  # as JSON and YAML write it (the feature cache compares)
            d["crop"] = list(self.crop)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessing":
        return cls(**{**d, "mean": tuple(d["mean"]), "std": tuple(d["std"])})

    @classmethod
    def for_model(cls, params, model_name: str) -> "Preprocessing":
        """What `model_name` of params.yaml trains on: extract and train params, its arch's mean/std/layout."""
        from har.models import get_entry  # torch: only the pipeline calls this

        cfg = params.train_config(model_name)
        entry = get_entry(params.model(model_name).arch)
        return cls(source_frames=params.extract.frames, short_side=params.extract.short_side,
                   frames=cfg.frames, crop=cfg.crop, mean=entry.mean, std=entry.std,
                   layout=entry.layout, hflip=cfg.hflip, zoom=cfg.zoom, rotation=cfg.rotation,
                   shift=cfg.shift, jpeg_quality=params.extract.jpeg_quality,
                   eval_frames=cfg.eval_frames)


def eval_clip_indices(available: int, frames: int, clip: int, num_clips: int = 1) -> list[int]:
    """har.data.clip_indices for evaluation clip `clip` of `num_clips`, in numpy.

    The same float32 arithmetic as the torch version (float32(k) * seg + offset, then
    truncated), so both pick the same frames whatever the rounding.
    """
    seg = available / frames
    starts = np.arange(frames, dtype=np.float32) * np.float32(seg)
    offsets = np.float32((clip + 0.5) * seg / num_clips)
    return np.clip((starts + offsets).astype(np.int64), 0, available - 1).tolist()


def fitted_size(height: int, width: int, crop: int | tuple[int, int]) -> tuple[int, int]:
    """(height, width) that frames of height x width are scaled to before `crop` is cut.

    Their own size when the crop fits inside them. Otherwise the smallest size, aspect kept,
    that holds the crop: scaled by max(crop height / height, crop width / width), the side that
    needed the most scaling becoming exactly the crop's and the other rounded to the nearest
    pixel (halves up), in exact integer arithmetic. A 64x36 portrait frame (height x width)
    under a 32x44 crop becomes 78x44; a 36x36 square, 44x44.
    """
    ch, cw = crop_hw(crop)
    if ch <= height and cw <= width:
        return height, width
    if ch * width >= cw * height:  # ch / height >= cw / width: the height sets the scale
        return ch, max(cw, (2 * width * ch + height) // (2 * height))
    return max(ch, (2 * height * cw + width) // (2 * width)), cw


def fit_crop(frames: np.ndarray, crop: int | tuple[int, int]) -> np.ndarray:
    """(T, H, W, 3) uint8 frames that `crop` fits inside: `frames` itself, untouched, when it
    does already; else every frame scaled to fitted_size by Pillow's bilinear filter, which
    antialiases (torchvision's Resize on images: InterpolationMode.BILINEAR, antialias=True).

    The one resize of the project: har.data's torch transform (training, the evaluate stage,
    the feature cache) calls it as eval_clip does (prediction, serving, .onnx models). Pillow
    resamples 8-bit images in fixed-point integer arithmetic, with no SIMD path, so its bytes
    do not depend on the CPU's vector units.
    """
    _, h, w, _ = frames.shape
    size_h, size_w = fitted_size(h, w, crop)
    if (size_h, size_w) == (h, w):
        return frames
    return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(f), "RGB")
                                .resize((size_w, size_h), Image.Resampling.BILINEAR))
                     for f in frames])


def crop_origin(height: int, width: int, crop_hw: tuple[int, int], crop: int = 0,
                num_crops: int = 1) -> tuple[int, int]:
    """(top, left) of evaluation view `crop` of `num_crops` in frames of height x width.

    One view: the centre crop. Three: the start, the middle and the end of the frames' long
    side (the width when they are square), centred on the other side: PySlowFast's and
    MMAction2's "3-crop" testing; view 1 is the centre crop. Training and evaluation
    (har.data) and prediction (har.predict) all cut their views here.
    """
    ch, cw = crop_hw
    top, left = (height - ch) // 2, (width - cw) // 2
    if num_crops == 1:
        return top, left
    if num_crops != 3 or not 0 <= crop < 3:
        raise ValueError(f"view {crop} of {num_crops}: evaluation takes 1 or 3 crops")
    if height > width:
        return (0, top, height - ch)[crop], left
    return top, (0, left, width - cw)[crop]


def eval_clip(frames: np.ndarray, prep: Preprocessing, clip: int = 0, num_clips: int = 1
              ) -> np.ndarray:
    """Clip `clip` of `num_clips` from (source_frames, H, W, 3) uint8 frames, as float32 in
    the model's layout: prep.clip_frames(train=False) frames, scaled to hold the crop if they
    do not (fit_crop), centre crop, scaled to [0, 1], normalised. Equal to
    har.data.preprocess_frames of the same frames (channels first)."""
    t = len(frames)
    ch, cw = prep.crop_hw
    idx = eval_clip_indices(t, prep.clip_frames(train=False), clip, num_clips)
    x = fit_crop(frames[idx], (ch, cw))
    _, h, w, _ = x.shape
    top, left = (h - ch) // 2, (w - cw) // 2
    x = x[:, top:top + ch, left:left + cw].astype(np.float32) / np.float32(255)
    x = (x - np.asarray(prep.mean, np.float32)) / np.asarray(prep.std, np.float32)
    axes = (3, 0, 1, 2) if prep.layout == "NCTHW" else (0, 3, 1, 2)  # from T, H, W, C
    return np.ascontiguousarray(x.transpose(axes))


def eval_clips(frames: np.ndarray, prep: Preprocessing, num_clips: int) -> np.ndarray:
    """(num_clips, ...) float32: every evaluation clip of (source_frames, H, W, 3) uint8 frames."""
    return np.stack([eval_clip(frames, prep, c, num_clips) for c in range(num_clips)])
