"""Video probing and decoding, in-process with PyAV: one code path for extraction and prediction.

`read_frames` samples frames uniformly over a whole file (the extract stage, and
`har predict` on a file); `iter_frames` streams every frame of any input FFmpeg
opens (`har predict --timeline` on files, http:// or rtsp://). Both turn a decoded
frame into pixels with `upright_rgb`, so the frames a model is trained on and the
frames it predicts on come from the same decoder, scaler and flags.

Hostile inputs. Every path opens a video through `open_video`, which applies one
pixel budget (`check_geometry`): a coded frame of more than MAX_PIXELS pixels, a
display aspect ratio beyond MAX_ASPECT, or an output frame the JPEG codec cannot hold
is refused with a VideoError naming the file and the reason, before any frame is
decoded. The decoder itself is told the same limit (FFmpeg's `max_pixels`), so a
stream that grows mid-file cannot allocate more. Frames are converted straight from
the decoder's YUV to the small RGB size (`upright_rgb`): no full-size RGB copy exists,
and a decoded frame is let go before the next decode, so the decoder never needs a
picture beyond the ones the stream makes it keep.
The size a frame is shown at (pixel aspect ratio, rotation) has one rule: `display_size`.
Which stream: the container's default video stream, else the largest (`pick_stream`).
"""

from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from har.errors import HarError
from har.frames import JPEG_MAX_SIDE  # frames are stored as JPEG


class VideoError(HarError, RuntimeError):
    """A video cannot be read; the message names the file and the problem."""


# The pixel budget. 4096x2160 (DCI 4K) covers every camera and phone short of 8K; a
# decoder holds up to 17 pictures of this size (H.264's 16 references and the one being
# decoded), each ~17 MB with the decoder's per-picture motion tables, so this is what bounds
# memory per decoder: ~300 MB, inherent to decoding such a stream (every reference may be
# used by the next frame). Peak RSS of the extract path, interpreter included: 368 MB with
# 16 references (measured by the hostile_memory benchmark, since dropped), 110 MB for the same frames with
# one reference, 61 MB for a normal clip (docs/reproducibility.md, "Limits on hostile inputs").
MAX_PIXELS = 4096 * 2160
# Long side over short side, as displayed. 32:9 monitors are 3.6, 360-degree video 2; a
# 4096x2 "video" (2048) scaled to a short side of 64 would be a 131072-pixel-wide frame.
MAX_ASPECT = 16.0
# Frame threads each hold a frame of their own: no more than this many pixels in flight.
THREAD_PIXELS = 4 * 1920 * 1080
# Opening a file already decodes a frame or two (FFmpeg's stream probing): the budget
# applies there too, or an 8000x8000 file would cost 190 MB before it could be refused.
OPEN_OPTIONS = {"max_pixels": str(MAX_PIXELS)}


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
        with av.open(str(path), options=OPEN_OPTIONS) as container:
            stream = pick_stream(container, path)
            ctx = stream.codec_context
            check_geometry(path, ctx.width, ctx.height, _sar(stream))
            limit_decoder(stream)
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
            frame = next(_decoded(container, stream, path, None, None), None)
            if frame is None:  # a stream header and no frame: an empty recording
                raise VideoError(f"{path}: no decodable video frame")
            rotation = int(frame.rotation or 0)
            width, height = (int(round(side)) for side in
                             display_size(ctx.width, ctx.height, _sar(stream), rotation))
            return VideoInfo(str(path), fps, width, height, frame_count, exact, duration,
                             rotation, ctx.name, len(container.streams.video))
    except VideoError:
        raise
    except (av.FFmpegError, UnicodeDecodeError, ValueError, IndexError) as e:
        raise VideoError(f"{path}: not a readable video ({_short(e)})") from None


# swscale picks SIMD code by CPU; BITEXACT + ACCURATE_RND select the exact C path, so a
# frame scales to the same bytes on the machine that extracted and the one that predicts.
# Bicubic is what the ffmpeg command line's scale filter uses by default.
SCALER = (av.video.reformatter.Interpolation.BICUBIC | av.video.reformatter.Interpolation.ACCURATE_RND
          | av.video.reformatter.Interpolation.BITEXACT)


