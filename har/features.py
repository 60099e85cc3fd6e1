"""The frozen-encoder feature cache: run a frozen per-frame encoder once, train the head on its outputs.

When a model's encoder is fully frozen (see har.models.features), recomputing it
every epoch is nearly all of training time. The features@<model>-<seed> stage stores its
output for every stored frame of every train and validation video, one float32
array per split (`<split>.npy`, rows in the split CSV's order, `frames_stored` rows
per video). Training then samples clips from those rows exactly as ClipDataset
samples frames.

What this gives up: the cached frames are the centre crop (evaluation's crop), so
training on cached features has temporal jitter but no random crop or flip.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from har.data import Preprocessing, clip_indices, spatial_transform
from har.errors import InputError
from har.fileio import atomic_path, write_json
from har.frames import load_frames

INFO = "info.json"
SPLITS = ("train", "val")


class FeatureCacheError(InputError):
    """The cached features do not belong to this model and preprocessing."""


def fingerprint(module: nn.Module) -> str:
    """sha256 of a module's parameters and buffers: two encoders with equal weights match."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _cached_prep(prep: Preprocessing) -> dict:
    """The preprocessing fields that change what the encoder sees (not frames, eval_frames or flip).

    `crop` is a side or [height, width], as JSON stores it (Preprocessing.to_dict).
    """
    d = prep.to_dict()
    return {k: d[k] for k in ("source_frames", "short_side", "crop", "mean", "std")}


@torch.no_grad()
def encode_videos(encoder: nn.Module, rows: list[dict], frames_root: Path, prep: Preprocessing,
                  out: Path, device: torch.device, batch_frames: int = 256) -> None:
    """Write encoder(centre crop of every stored frame) of every video in `rows` to `out` (.npy)."""
    encoder.eval()
    total = sum(int(r["frames_stored"]) for r in rows)
    ntchw = Preprocessing(**{**prep.to_dict(), "layout": "NTCHW"})
    with atomic_path(out) as tmp:
        array = None
        row = 0
        for r in rows:
            frames = load_frames(frames_root / r["frames"])
            x = spatial_transform(frames, ntchw, train=False)
            for chunk in x.split(batch_frames):
                y = encoder(chunk.to(device)).float().cpu().numpy()
                if array is None:  # the width is known only after the first batch
                    array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32,
                                                      shape=(total, y.shape[1]))
                array[row:row + len(y)] = y
                row += len(y)
        if array is None:
            raise FeatureCacheError(f"{out}: no frames to encode")
        array.flush()
        del array


def write_cache(dest: Path, encoder: nn.Module, splits: dict[str, list[dict]], frames_root: Path,
                prep: Preprocessing, device: torch.device) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name, rows in splits.items():
        encode_videos(encoder, rows, frames_root, prep, dest / f"{name}.npy", device)
    write_json(dest / INFO, {"cached": True, "encoder": fingerprint(encoder),
                             "preprocessing": _cached_prep(prep),
                             "videos": {name: [r["id"] for r in rows] for name, rows in splits.items()}})


def write_not_cached(dest: Path, reason: str) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    write_json(dest / INFO, {"cached": False, "reason": reason})


def load_cache(dest: Path, split: str, rows: list[dict], encoder: nn.Module,
               prep: Preprocessing) -> np.ndarray:
    """The cached array of `split`, after checking it was made by this encoder, preprocessing and rows."""
    info_path = dest / INFO
    try:
        info = json.loads(info_path.read_text())
    except FileNotFoundError:
        raise FeatureCacheError(f"{info_path}: not found; run `dvc repro` (stage features@<model>-<seed>)") from None
    stale = "; run `dvc repro` to recompute the features"
    if not info.get("cached"):
        raise FeatureCacheError(f"{info_path}: the features stage cached nothing "
                                f"({info.get('reason')}){stale}")
    if info["encoder"] != fingerprint(encoder):
        raise FeatureCacheError(f"{dest}: cached by a different encoder (other weights or seed){stale}")
    if info["preprocessing"] != _cached_prep(prep):
        raise FeatureCacheError(f"{dest}: cached with preprocessing {info['preprocessing']}, "
                                f"training uses {_cached_prep(prep)}{stale}")
    if info["videos"].get(split) != [r["id"] for r in rows]:
        raise FeatureCacheError(f"{dest}: the cached {split} videos differ from the split's{stale}")
    return np.load(dest / f"{split}.npy", mmap_mode="r")


class FeatureClipDataset(Dataset):
    """ClipDataset's items, with encoder outputs (T, D) in place of frames."""

    def __init__(self, rows: list[dict], features: np.ndarray, prep: Preprocessing, train: bool,
                 num_clips: int = 1):
        self.rows = rows
        self.features = features
        self.prep = prep
        self.train = train
        self.num_clips = 1 if train else num_clips
        counts = [int(r["frames_stored"]) for r in rows]
        self.offsets = np.concatenate([[0], np.cumsum(counts)])
        if self.offsets[-1] != len(features):
            raise FeatureCacheError(f"cache has {len(features)} rows, the split's videos "
                                    f"store {self.offsets[-1]} frames")

    def __len__(self) -> int:
        return len(self.rows) * self.num_clips

    def __getitem__(self, i: int):
        video, clip = divmod(i, self.num_clips)
        start, stop = self.offsets[video], self.offsets[video + 1]
        # The same draw as ClipDataset (prep.eval_frames in evaluation), from the same seeded RNG.
        idx = clip_indices(int(stop - start), self.prep.clip_frames(self.train),
                           None if self.train else clip, self.num_clips)
        x = torch.from_numpy(np.ascontiguousarray(self.features[start + np.asarray(idx)]))
        return x, int(self.rows[video]["label"]), video
