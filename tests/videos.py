"""The synthetic videos and frames files the tests write: one writer, a few pixel patterns.

`write_video` encodes arrays of RGB frames with PyAV in any container and codec, with the
metadata that the video code must honour (display rotation, non-square pixels, several
streams, a default mark). `tiny_avi` is UCF101's encoding instead (har's own XVID encoder,
bit-exact), for datasets whose files a test hashes or compares across runs. The patterns
are arrays of shape (frames, height, width, 3), uint8.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from har.datasets.synthetic import encode_avi
from har.frames import save_frames

# A codec each container takes; libx264 at its fastest: the tests read pixels, not quality.
DEFAULT_CODEC = {".avi": "mpeg4", ".webm": "libvpx"}
CODEC_OPTIONS = {"libx264": {"preset": "ultrafast"}}
DIRECTIONS = ("down", "right", "diagonal")
SQUARE_SIDE = 16


def write_video(path: Path, *streams: np.ndarray, fps: int = 25, codec: str | None = None,
                container: str | None = None, options: dict[str, str] | None = None,
                rotation: int = 0, sar: Fraction | None = None, default: int | None = None) -> Path:
    """One video stream per array of frames, in that order; returns `path`.

    `codec` defaults by the file's suffix (`DEFAULT_CODEC`, else libx264); `container`, by
    the suffix as ffmpeg guesses it; `options` add to the codec's defaults. `rotation` is
    display-matrix metadata in degrees, `sar` the sample (pixel) aspect ratio, `default` the
    index of the stream marked default. An array of no frames gives a stream in the header
    and nothing else.
    """
    codec = codec or DEFAULT_CODEC.get(path.suffix, "libx264")
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format=container) as out:
        encoders = []
        for k, frames in enumerate(streams):
            stream = out.add_stream(codec, rate=fps)
            stream.height, stream.width = frames.shape[1:3]
            stream.pix_fmt = "yuv420p"
            stream.options = {**CODEC_OPTIONS.get(codec, {}), **(options or {})}
            if rotation:
                stream.set_display_rotation(rotation)
            if sar is not None:
                stream.codec_context.sample_aspect_ratio = sar
            if k == default:
                stream.disposition = av.stream.Disposition.default
            encoders.append(stream)
        out.start_encoding()  # the header even for a stream of no frames
        for stream, frames in zip(encoders, streams):
            for i, rgb in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts, frame.time_base = i, Fraction(1, fps)
                out.mux(stream.encode(frame))
            out.mux(stream.encode())
    return path


def flat(width: int, height: int, colours: Sequence) -> np.ndarray:
    """Frame i filled with `colours[i]`, a grey level or an RGB triple: a frame's mean
    brightness or colour tells which frame, or which stream, was decoded."""
    video = np.empty((len(colours), height, width, 3), np.uint8)
    for frame, colour in zip(video, colours):
        frame[:] = colour
    return video


def noise(width: int, height: int, frames: int, seed: int = 0, high: int = 256) -> np.ndarray:
    """Uniform noise below `high`, drawn from `seed`."""
    return np.random.default_rng(seed).integers(0, high, (frames, height, width, 3), dtype=np.uint8)


def moving_square(width: int, height: int, direction: str = "diagonal", frames: int = 16,
                  seed: int | Sequence[int] = 0) -> np.ndarray:
    """A bright square crossing a textured background (detail for a resize to smear), down,
    right or diagonally (`DIRECTIONS`): a class a model can tell by the motion."""
    background = np.random.default_rng(seed).integers(0, 120, (height, width, 3), dtype=np.uint8)
    video = np.repeat(background[None], frames, axis=0)
    for i, picture in enumerate(video):
        step = (i * (min(width, height) - SQUARE_SIDE)) // frames
        top, left = {"down": (step, 8), "right": (8, step), "diagonal": (step, step)}[direction]
        picture[top:top + SQUARE_SIDE, left:left + SQUARE_SIDE] = (250, 220, 40)
    return video


def tiny_avi(tmp: Path, shade: int, frames: int = 10) -> bytes:
    """A real, decodable 40x32 XVID AVI of `frames` frames, brightness set by `shade`: the
    same bytes for the same shade, as a dataset's file stays the same between runs."""
    path = tmp / f"shade{shade}.avi"
    encode_avi(noise(40, 32, frames, seed=shade, high=40) + np.uint8(shade % 200), path, fps=10)
    return path.read_bytes()


def frames_files(root: Path, lengths: Sequence[int], height: int, width: int, classes: int = 2,
                 seed: int = 0) -> list[dict]:
    """Frames files of noise, as the extract stage stores a video: video i has `lengths[i]`
    frames, label i % `classes`, and lies at `c<label>/v<i>.npz` under `root`. Returns the
    split rows that name them (strings, as read from the CSV)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, stored in enumerate(lengths):
        rel = f"c{i % classes}/v{i}.npz"
        save_frames(root / rel, rng.integers(0, 256, (stored, height, width, 3), dtype=np.uint8))
        rows.append({"id": rel.removesuffix(".npz"), "frames": rel, "frames_stored": str(stored),
                     "label": str(i % classes)})
    return rows
