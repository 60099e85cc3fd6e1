"""Video probing (PyAV, in-process) and frame sampling (the ffmpeg command line).

The extraction path decodes each video once: PyAV reads the container header to
plan which frames to keep, then one ffmpeg process decodes, rotates, corrects
non-square pixels, keeps only the planned frames and scales them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import ffmpeg
import numpy as np


class VideoError(RuntimeError):
    """A video cannot be read; the message names the file and the problem."""


def ffmpeg_exe() -> str:
    """The ffmpeg binary: $HAR_FFMPEG, else the system's, else the imageio-ffmpeg wheel's."""
    explicit = os.environ.get("HAR_FFMPEG")
    if explicit:
        return explicit
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg  # a pip dependency, so no apt step is ever needed

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass
class VideoInfo:
    path: str
    fps: float
    width: int  # as displayed: after rotation and pixel-aspect correction
    height: int
    frame_count: int  # from the container, else estimated from duration x fps
    frame_count_exact: bool  # False when estimated: the container did not say
    duration: float  # seconds
    rotation: int  # degrees, as in the display matrix
    codec: str
    video_streams: int


def probe(path: Path | str) -> VideoInfo:
    """Read the container header of the first video stream (decodes one frame for rotation)."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file (0 bytes)")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path}: no video stream")
            stream = container.streams.video[0]
            ctx = stream.codec_context
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / av.time_base
            else:
                duration = 0.0
            frame_count = int(stream.frames or 0)
            exact = frame_count > 0
            if not exact and fps > 0 and duration > 0:
                frame_count = round(duration * fps)
            # Rotation lives in per-frame side data in PyAV; one decoded frame tells it.
            rotation = 0
            for frame in container.decode(stream):
                rotation = int(getattr(frame, "rotation", 0) or 0)
                break
            else:
                raise VideoError(f"{path}: no decodable video frame")
            width, height = ctx.width, ctx.height
            sar = stream.sample_aspect_ratio or ctx.sample_aspect_ratio
            if sar and sar != 0 and sar != 1:
                width = int(round(width * Fraction(sar)))
            if rotation % 180:
                width, height = height, width
            return VideoInfo(str(path), fps, width, height, frame_count, exact, duration,
                             rotation, ctx.name, len(container.streams.video))
    except VideoError:
        raise
    except (av.FFmpegError, UnicodeDecodeError, ValueError, IndexError) as e:
        raise VideoError(f"{path}: not a readable video ({_short(e)})") from None


def sample_indices(available: int, wanted: int) -> list[int]:
    """`wanted` indices spread uniformly over [0, available), repeating when too few."""
    if available <= 0:
        return []
    # Centre of each of `wanted` equal segments: covers the whole video, not the first N.
    positions = (np.arange(wanted) + 0.5) * available / wanted
    return np.clip(positions.astype(int), 0, available - 1).tolist()


@dataclass
class Frames:
    array: np.ndarray  # (T, H, W, 3) uint8 RGB
    info: VideoInfo
    decoded: int  # frames the decoder actually produced in the pass that counted
    notes: list[str] = field(default_factory=list)


def _scale_filters(stream, size: int):
    # Square the pixels first (non-square SAR), then scale the short side to `size`;
    # -2 keeps the aspect and an even length. ffmpeg has already applied rotation.
    stream = stream.filter("scale", "trunc(iw*sar/2)*2", "ih").filter("setsar", "1")
    return stream.filter("scale", f"if(gte(iw,ih),-2,{size})", f"if(gte(iw,ih),{size},-2)")


def _run_ffmpeg(path: Path, size: int, select: list[int] | None, timeout: float) -> list[np.ndarray]:
    stream = ffmpeg.input(str(path)).video  # first video stream: -map 0:v:0
    if select is not None:
        expr = "+".join(f"eq(n,{i})" for i in sorted(set(select)))
        stream = stream.filter("select", expr)
    stream = _scale_filters(stream, size)
    cmd = (ffmpeg.output(stream, "pipe:", format="image2pipe", vcodec="ppm",
                         fps_mode="passthrough", threads=1)
           .global_args("-nostdin", "-v", "error")
           .compile(cmd=ffmpeg_exe()))
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise VideoError(f"{path}: decoding took longer than {timeout:.0f}s") from None
    if proc.returncode != 0 and not proc.stdout:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        raise VideoError(f"{path}: ffmpeg failed: {msg[-1] if msg else 'exit ' + str(proc.returncode)}")
    return parse_ppm_stream(proc.stdout)


def parse_ppm_stream(data: bytes) -> list[np.ndarray]:
    """Split ffmpeg's image2pipe PPM output into (H, W, 3) arrays."""
    frames, pos = [], 0
    view = memoryview(data)
    while pos < len(data):
        # Header: "P6\n<w> <h>\n255\n" (ffmpeg writes exactly this form).
        fields, cursor = [], pos
        while len(fields) < 4:
            end = data.index(b"\n", cursor)
            fields.extend(data[cursor:end].split())
            cursor = end + 1
        if fields[0] != b"P6" or fields[3] != b"255":
            raise VideoError(f"unexpected frame header from ffmpeg: {bytes(view[pos:pos + 20])!r}")
        w, h = int(fields[1]), int(fields[2])
        n = w * h * 3
        if cursor + n > len(data):
            break  # ffmpeg died mid-frame; keep the complete ones
        frames.append(np.frombuffer(view[cursor:cursor + n], np.uint8).reshape(h, w, 3))
        pos = cursor + n
    return frames


def read_frames(path: Path | str, frames: int, size: int, timeout: float = 600.0,
                min_decoded_fraction: float = 0.9) -> Frames:
    """Sample `frames` frames uniformly over the whole video, short side `size`, upright.

    Raises VideoError when the file cannot be decoded, or decodes to far fewer
    frames than its header promises (a truncated file).
    """
    path = Path(path)
    info = probe(path)
    notes: list[str] = []
    # With an exact count from the header, ffmpeg keeps only the planned frames.
    planned = sample_indices(info.frame_count, frames) if info.frame_count_exact else []
    got = _run_ffmpeg(path, size, planned, timeout) if planned else []
    decoded = info.frame_count
    if not planned or len(got) != len(set(planned)):
        # No count in the container, or a wrong one: decode every frame (small, after
        # scaling) to learn the true count, then sample from that.
        everything = _run_ffmpeg(path, size, None, timeout)
        decoded = len(everything)
        if decoded == 0:
            raise VideoError(f"{path}: no frame could be decoded")
        if info.frame_count_exact and decoded < min_decoded_fraction * info.frame_count:
            raise VideoError(f"{path}: truncated or corrupt: header says {info.frame_count} "
                             f"frames, only {decoded} decode")
        if info.frame_count_exact:
            notes.append(f"header frame count {info.frame_count} was wrong; decoded {decoded}")
        else:
            notes.append(f"no frame count in the container; decoded {decoded}")
        planned = sample_indices(decoded, frames)
        got = [everything[i] for i in sorted(set(planned))]
    by_index = dict(zip(sorted(set(planned)), got))
    if decoded < frames:
        notes.append(f"only {decoded} frames: repeated to make {frames}")
    array = np.stack([by_index[i] for i in planned])
    return Frames(array=array, info=info, decoded=decoded, notes=notes)


def _short(e: Exception) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0][:200]
