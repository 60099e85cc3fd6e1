"""A trained checkpoint applied to videos, with exactly the transforms evaluation used.

The evaluate stage reads frames the extract stage stored: `har.video.read_frames`
(uniform over the whole video, upright, short side scaled), then JPEG at
extract.jpeg_quality, then the centre crop and normalisation of `eval.clips` clips,
whose softmax it averages. `Predictor` runs the same functions in the same order on
a video file, all of it read from the checkpoint, so its probabilities are those of
the evaluate stage (tests/test_predict.py checks this on a test-split video).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from har.checkpoint import load_model
from har.data import clip_indices, preprocess_frames
from har.engine import video_scores
from har.frames import jpeg_round_trip
from har.video import read_frames

FALLBACK_CLIPS = 3  # eval.clips of the default params.yaml, for use outside the project


def default_clips(params_file: Path | str = "params.yaml") -> int:
    """eval.clips of ./params.yaml (what the evaluate stage averaged), else FALLBACK_CLIPS.

    Only that one key is read: prediction must not fail on an unrelated params edit.
    """
    try:
        clips = yaml.safe_load(Path(params_file).read_text())["eval"]["clips"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return FALLBACK_CLIPS
    return clips if isinstance(clips, int) and clips > 0 else FALLBACK_CLIPS


@dataclass
class Prediction:
    probabilities: torch.Tensor  # (classes,), softmax averaged over the clips
    frames_used: int  # distinct video frames the clips were made of
    seconds: float  # decoding plus inference

    def topk(self, classes: list[str], k: int) -> list[dict]:
        return topk(self.probabilities, classes, k)


def topk(probabilities: torch.Tensor, classes: list[str], k: int) -> list[dict]:
    """[{class, probability}] of the k most probable classes, most probable first."""
    values, indices = probabilities.topk(min(k, len(classes)))
    return [{"class": classes[i], "probability": round(float(v), 6)}
            for v, i in zip(values.tolist(), indices.tolist())]


class Predictor:
    """One checkpoint, loaded once; thread-safe (eval mode, no state changes in forward)."""

    def __init__(self, checkpoint: Path | str, clips: int | None = None, device: str = "cpu"):
        self.path = Path(checkpoint)
        self.model, self.prep, ckpt = load_model(self.path, device)
        self.device = torch.device(device)
        self.classes: list[str] = list(ckpt["class_names"])
        # models/<name>/model.pt: the train stage names the model; older files only by folder.
        self.name: str = ckpt.get("model_name") or self.path.parent.name
        self.arch: str = ckpt["arch"]
        self.clips = clips or default_clips()

    def clip_batch(self, frames: np.ndarray) -> torch.Tensor:
        """The model's input: (clips, ...) from (prep.source_frames, H, W, 3) uint8 sampled frames."""
        stored = torch.from_numpy(jpeg_round_trip(frames, self.prep.jpeg_quality)).permute(0, 3, 1, 2)
        return torch.stack([preprocess_frames(stored, self.prep, c, self.clips)
                            for c in range(self.clips)])

    def probabilities(self, frames: np.ndarray) -> torch.Tensor:
        """Video-level probabilities from (prep.source_frames, H, W, 3) uint8 sampled frames."""
        clips = self.clip_batch(frames)
        with torch.inference_mode():
            logits = self.model(clips.to(self.device)).float().cpu()
        one_video = torch.zeros(self.clips, dtype=torch.long)
        probs, _ = video_scores(logits, one_video, one_video)  # the evaluate stage's average
        return probs[0]

    def frames_used(self, indices: list[int]) -> int:
        """How many distinct video frames the clips take, given the sampled frames' indices."""
        frames = self.prep.clip_frames(train=False)  # what preprocess_frames takes
        rows = {i for c in range(self.clips)
                for i in clip_indices(len(indices), frames, c, self.clips)}
        return len({indices[r] for r in rows})

    def predict_file(self, path: Path | str, timeout: float = 600.0, threads: int = 1) -> Prediction:
        """Raises har.video.VideoError (naming the file) when it is not a decodable video."""
        start = time.perf_counter()
        sampled = read_frames(path, self.prep.source_frames, self.prep.short_side,
                              timeout=timeout, threads=threads)
        probs = self.probabilities(sampled.array)
        return Prediction(probs, self.frames_used(sampled.indices), time.perf_counter() - start)