def output_size(width: float, height: float, short_side: int) -> tuple[int, int]:
    """(w, h) with the short side `short_side` and the other even, aspect kept (ffmpeg's `-2`)."""
    if width >= height:
        return max(2, math.floor(short_side * width / height / 2 + 0.5) * 2), short_side
    return short_side, max(2, math.floor(short_side * height / width / 2 + 0.5) * 2)


def quarter_turns(rotation: float | None) -> int:
    """Counter-clockwise quarter turns to upright, for a display-matrix rotation in degrees."""
    return round((rotation or 0) / 90) % 4


def display_size(width: float, height: float, sar: Fraction | None = None,
                 rotation: float | None = 0) -> tuple[float, float]:
    """(w, h) a coded `width` x `height` picture is shown at: the one display-geometry rule.

    The pixel (sample) aspect ratio `sar` stretches the width (2:1 doubles it; None, 0 or
    negative: square pixels), then an odd number of quarter turns (`rotation`, degrees, as
    in the display matrix, rounded to the nearest quarter turn as `upright_rgb` turns the
    pixels) swaps the sides. Unscaled and unrounded: probe rounds it, `scaled_size` scales
    it, the pixel budget takes its aspect ratio, poster_frame its short side.
    """
    shown_w = width * float(sar) if sar and sar > 0 else float(width)
    if quarter_turns(rotation) % 2:
        return float(height), shown_w
    return shown_w, float(height)


def scaled_size(frame: av.VideoFrame, short_side: int, sar: Fraction | None = None
                ) -> tuple[int, int]:
    """(w, h) of `frame` upright, with square pixels and its short side `short_side`."""
    return output_size(*display_size(frame.width, frame.height, sar, frame.rotation), short_side)


def upright_rgb(frame: av.VideoFrame, size: tuple[int, int]) -> np.ndarray:
    """(h, w, 3) uint8 RGB of `frame` as displayed, scaled to `size` = (w, h) (see scaled_size).

    One scaling step from the coded frame (pixel aspect folded into the target size),
    then a lossless quarter turn, instead of ffmpeg's rotate-then-scale-twice chain.
    """
    turns = quarter_turns(frame.rotation)
    coded_w, coded_h = (size[1], size[0]) if turns % 2 else size
    # Full-range ("JPEG") YUV that is not tagged by its pixel format is only known from the
    # frame's colour range; left unspecified, swscale would read it as limited range.
    full_range = frame.color_range == av.video.reformatter.ColorRange.JPEG
    rgb = frame.reformat(width=coded_w, height=coded_h, format="rgb24", interpolation=SCALER,
                         src_color_range="JPEG" if full_range else None, threads=1).to_ndarray()
    return np.ascontiguousarray(np.rot90(rgb, k=turns)) if turns else rgb


def check_geometry(source: Path | str, width: int, height: int, sar: Fraction | None = None,
                   short_side: int | None = None) -> None:
    """The pixel budget: VideoError naming `source` when its frames are too large or too thin.

    `width` x `height` are the coded size (0 when the header does not say: the decoder's
    `max_pixels` still applies); `short_side`, when given, is the size frames will be scaled
    to, whose long side must fit a JPEG.
    """
    if width <= 0 or height <= 0:
        return
    if width * height > MAX_PIXELS:
        raise VideoError(f"{source}: frames of {width}x{height} exceed the pixel budget of "
                         f"{MAX_PIXELS:,} pixels (4096x2160); scale the video down first, e.g. "
                         "ffmpeg -i IN -vf scale=-2:1080 OUT")
    shown_w, shown_h = display_size(width, height, sar)  # the aspect is the same turned or not
    aspect = max(shown_w, shown_h) / min(shown_w, shown_h)
    if aspect > MAX_ASPECT:
        raise VideoError(f"{source}: frames of {width}x{height} have an aspect ratio of "
                         f"{aspect:.1f}:1, beyond the {MAX_ASPECT:g}:1 that frames are made from")
    if short_side is not None:
        long_side = max(output_size(shown_w, shown_h, short_side))
        if long_side > JPEG_MAX_SIDE:
            raise VideoError(f"{source}: frames of {width}x{height} scaled to a short side of "
                             f"{short_side} would be {long_side} pixels long, beyond JPEG's "
                             f"{JPEG_MAX_SIDE}")


