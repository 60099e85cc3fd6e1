"""The built-in dataset: clips of a moving object whose class only time can tell.

Classes come in opposite-direction pairs (MoveLeft/MoveRight, ...). Every random
choice is symmetric within a pair: the trajectory is centred on a random point,
the start angle is uniform, the zoom range is shared. So the *set* of frames of a
MoveLeft clip has exactly the distribution of a MoveRight clip, and a model that
ignores frame order can at best tell the pair, not the direction (50%).

Layout and split files are those of UCF101: `<Class>/v_<Class>_gGG_cCC.avi`,
MPEG-4 Part 2 in AVI, `classInd.txt`, `trainlist0k.txt`, `testlist0k.txt` with
CRLF endings, and split k testing on groups 7(k-1)+1 .. 7k. A group shares its
scene (background, light or dark object, typical size) across all classes and
clips, the way a UCF101 group shares a scene, so splitting by group is what keeps
test honest.
"""

from __future__ import annotations

import math
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import ffmpeg
import numpy as np
from tqdm import tqdm

from har.config import SyntheticConfig
from har.errors import InputError
from har.fileio import atomic_path, write_text
from har.video import VideoError, ffmpeg_exe

# class name -> (kind, sign). Opposite signs of one kind form a pair.
MOTIONS: dict[str, tuple[str, int]] = {
    "MoveLeft": ("move_x", -1),
    "MoveRight": ("move_x", +1),
    "MoveUp": ("move_y", -1),
    "MoveDown": ("move_y", +1),
    "RotateClockwise": ("rotate", +1),  # image y points down, so +angle turns clockwise
    "RotateCounterClockwise": ("rotate", -1),
    "ZoomIn": ("zoom", +1),
    "ZoomOut": ("zoom", -1),
    "FadeIn": ("fade", +1),
    "FadeOut": ("fade", -1),
}
SHAPES = ("rectangle", "triangle", "ell", "arrow")
TEST_GROUPS_PER_SPLIT = 7  # UCF101: split k tests on groups 7(k-1)+1 .. 7k

# Difficulty, as ranges drawn per group or per clip. Tuned so that a 3D CNN and a
# CNN+LSTM learn the directions in minutes on a CPU, while clutter and noise still
# make a single pixel uninformative.
TEXTURE_AMPLITUDE = (4.0, 12.0)  # background waves, grey levels
NOISE_SIGMA = (2.0, 6.0)  # per-pixel, per-frame Gaussian noise
OBJECT_SIZE = (0.14, 0.20)  # half-size, fraction of the short side
TRAVEL = (0.5, 0.85)  # moves: fraction of the free width or height
FADE = (0.6, 0.8)  # fades: opacity ramps 0.5 -+ half of this, so the object never vanishes
ZOOM = (1.9, 2.6)  # zooms: ratio of the largest to the smallest size; never tiny, or it looks faded
TURN_DEGREES = (150.0, 240.0)  # rotations: total turn over the clip
ROTATION_SIZE = 1.6  # rotating objects are drawn larger: their tips must move visibly


@dataclass(frozen=True)
class GroupStyle:
    background: np.ndarray  # (H, W, 3) float32, static "scene"
    light: bool  # object lighter than the background (else darker), so it stays visible
    size: float  # typical object half-size in pixels


def video_name(cls: str, group: int, clip: int) -> str:
    return f"{cls}/v_{cls}_g{group:02d}_c{clip:02d}"


def test_groups(split: int) -> range:
    return range(TEST_GROUPS_PER_SPLIT * (split - 1) + 1, TEST_GROUPS_PER_SPLIT * split + 1)


def group_style(seed: int, group: int, cfg: SyntheticConfig) -> GroupStyle:
    rng = np.random.default_rng([seed, group, 0])
    h, w = cfg.height, cfg.width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(30, 200, size=3)
    texture = np.zeros((h, w), np.float32)
    for _ in range(3):  # a few low-frequency waves: a static, structured "scene"
        fx, fy = rng.uniform(0.5, 3, size=2) * 2 * math.pi
        texture += np.sin(fx * xx / w + fy * yy / h + rng.uniform(0, 2 * math.pi))
    tint = rng.uniform(-1, 1, size=3) * rng.uniform(*TEXTURE_AMPLITUDE)
    background = base[None, None, :] + texture[..., None] * tint[None, None, :]
    # The object contrasts with the mean background, so it stays visible.
    light = bool(base.mean() < 128)
    size = rng.uniform(*OBJECT_SIZE) * min(h, w)
    return GroupStyle(background.astype(np.float32), light, size)


