"""A trained model applied to videos, with exactly the transforms evaluation used.

The evaluate stage reads frames the extract stage stored: `har.video.read_frames`
(uniform over the whole video, upright, short side scaled), then JPEG at
extract.jpeg_quality, then the crops (`eval.crops`: the centre, or both ends and the middle
of the long side) and normalisation of `eval.clips` clips (frames of any aspect: scaled
first where the crop does not fit inside them), whose softmax it averages over clips x crops. `Predictor` runs the same functions in the same order on
a video file, all of it read from the model file, so its probabilities are those of
the evaluate stage (tests/test_predict.py checks this on a test-split video).

A model is a .pt checkpoint, run on torch, or a .onnx file from `har export`, run on
ONNX Runtime. Everything but the forward pass is shared and torch-free (decoding,
JPEG round trip, har.preprocessing's numpy transform, the softmax average), so torch
is imported only when a .pt file is loaded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from har.errors import InputError
from har.frames import jpeg_round_trip
from har.preprocessing import (Preprocessing, crop_origin, eval_clip_indices, eval_clips,
                               fit_crop)
from har.video import read_frames

FALLBACK_CLIPS = 3  # eval.clips of the default params.yaml, for use outside the project
FALLBACK_CROPS = 1  # eval.crops of the default params.yaml: the centre crop
CROPS = (1, 3)  # the views har.preprocessing.crop_origin cuts (har.config.EVAL_CROPS)


def default_clips(params_file: Path | str = "params.yaml") -> int:
    """eval.clips of ./params.yaml (what the evaluate stage averaged), else FALLBACK_CLIPS.

    Only that one key is read: prediction must not fail on an unrelated params edit.
    """
    try:
        clips = yaml.safe_load(Path(params_file).read_text())["eval"]["clips"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return FALLBACK_CLIPS
    return clips if isinstance(clips, int) and clips > 0 else FALLBACK_CLIPS


def default_crops(params_file: Path | str = "params.yaml") -> int:
    """eval.crops of ./params.yaml (the evaluate stage's spatial views), else FALLBACK_CROPS."""
    try:
        crops = yaml.safe_load(Path(params_file).read_text())["eval"]["crops"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return FALLBACK_CROPS
    return crops if crops in CROPS else FALLBACK_CROPS


def eval_view(frames: np.ndarray, prep: Preprocessing, clip: int, num_clips: int, crop: int,
              num_crops: int) -> np.ndarray:
    """har.preprocessing.eval_clip, cutting view `crop` of `num_crops` instead of the centre:
    equal to har.data.preprocess_frames with the same clip and view (tests/test_crops.py)."""
    ch, cw = prep.crop_hw
    idx = eval_clip_indices(len(frames), prep.clip_frames(train=False), clip, num_clips)
    x = fit_crop(frames[idx], (ch, cw))
    _, h, w, _ = x.shape
    top, left = crop_origin(h, w, (ch, cw), crop, num_crops)
    x = x[:, top:top + ch, left:left + cw].astype(np.float32) / np.float32(255)
    x = (x - np.asarray(prep.mean, np.float32)) / np.asarray(prep.std, np.float32)
    axes = (3, 0, 1, 2) if prep.layout == "NCTHW" else (0, 3, 1, 2)  # from T, H, W, C
    return np.ascontiguousarray(x.transpose(axes))


def eval_views(frames: np.ndarray, prep: Preprocessing, num_clips: int, num_crops: int = 1
               ) -> np.ndarray:
    """(num_clips * num_crops, ...) float32, clip-major as the evaluate stage's ClipDataset.

    One crop: har.preprocessing.eval_clips itself, so prediction is what it was before views.
    """
    if num_crops == 1:
        return eval_clips(frames, prep, num_clips)
    return np.stack([eval_view(frames, prep, c, num_clips, k, num_crops)
                     for c in range(num_clips) for k in range(num_crops)])


class TorchModel:
    """A .pt checkpoint of the train stage, rebuilt on torch (imported here, and only here)."""

    def __init__(self, path: Path, device: str = "cpu"):
        import torch

        from har import cpu_kernels
        from har.checkpoint import load_model as load_checkpoint

        cpu_kernels.check_isa()  # the kernels the evaluate stage ran, so the same probabilities
        self.module, self.prep, ckpt = load_checkpoint(path, device)
        self.device = torch.device(device)
        self.classes: list[str] = list(ckpt["class_names"])
        # The train stage names the model; older files only by their folder, models/<name>/.
        self.name: str = ckpt.get("model_name") or path.parent.name
        self.arch: str = ckpt["arch"]

    def logits(self, clips: np.ndarray) -> np.ndarray:
        """(N, classes) float32 logits of a batch of N clips in the model's layout."""
        import torch

        with torch.inference_mode():
            return self.module(torch.from_numpy(clips).to(self.device)).float().cpu().numpy()


def load_model(path: Path | str, device: str = "cpu", threads: int | None = 1):
    """TorchModel for a .pt checkpoint, har.onnx_model.OnnxModel for a .onnx file.

    Both have prep, classes, name, arch and logits(clips). `threads` sizes ONNX
    Runtime's session; torch's threads are process-wide, set by the caller.
    """
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        if device != "cpu":
            raise InputError(f"{path}: an .onnx model runs on the CPU (ONNX Runtime); "
                             f"--device {device} needs the .pt checkpoint")
        from har.onnx_model import OnnxModel

        return OnnxModel(path, threads)
    return TorchModel(path, device)


def mean_softmax(logits: np.ndarray) -> np.ndarray:
    """(classes,) float32: the softmax of each clip's logits, averaged (the evaluate stage's
    video score, har.engine.video_scores)."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (shifted / shifted.sum(axis=1, keepdims=True)).mean(axis=0)


@dataclass
class Prediction:
    probabilities: np.ndarray  # (classes,) float32, softmax averaged over the clips x crops
    frames_used: int  # distinct video frames the clips were made of
    seconds: float  # decoding plus inference

    def topk(self, classes: list[str], k: int) -> list[dict]:
        return topk(self.probabilities, classes, k)


def topk(probabilities: np.ndarray, classes: list[str], k: int) -> list[dict]:
    """[{class, probability}] of the k most probable classes, most probable first."""
    order = np.argsort(-probabilities, kind="stable")[:min(k, len(classes))]
    return [{"class": classes[i], "probability": round(float(probabilities[i]), 6)} for i in order]


class Predictor:
    """One model file, loaded once; thread-safe (no state changes after loading)."""

    def __init__(self, model: Path | str, clips: int | None = None, device: str = "cpu",
                 threads: int | None = 1, crops: int | None = None):
        self.path = Path(model)
        self.model = load_model(self.path, device, threads)
        self.prep: Preprocessing = self.model.prep
        self.classes: list[str] = self.model.classes
        self.name: str = self.model.name
        self.arch: str = self.model.arch
        self.clips = clips or default_clips()
        self.crops = crops or default_crops()  # spatial views per clip (eval.crops)
        if self.crops not in CROPS:
            raise InputError(f"{self.crops} crops per clip: evaluation takes 1 (the centre) or 3")

    def clip_batch(self, frames: np.ndarray) -> np.ndarray:
        """The model's input: (clips x crops, ...) float32 from (prep.source_frames, H, W, 3)
        uint8 frames."""
        return eval_views(jpeg_round_trip(frames, self.prep.jpeg_quality), self.prep, self.clips,
                          self.crops)

    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        """Video-level probabilities from (prep.source_frames, H, W, 3) uint8 sampled frames.

        Frames of any aspect: those the model's crop does not fit inside (a portrait video
        under a landscape crop) are scaled until it does, as in training
        (har.preprocessing.fit_crop).
        """
        return mean_softmax(self.model.logits(self.clip_batch(frames)))

    def frames_used(self, indices: list[int]) -> int:
        """How many distinct video frames the clips take, given the sampled frames' indices."""
        frames = self.prep.clip_frames(train=False)  # what eval_clip takes
        rows = {i for c in range(self.clips)
                for i in eval_clip_indices(len(indices), frames, c, self.clips)}
        return len({indices[r] for r in rows})

    def predict_file(self, path: Path | str, timeout: float = 600.0, threads: int = 1) -> Prediction:
        """Raises har.video.VideoError (naming the file) when it is not a decodable video."""
        start = time.perf_counter()
        sampled = read_frames(path, self.prep.source_frames, self.prep.short_side,
                              timeout=timeout, threads=threads)
        probs = self.probabilities(sampled.array)
        return Prediction(probs, self.frames_used(sampled.indices), time.perf_counter() - start)
