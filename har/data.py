"""Clips from the extracted frame files, and the preprocessing that turns frames into a tensor.

`Preprocessing` (har/preprocessing.py, torch-free) is saved inside every checkpoint, so
prediction repeats exactly the transforms evaluation used; nothing reads a second copy
of these constants.
"""

from __future__ import annotations

from pathlib import Path

import math

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from har.frames import FrameCache, load_frames
# torch-free, for har predict/serve; Preprocessing is imported from here too
from har.preprocessing import Preprocessing, crop_origin, fit_crop, fitted_size


def clip_indices(available: int, frames: int, clip: int | None, num_clips: int = 1) -> list[int]:
    """One frame from each of `frames` equal segments of [0, available).

    clip=None draws a random frame per segment (training's temporal jitter);
    otherwise clip c of num_clips takes the same fixed offset in every segment,
    so evaluation clips are deterministic and spread over each segment.
    """
    seg = available / frames
    if clip is None:
        offsets = torch.rand(frames) * seg
    else:
        offsets = torch.full((frames,), (clip + 0.5) * seg / num_clips)
    starts = torch.arange(frames) * seg
    return (starts + offsets).long().clamp_(0, available - 1).tolist()


def spatial_transform(frames: torch.Tensor, prep: Preprocessing, train: bool, crop: int = 0,
                      num_crops: int = 1) -> torch.Tensor:
    """(T, 3, H, W) uint8 -> normalised float clip in the model's layout, no batch axis.

    The same crop, flip and affine augmentation apply to every frame of a clip: a
    crop that moved between frames would itself look like motion. Evaluation
    (train=False) takes view `crop` of `num_crops` (crop_origin: one is the centre
    crop), nothing random. Frames the crop does not fit inside (a portrait video under a
    landscape crop) are first scaled, aspect kept, until it does, by
    har.preprocessing.fit_crop, the function prediction uses; frames it fits go on
    untouched.
    """
    _, _, h, w = frames.shape
    ch, cw = prep.crop_hw
    if fitted_size(h, w, (ch, cw)) != (h, w):
        scaled = fit_crop(frames.permute(0, 2, 3, 1).cpu().numpy(), (ch, cw))
        frames = torch.from_numpy(scaled).permute(0, 3, 1, 2).to(frames.device)
        h, w = frames.shape[-2:]
    if train:
        top = int(torch.randint(0, h - ch + 1, (1,)))
        left = int(torch.randint(0, w - cw + 1, (1,)))
    else:
        top, left = crop_origin(h, w, (ch, cw), crop, num_crops)
    x = frames[:, :, top:top + ch, left:left + cw]
    if train and prep.hflip and bool(torch.rand(1) < 0.5):
        x = x.flip(-1)
    x = x.float().div_(255)
    if train and (prep.zoom or prep.rotation or prep.shift):
        x = random_affine(x, prep.zoom, prep.rotation, prep.shift)
    mean = torch.tensor(prep.mean).view(1, 3, 1, 1)
    std = torch.tensor(prep.std).view(1, 3, 1, 1)
    x = (x - mean) / std
    if prep.layout == "NCTHW":
        x = x.permute(1, 0, 2, 3)
    return x.contiguous()


def random_affine(x: torch.Tensor, zoom: float, rotation: float, shift: float) -> torch.Tensor:
    """One random zoom, rotation and shift, applied alike to all frames of (T, C, H, W) `x`.

    Keras' ImageDataGenerator semantics, which the TimeDistributed report used
    (zoom_range, rotation_range, width/height_shift_range): each axis is scaled by a
    factor drawn from [1 - zoom, 1 + zoom] (below 1 enlarges), the angle is drawn from
    [-rotation, rotation] degrees, the shift from [-shift, shift] of the side on each
    axis, and pixels from outside the frame repeat its border (fill_mode="nearest").
    """
    draw = torch.rand(5) * 2 - 1  # uniform in [-1, 1): zoom x, zoom y, angle, shift x, shift y
    theta = affine_theta(draw, zoom, rotation, shift, height=x.shape[-2], width=x.shape[-1])
    grid = F.affine_grid(theta.expand(len(x), 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def affine_theta(draw: torch.Tensor, zoom: float, rotation: float, shift: float, height: int,
                 width: int) -> torch.Tensor:
    """The (2, 3) output-to-input map of affine_grid for one draw in [-1, 1] (see random_affine).

    affine_grid works in coordinates scaled to [-1, 1] along each axis, so on a
    non-square frame a rotation there would also shear: it is conjugated by the aspect
    ratio, so the angle is one in pixels (a disc stays a disc). A shift of `s` of each
    side is 2s there.
    """
    zx, zy = 1 + zoom * draw[0], 1 + zoom * draw[1]
    angle = math.radians(rotation) * draw[2]
    cos, sin = torch.cos(angle), torch.sin(angle)
    aspect = height / width  # 1.0 on a square: exactly the plain rotation
    return torch.stack([torch.stack([cos * zx, -sin * zy * aspect, 2 * shift * draw[3]]),
                        torch.stack([sin * zx / aspect, cos * zy, 2 * shift * draw[4]])])


def preprocess_frames(frames: torch.Tensor, prep: Preprocessing, clip: int = 0,
                      num_clips: int = 1, crop: int = 0, num_crops: int = 1) -> torch.Tensor:
    """Evaluation transform of clip `clip`, view `crop`, from (source_frames, 3, H, W) uint8 frames.

    The clip has prep.clip_frames(train=False) frames: eval_frames if set, else frames.
    """
    idx = clip_indices(len(frames), prep.clip_frames(train=False), clip, num_clips)
    return spatial_transform(frames[idx], prep, train=False, crop=crop, num_crops=num_crops)


class ClipDataset(Dataset):
    """Items are (clip, label, video index). In evaluation, each video yields num_clips clips
    of num_crops spatial views each (clip-major: video v's items are v * clips * crops + c *
    crops + k); with one crop, exactly the clips it yielded before views existed.

    Clips have prep.frames frames in training, prep.clip_frames(train=False) in evaluation.
    With a frame_cache, decoded frames are kept across epochs (har.frames.FrameCache); the
    clips are the same either way.
    """

    def __init__(self, rows: list[dict], frames_root: Path, prep: Preprocessing,
                 train: bool, num_clips: int = 1, frame_cache: FrameCache | None = None,
                 num_crops: int = 1):
        self.rows = rows
        self.frames_root = Path(frames_root)
        self.prep = prep
        self.train = train
        self.num_clips = 1 if train else num_clips
        self.num_crops = 1 if train else num_crops
        self.frame_cache = frame_cache

    def __len__(self) -> int:
        return len(self.rows) * self.num_clips * self.num_crops

    def __getitem__(self, i: int):
        video, view = divmod(i, self.num_clips * self.num_crops)
        clip, crop = divmod(view, self.num_crops)
        row = self.rows[video]
        path = self.frames_root / row["frames"]
        available = int(row["frames_stored"])
        # torch's global RNG: seeded by train.seed, and per worker by the DataLoader.
        idx = clip_indices(available, self.prep.clip_frames(self.train),
                           None if self.train else clip, self.num_clips)
        if self.frame_cache is not None:
            frames = self.frame_cache.load(path, idx)
        else:
            frames = load_frames(path, idx)
        return (spatial_transform(frames, self.prep, self.train, crop, self.num_crops),
                int(row["label"]), video)