def _inside(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Mask of the canonical shape (half-size 1) in object coordinates u (right), v (down)."""
    if shape == "rectangle":
        return (np.abs(u) <= 1.0) & (np.abs(v) <= 0.45)
    if shape == "triangle":  # points right; no mirror symmetry across the vertical axis
        return (u >= -0.8) & (u <= 1.0) & (np.abs(v) <= 0.6 * (1.0 - u) / 1.8)
    if shape == "ell":
        return (((u >= -1) & (u <= 1) & (v >= 0.5) & (v <= 1))
                | ((u >= -1) & (u <= -0.5) & (v >= -1) & (v <= 1)))
    if shape == "arrow":
        shaft = (u >= -1) & (u <= 0.2) & (np.abs(v) <= 0.22)
        head = (u >= 0.2) & (u <= 1) & (np.abs(v) <= 0.7 * (1 - u) / 0.8)
        return shaft | head
    raise ValueError(f"unknown shape {shape!r}")


def render_clip(cls: str, group: int, clip: int, seed: int, cfg: SyntheticConfig,
                style: GroupStyle | None = None) -> np.ndarray:
    """(T, H, W, 3) uint8 frames of one clip; deterministic in (seed, class, group, clip)."""
    kind, sign = MOTIONS[cls]
    style = style or group_style(seed, group, cfg)
    class_index = sorted(MOTIONS).index(cls)
    rng = np.random.default_rng([seed, group, clip, class_index + 1])
    h, w = cfg.height, cfg.width
    n = int(rng.integers(cfg.min_frames, cfg.max_frames + 1))
    t = np.linspace(-0.5, 0.5, n, dtype=np.float32)  # centred: the pair is symmetric in time

    # Shape, colour and size vary per clip; the group keeps its scene. With only ~15
    # training groups, a fixed object per group let models memorise groups.
    shape = str(rng.choice(SHAPES))
    size = style.size * rng.uniform(0.8, 1.25)
    color = (rng.uniform(170, 255, 3) if style.light else rng.uniform(0, 85, 3)).astype(np.float32)
    margin = 1.3 * size
    angle = np.full(n, rng.uniform(0, 2 * math.pi), np.float32)
    scale = np.ones(n, np.float32)
    cx = np.full(n, rng.uniform(margin, w - margin), np.float32)
    cy = np.full(n, rng.uniform(margin, h - margin), np.float32)
    if kind == "move_x":
        travel = rng.uniform(*TRAVEL) * (w - 2 * margin)
        cx = rng.uniform(margin + travel / 2, w - margin - travel / 2) + sign * t * travel
    elif kind == "move_y":
        travel = rng.uniform(*TRAVEL) * (h - 2 * margin)
        cy = rng.uniform(margin + travel / 2, h - margin - travel / 2) + sign * t * travel
    elif kind == "rotate":
        angle = angle + sign * t * math.radians(rng.uniform(*TURN_DEGREES))
        size *= ROTATION_SIZE
        reach = 1.1 * size
        cx = np.full(n, rng.uniform(reach, w - reach), np.float32)
        cy = np.full(n, rng.uniform(min(reach, h / 2), max(h - reach, h / 2)), np.float32)
    elif kind == "zoom":
        log_range = math.log(rng.uniform(*ZOOM))
        scale = np.exp(sign * t * log_range).astype(np.float32)
        # Keep the largest frame inside the canvas.
        reach = 1.1 * size * math.sqrt(ZOOM[1])  # the largest frame stays inside the canvas
        cx = np.full(n, rng.uniform(reach, w - reach), np.float32)
        cy = np.full(n, rng.uniform(min(reach, h / 2), max(h - reach, h / 2)), np.float32)
    opacity = np.ones(n, np.float32)
    if kind == "fade":
        opacity = (0.5 + sign * t * rng.uniform(*FADE)).astype(np.float32)
    # A little jitter in every class, so a perfectly still object never gives the kind away.
    cx = cx + rng.normal(0, 0.6, n)
    cy = cy + rng.normal(0, 0.6, n)

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx = xx[None] - cx[:, None, None]
    dy = yy[None] - cy[:, None, None]
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    r = (size * scale)[:, None, None]
    u = (cos * dx + sin * dy) / r  # rotate the pixel grid into object coordinates
    v = (-sin * dx + cos * dy) / r
    mask = _inside(shape, u, v)[..., None]

    alpha = mask * opacity[:, None, None, None]
    frames = style.background[None] + alpha * (color - style.background[None])
    noise = rng.standard_normal(frames.shape, dtype=np.float32) * np.float32(rng.uniform(*NOISE_SIGMA))
    return np.clip(frames + noise, 0, 255).astype(np.uint8)


def encode_avi(frames: np.ndarray, path: Path, fps: int) -> None:
    """MPEG-4 Part 2 (XVID fourcc) in AVI, UCF101's codec and container; written atomically."""
    t, h, w, _ = frames.shape
    with atomic_path(path) as tmp:
        cmd = (ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{w}x{h}", r=fps)
               .output(str(tmp), format="avi", vcodec="mpeg4", vtag="XVID", pix_fmt="yuv420p",
                       qscale=4, g=12, threads=1, fflags="+bitexact", flags="+bitexact")
               .global_args("-nostdin", "-y", "-v", "error")
               .compile(cmd=ffmpeg_exe()))
        proc = subprocess.run(cmd, input=np.ascontiguousarray(frames).tobytes(),
                              capture_output=True)
        if proc.returncode != 0:
            raise VideoError(f"{path}: ffmpeg could not encode: "
                               f"{proc.stderr.decode(errors='replace').strip()}")


def write_split_files(split_dir: Path, classes: list[str], videos: list[tuple[str, int, int]]) -> None:
    """classInd.txt and the three official train/test lists, in UCF101's exact format."""
    label = {c: i + 1 for i, c in enumerate(classes)}
    crlf = "\r\n"
    write_text(split_dir / "classInd.txt",
               "".join(f"{label[c]} {c}{crlf}" for c in classes), newline="")
    for split in (1, 2, 3):
        tests = test_groups(split)
        train = [f"{video_name(c, g, k)}.avi {label[c]}{crlf}" for c, g, k in videos if g not in tests]
        test = [f"{video_name(c, g, k)}.avi{crlf}" for c, g, k in videos if g in tests]
        write_text(split_dir / f"trainlist{split:02d}.txt", "".join(train), newline="")
        write_text(split_dir / f"testlist{split:02d}.txt", "".join(test), newline="")


def validate(cfg: SyntheticConfig) -> None:
    """The checks of params.yaml's dataset.synthetic that need MOTIONS (the params stage runs
    them before anything is deleted; the download stage again)."""
    if len(set(cfg.classes)) < 2 or len(set(cfg.classes)) != len(cfg.classes):
        raise InputError(f"params.yaml: dataset.synthetic.classes must name at least two distinct "
                         f"classes, got {cfg.classes}")
    unknown = [c for c in cfg.classes if c not in MOTIONS]
    if unknown:
        raise InputError(f"params.yaml: dataset.synthetic.classes: unknown {unknown}; "
                         f"available: {', '.join(MOTIONS)}")
    if cfg.groups < TEST_GROUPS_PER_SPLIT * 3:
        raise InputError(f"params.yaml: dataset.synthetic.groups must be at least 21 so that "
                         f"all three official splits have test groups, got {cfg.groups}")
    if not 2 <= cfg.min_frames <= cfg.max_frames:
        raise InputError("params.yaml: dataset.synthetic needs 2 <= min_frames <= max_frames")


def generate(out_dir: Path, cfg: SyntheticConfig, seed: int, workers: int = 2) -> int:
    """Write videos to out_dir/videos and split files to out_dir/splits; returns the video count."""
    validate(cfg)
    out_dir = Path(out_dir)
    classes = sorted(cfg.classes)  # classInd is alphabetical, as in UCF101
    videos = [(c, g, k) for c in classes for g in range(1, cfg.groups + 1)
              for k in range(1, cfg.clips_per_group + 1)]
    styles = {g: group_style(seed, g, cfg) for g in range(1, cfg.groups + 1)}

    def make(item: tuple[str, int, int]) -> None:
        c, g, k = item
        frames = render_clip(c, g, k, seed, cfg, styles[g])
        encode_avi(frames, out_dir / "videos" / f"{video_name(c, g, k)}.avi", cfg.fps)

    # Threads suffice: the work is numpy and an ffmpeg child process, both outside the GIL.
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for _ in tqdm(pool.map(make, videos), total=len(videos), desc="generate", unit="video"):
            pass
    write_split_files(out_dir / "splits", classes, videos)
    return len(videos)