def pick_stream(container, source: Path | str):
    """The video stream to read: the one the container marks default, else the largest.

    Largest is pixels x frames: a thumbnail or preview track (few frames, small) loses
    to the recording whatever their order. Cover art (attached pictures) only when
    there is nothing else. Ties keep the container's order.
    """
    streams = list(container.streams.video)
    if not streams:
        raise VideoError(f"{source}: no video stream")
    moving = [s for s in streams if not s.disposition & av.stream.Disposition.attached_pic]
    candidates = moving or streams
    marked = [s for s in candidates if s.disposition & av.stream.Disposition.default]
    return max(marked or candidates, key=_stream_size)


def _stream_size(stream) -> float:
    ctx = stream.codec_context
    frames = stream.frames
    if not frames and stream.duration and stream.time_base:
        frames = float(stream.duration * stream.time_base) * float(stream.average_rate or 25)
    return ctx.width * ctx.height * max(frames or 0, 1)


def limit_decoder(stream, threads: int = 1) -> None:
    """Tell FFmpeg's decoder the pixel budget, and give it at most the threads it fits.

    `threads` 0 means one per core. Must run before the first decode (which opens the codec).
    """
    ctx = stream.codec_context
    # A stream whose header lies (or that changes size mid-file) is refused by the decoder
    # itself, frame by frame, before it allocates the frame.
    ctx.options = {**ctx.options, "max_pixels": str(MAX_PIXELS)}
    if threads != 1:
        pixels = max(ctx.width * ctx.height, 1)
        wanted = threads or os.cpu_count() or 1
        threads = max(1, min(wanted, THREAD_PIXELS // pixels))
    # Threads change speed, not pixels: FFmpeg's decoders are bit-exact whatever the count.
    ctx.thread_count = threads
    if threads != 1:
        stream.thread_type = "AUTO"


def _sar(stream) -> Fraction | None:
    return stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio


def open_video(source: Path | str, timeout: float | None = None, short_side: int | None = None,
               threads: int = 1):
    """An open PyAV container and its video stream (see pick_stream), within the pixel budget.

    VideoError naming `source` otherwise.
    """
    try:
        # timeout bounds opening and each network read (http://, rtsp://); files ignore it.
        container = av.open(str(source), timeout=timeout, options=OPEN_OPTIONS)
    except (av.FFmpegError, UnicodeDecodeError, ValueError, OSError) as e:
        raise VideoError(f"{source}: not a readable video ({_short(e)})") from None
    try:
        stream = pick_stream(container, source)
        ctx = stream.codec_context
        check_geometry(source, ctx.width, ctx.height, _sar(stream), short_side)
        limit_decoder(stream, threads)
    except BaseException:
        container.close()
        raise
    return container, stream


def _decoded(container, stream, source, deadline: float | None, timeout: float | None):
    """Every decodable frame of `stream`, skipping corrupt packets as the ffmpeg CLI does."""
    packets = container.demux(stream)
    while True:
        if deadline is not None and time.monotonic() > deadline:
            raise VideoError(f"{source}: decoding took longer than {timeout:g}s")
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError:
            return  # unreadable from here on (truncated file, dropped stream): keep what decoded
        try:
            frames = list(reversed(packet.decode()))
        except av.FFmpegError:
            continue  # one corrupt packet; the decoder resynchronises on the next
        while frames:  # handed over, not kept here: see iter_frames
            yield frames.pop()


def iter_frames(source: Path | str, short_side: int, keep: set[int] | None = None,
                timeout: float | None = None, io_timeout: float | None = 30.0,
                threads: int = 1, started: float | None = None
                ) -> Iterator[tuple[int, float, np.ndarray | None]]:
    """(index, seconds since the first frame, upright RGB or None) for every frame of `source`.

    Streaming: one frame at a time, any input FFmpeg opens. Only frames whose index
    is in `keep` (all when None) are converted; the rest cost the decode only.
    `timeout` bounds the whole decode (counted from `started`, a time.monotonic(), if
    given), `io_timeout` each network read.
    """
    deadline = (started or time.monotonic()) + timeout if timeout else None
    container, stream = open_video(source, io_timeout, short_side, threads)
    with container:
        sar = _sar(stream)
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        first = last = size = None
        index = 0
        for frame in _decoded(container, stream, source, deadline, timeout):
            # Every frame gets the first one's size: a stream that changes resolution (a
            # corrupt header, an adaptive stream) must still give frames that stack.
            if size is None:  # the header's size may be missing or wrong: check the real one
                check_geometry(source, frame.width, frame.height, sar, short_side)
                size = scaled_size(frame, short_side, sar)
            seconds = frame.time if frame.time is not None else index / fps
            first = seconds if first is None else first
            # Timestamps can jump backwards (B-frame reordering glitches, stream restarts);
            # the timeline needs them monotonic.
            seconds = max(seconds - first, last if last is not None else 0.0)
            last = seconds
            rgb = upright_rgb(frame, size) if keep is None or index in keep else None
            # Let go of the frame before the next decode: a picture still referenced here is
            # one the decoder cannot reuse, so it would allocate another (a whole 4K frame).
            del frame
            yield index, seconds, rgb
            index += 1


def poster_frame(source: Path | str, short_side: int) -> np.ndarray:
    """The keyframe nearest the middle of the video, upright, short side at most `short_side`."""
    container, stream = open_video(source, short_side=short_side)
    with container:
        sar = _sar(stream)
        try:
            if stream.duration and stream.time_base:
                container.seek((stream.start_time or 0) + stream.duration // 2, stream=stream)
            for frame in container.decode(stream):
                shown = display_size(frame.width, frame.height, sar, frame.rotation)
                short = min(short_side, int(min(shown)))  # never upscale
                return upright_rgb(frame, scaled_size(frame, short, sar))
        except av.FFmpegError as e:
            raise VideoError(f"{source}: no decodable frame ({_short(e)})") from None
    raise VideoError(f"{source}: no decodable frame")


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
    indices: list[int] = field(default_factory=list)  # the video frame each row of `array` is


def _keep_pass(path: Path, size: int, keep: set[int], started: float, timeout: float,
               threads: int) -> tuple[int, dict[int, np.ndarray]]:
    """One decode of the whole file: (frames decoded, the kept frames by index)."""
    kept, count = {}, 0
    for index, _, rgb in iter_frames(path, size, keep, timeout=timeout, threads=threads,
                                     started=started):
        count = index + 1
        if rgb is not None:
            kept[index] = rgb
    return count, kept


def read_frames(path: Path | str, frames: int, size: int, timeout: float = 600.0,
                min_decoded_fraction: float = 0.9, threads: int = 1) -> Frames:
    """Sample `frames` frames uniformly over the whole video, short side `size`, upright.

    One decode when the container's frame count is right; when it is missing or
    wrong, a second decode samples from the true count (memory stays at `frames`
    frames either way). Raises VideoError when the file cannot be decoded, takes
    longer than `timeout` seconds, or decodes to far fewer frames than its header
    promises (a truncated file).
    """
    path = Path(path)
    started = time.monotonic()
    info = probe(path)
    notes: list[str] = []
    planned = sample_indices(info.frame_count, frames) if info.frame_count_exact else []
    decoded, kept = _keep_pass(path, size, set(planned), started, timeout, threads)
    if decoded == 0:
        raise VideoError(f"{path}: no frame could be decoded")
    if decoded != info.frame_count or not info.frame_count_exact:
        if info.frame_count_exact and decoded < min_decoded_fraction * info.frame_count:
            raise VideoError(f"{path}: truncated or corrupt: header says {info.frame_count} "
                             f"frames, only {decoded} decode")
        if info.frame_count_exact:
            notes.append(f"header frame count {info.frame_count} was wrong; decoded {decoded}")
        else:
            notes.append(f"no frame count in the container; decoded {decoded}")
        planned = sample_indices(decoded, frames)
        if not set(planned) <= kept.keys():
            _, kept = _keep_pass(path, size, set(planned), started, timeout, threads)
    if decoded < frames:
        notes.append(f"only {decoded} frames: repeated to make {frames}")
    array = np.stack([kept[i] for i in planned])
    return Frames(array=array, info=info, decoded=decoded, notes=notes, indices=planned)


def _short(e: Exception) -> str:
    if isinstance(e, av.FFmpegError) and e.strerror:
        return e.strerror  # "Invalid data found when processing input", without errno and path
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0][:200]
