"""One file per video: the sampled frames as JPEGs inside a single .npz.

One file per video, not per frame: DVC hashes, caches and pushes every file on
its own, and is 10-40x slower with a file per frame. JPEG keeps the bytes at
those of a frame-per-JPEG layout, while the zip container keeps it one file.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import simplejpeg
from PIL import Image

from har.errors import InputError
from har.fileio import atomic_path

if TYPE_CHECKING:
    import torch

SUFFIX = ".npz"
JPEG_MAX_SIDE = 65500  # libjpeg's limit on a side; har.video refuses videos whose frames exceed it


def save_frames(path: Path | str, frames: np.ndarray, quality: int = 90) -> int:
    """Write (T, H, W, 3) uint8 frames atomically; returns the file size in bytes."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise InputError(f"{path}: frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    if max(frames.shape[1:3]) > JPEG_MAX_SIDE:  # har.video's pixel budget refuses such videos first
        raise InputError(f"{path}: frames of {frames.shape[2]}x{frames.shape[1]} exceed JPEG's "
                         f"{JPEG_MAX_SIDE} pixels a side")
    encoded = [_encode(f, quality) for f in frames]
    offsets = np.cumsum([0] + [len(e) for e in encoded]).astype(np.int64)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # a file object, so numpy does not append ".npz"
            np.savez(f, jpeg=np.concatenate(encoded), offsets=offsets,
                     shape=np.asarray(frames.shape, dtype=np.int64))
    return Path(path).stat().st_size


def load_frames(path: Path | str, indices: list[int] | None = None) -> torch.Tensor:
    """(T, 3, H, W) uint8 tensor of the frames at `indices` (all when None)."""
    try:
        with np.load(path) as z:
            jpeg, offsets = z["jpeg"], z["offsets"]
    except (OSError, KeyError, ValueError) as e:
        raise InputError(f"{path}: not a frames file ({e})") from None
    count = len(offsets) - 1
    if indices is None:
        indices = list(range(count))
    if any(not 0 <= i < count for i in indices):
        raise IndexError(f"{path}: has {count} frames, asked for {indices}")
    import torch  # here: the extract stage writes frames without ever importing torch

    try:
        decoded = [_decode(jpeg[offsets[i]:offsets[i + 1]]) for i in indices]
    except ValueError as e:
        raise InputError(f"{path}: a stored frame is not a valid JPEG ({e})") from None
    return torch.from_numpy(np.stack(decoded)).permute(0, 3, 1, 2)


class FrameCache:
    """Decoded frames kept in memory across epochs, up to a budget in bytes.

    Why: training reads every video again each epoch, and decoding its JPEGs is most of
    the cost of loading a clip. The first read of a video decodes all its stored frames
    and keeps them; later reads index them. The pixels are exactly `load_frames`' (the same
    decoder), so results do not change, only time. Once a video does not fit, nothing more
    is added and every other video is decoded per read as without a cache: no eviction,
    because evicting in a loop over more videos than fit would decode everything every
    epoch and keep the memory too. Memory is bounded by the budget (per process that loads:
    each DataLoader worker fills its own).
    """

    def __init__(self, budget_mb: float):
        self.budget = int(budget_mb * 2**20)
        self.used = 0
        self.full = self.budget <= 0
        self._frames: dict[str, torch.Tensor] = {}

    def load(self, path: Path | str, indices: list[int]) -> torch.Tensor:
        """(T, 3, H, W) uint8 frames at `indices`, as load_frames(path, indices)."""
        every = self._frames.get(str(path))
        if every is None:
            if self.full:
                return load_frames(path, indices)
            every = load_frames(path)
            if self.used + every.nbytes > self.budget:
                self.full = True
            else:
                self._frames[str(path)] = every
                self.used += every.nbytes
        if any(not 0 <= i < len(every) for i in indices):
            raise IndexError(f"{path}: has {len(every)} frames, asked for {indices}")
        return every[indices]  # a list index copies: the cached frames are never modified

    @property
    def videos(self) -> int:
        """How many videos are cached."""
        return len(self._frames)


def jpeg_round_trip(frames: np.ndarray, quality: int) -> np.ndarray:
    """(T, H, W, 3) uint8 frames as `load_frames` returns them after `save_frames(..., quality)`.

    Prediction decodes a video itself, but the model was trained and evaluated on
    stored frames: the same encoder and decoder give it the same pixels.
    """
    return np.stack([_decode(_encode(f, quality)) for f in frames])


def _encode(frame: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=quality)
    return np.frombuffer(buf.getvalue(), np.uint8)


def _decode(data: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 from JPEG bytes.

    simplejpeg (libjpeg-turbo) rather than PIL: 4x faster on our small frames, and
    decoding is most of the cost of loading a clip (measured by the loading benchmark, since dropped: benchmarks/README.md). With the exact
    IDCT and fancy upsampling (fastdct/fastupsample off), PIL's defaults on the same
    library, it gives PIL's pixels: checked on every frame of the default dataset and, on
    the fixture videos, by tests/test_frames.py, so older checkpoints see the same input.
    """
    return simplejpeg.decode_jpeg(data, colorspace="RGB", fastdct=False, fastupsample=False)


def frame_count(path: Path | str) -> int:
    with np.load(path) as z:
        return len(z["offsets"]) - 1
