"""Predictions over time: sliding windows on a stream, and a video annotated with them.

`windows` reads timed frames once, in order, and holds only those of the window
being filled, so memory depends on the window length, never on the video's: an
hour-long file or an endless rtsp:// stream cost the same. Each window is then
predicted exactly like a whole video (its frames sampled uniformly, as the extract
stage samples a file), so a window of a training-length clip sees what training saw.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from har.errors import InputError
from har.fileio import atomic_path
from har.predict import Predictor, topk
from har.video import VideoError, iter_frames, probe, sample_indices

# Output container by extension, and the codec written into it.
CONTAINERS = {".mp4": ("mp4", "libx264"), ".m4v": ("mp4", "libx264"), ".mov": ("mov", "libx264"),
              ".mkv": ("matroska", "libx264"), ".avi": ("avi", "mpeg4")}


@dataclass
class WindowPrediction:
    start: float  # seconds from the first frame
    end: float
    frames: int  # frames decoded in the window
    probabilities: np.ndarray  # (classes,)

    @property
    def centre(self) -> float:
        return (self.start + self.end) / 2

    def topk(self, classes: list[str], k: int) -> list[dict]:
        return topk(self.probabilities, classes, k)


def windows(frames: Iterable[tuple[float, np.ndarray]], window: float, stride: float
            ) -> Iterator[tuple[float, float, list[np.ndarray]]]:
    """(start, end, frames) of the windows [k*stride, k*stride + window) that hold any frame.

    A window is yielded as soon as a frame at or past its end arrives. At the end of
    the input, the window that reaches the last frame is yielded, shorter if need be
    (a video shorter than `window` is one window), and the timeline stops there.
    Work follows the frames, not the timestamps: across a gap in time (a stream
    restart, a corrupt timestamp 1e11 s ahead) the empty windows are skipped in one step.
    """
    if window <= 0 or stride <= 0:
        raise InputError(f"window and stride must be positive seconds, got {window} and {stride}")
    held: deque[tuple[float, np.ndarray]] = deque()  # frames with start <= time < now
    k, last, step = 0, None, 0.0
    start = 0.0  # k * stride, computed rather than summed: no drift over a long stream
    for seconds, frame in frames:
        while seconds >= start + window:
            if held:
                yield start, start + window, [f for _, f in held]
                k += 1
            else:  # nothing held: straight to the first window that reaches `seconds`
                k = max(k + 1, math.floor((seconds - window) / stride) + 1)
            start = k * stride
            while held and held[0][0] < start:
                held.popleft()
        if seconds >= start:  # with stride > window, frames between windows are skipped
            held.append((seconds, frame))
        if last is not None and seconds > last:
            step = seconds - last
        last = seconds
    if held:
        yield start, min(start + window, last + step), [f for _, f in held]


def predict_windows(predictor: Predictor, source: Path | str, window: float, stride: float,
                    io_timeout: float | None = 30.0, timeout: float | None = None,
                    threads: int = 0, max_window_frames: int | None = None
                    ) -> Iterator[WindowPrediction]:
    """Stream `source` (a file or any URL FFmpeg opens) once; one prediction per window.

    `timeout` bounds the whole pass, decoding and inference (har serve's decode limit).
    `max_window_frames` refuses a source with more frames than that in any `window`
    seconds (VideoError): a window's frames are held in memory.
    """
    prep = predictor.prep
    timed = ((seconds, rgb) for _, seconds, rgb in
             iter_frames(source, prep.short_side, io_timeout=io_timeout, timeout=timeout,
                         threads=threads))
    if max_window_frames is not None:
        timed = _at_most(timed, max_window_frames, window, source)
    for start, end, held in windows(timed, window, stride):
        sampled = np.stack([held[i] for i in sample_indices(len(held), prep.source_frames)])
        yield WindowPrediction(start, end, len(held), predictor.probabilities(sampled))


def _at_most(frames: Iterable[tuple[float, np.ndarray]], count: int, seconds: float,
             source: Path | str) -> Iterator[tuple[float, np.ndarray]]:
    """`frames`, or VideoError as soon as more than `count` of them fall within `seconds`."""
    recent: deque[float] = deque()  # timestamps of the last `seconds`; at most `count` + 1
    for t, frame in frames:
        recent.append(t)
        while recent[0] <= t - seconds:
            recent.popleft()
        if len(recent) > count:
            raise VideoError(f"{source}: more than {count} frames within {seconds:g} s; "
                             "its frame rate is too high for a timeline")
        yield t, frame


def annotate(predictor: Predictor, source: Path | str, out: Path | str,
             timeline: list[WindowPrediction]) -> int:
    """Write `source` to `out` with each frame's top class and probability drawn on it.

    A frame gets the prediction of the window whose centre is nearest its time: the
    window that best describes that moment. Reads `source` a second time (the first
    pass made `timeline`), so it must be a file. Returns the frames written.
    """
    out = Path(out)
    if out.suffix.lower() not in CONTAINERS:
        raise InputError(f"{out}: cannot write this container; use one of "
                         f"{', '.join(CONTAINERS)}")
    if not timeline:
        raise VideoError(f"{source}: no frame could be decoded")
    fmt, codec = CONTAINERS[out.suffix.lower()]
    if codec not in av.codecs_available:
        codec = "mpeg4"  # every FFmpeg build has it; libx264 is an optional extra
    centres = np.array([w.centre for w in timeline])
    labels = [_label(predictor, w) for w in timeline]
    info = probe(source)
    short_side = max(2, min(info.width, info.height) // 2 * 2)  # display size; yuv420p wants even
    written = 0
    with atomic_path(out) as tmp:
        with av.open(str(tmp), "w", format=fmt) as output:
            video = None
            for _, seconds, frame in iter_frames(source, short_side, threads=0):
                if video is None:
                    rate = Fraction(info.fps or 25).limit_denominator(1001)
                    video = output.add_stream(codec, rate=rate)
                    video.height, video.width = frame.shape[:2]
                    video.pix_fmt = "yuv420p"
                    if codec == "libx264":
                        video.options = {"preset": "veryfast", "crf": "20"}
                nearest = int(np.abs(centres - seconds).argmin())
                drawn = av.VideoFrame.from_ndarray(_draw(frame, labels[nearest]), format="rgb24")
                for packet in video.encode(drawn):
                    output.mux(packet)
                written += 1
            for packet in video.encode():  # flush the frames the encoder still holds
                output.mux(packet)
    return written


def _label(predictor: Predictor, w: WindowPrediction) -> str:
    top = w.topk(predictor.classes, 1)[0]
    return f"{top['class']} {top['probability']:.0%}"


def _draw(frame: np.ndarray, text: str) -> np.ndarray:
    """`text` in white on a dark box in the top-left corner, sized to the frame."""
    image = Image.fromarray(frame)
    size = max(10, image.height // 14)
    font = ImageFont.load_default(size=size)
    draw = ImageDraw.Draw(image)
    pad = max(2, size // 4)
    left, top, right, bottom = draw.textbbox((pad, pad), text, font=font)
    draw.rectangle((0, 0, right + pad, bottom + pad), fill=(0, 0, 0))
    draw.text((pad, pad), text, fill=(255, 255, 255), font=font)
    return np.asarray(image)
