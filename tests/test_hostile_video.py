"""Hostile videos, built here with PyAV: the pixel budget, stream choice, timestamp gaps,
and that `har predict` / `har serve` answer a bad input with a message, never a traceback."""

from __future__ import annotations

import gc
import io
import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from har.cli import main
from har.config import ServeConfig
from har.predict import Predictor
from har.serve import create_app
from har.timeline import windows
from har.video import MAX_PIXELS, VideoError, check_geometry, iter_frames, probe, read_frames
from videos import flat, write_video

RED, BLUE = (200, 30, 30), (30, 30, 200)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hostile")
    return {
        # 4096x2 (the 2.4 KB file): scaled to a short side of 32 it would be 65536 wide.
        "thin": write_video(root / "thin.mp4", flat(4096, 2, [RED] * 5)),
        # Just over the budget: 4104x2160 is 8,864,640 pixels.
        "huge": write_video(root / "huge.mp4", flat(4104, 2160, [RED])),
        "good": write_video(root / "good.mp4", flat(64, 48, [BLUE] * 10)),
    }


def test_the_pixel_budget_refuses_huge_and_thin_frames_naming_file_and_reason(hostile):
    with pytest.raises(VideoError, match=r"thin\.mp4: frames of 4096x2 have an aspect ratio of 2048"):
        read_frames(hostile["thin"], 4, 32)
    with pytest.raises(VideoError, match=r"huge\.mp4: frames of 4104x2160 exceed the pixel budget"):
        read_frames(hostile["huge"], 4, 32)
    for name in ("thin", "huge"):  # every entry point applies the same rule
        with pytest.raises(VideoError, match=name):
            probe(hostile[name])
        with pytest.raises(VideoError, match=name):
            next(iter_frames(hostile[name], 32))
    assert read_frames(hostile["good"], 4, 32).array.shape == (4, 32, 42, 3)


def test_a_decoded_frame_is_let_go_before_the_next_decode(tmp_path):
    # A full-size frame still referenced while the decoder works is a picture it cannot reuse,
    # so it allocates another: with B-frames at 4096x2160, 19 MB more peak memory
    # (the worst cases of the hostile_memory benchmark, since dropped: benchmarks/README.md). Only the small RGB copies may stay.
    colours = [(20 * i, 100, 50) for i in range(12)]
    path = write_video(tmp_path / "bframes.mp4", flat(96, 64, colours),
                       options={"x264-params": "bframes=2:b-adapt=0"})
    with av.open(str(path)) as c:
        assert av.video.frame.PictureType.B in {f.pict_type for f in c.decode(video=0)}
    frames = iter_frames(path, 32)
    for _ in range(8):  # suspended in between, as while the caller works on the last frame
        assert next(frames)[2].shape == (32, 48, 3)
        gc.collect()
        assert not [f for f in gc.get_objects() if type(f) is av.VideoFrame and f.width == 96]


def test_the_budget_s_edges():
    check_geometry("ok", 4096, 2160)  # DCI 4K: the largest accepted frame
    assert 4096 * 2160 == MAX_PIXELS
    check_geometry("ok", 2160, 4096)  # portrait phone video
    check_geometry("ok", 1600, 100)  # 16:1
    with pytest.raises(VideoError, match="aspect ratio of 16.2"):
        check_geometry("x", 1620, 100)
    # Square coded pixels that display 20:1 (pixel aspect 20): the displayed shape counts.
    with pytest.raises(VideoError, match="aspect ratio of 20.0"):
        check_geometry("x", 100, 100, Fraction(20))
    # A long side JPEG cannot hold, at a short side of 8000 and 10:1.
    with pytest.raises(VideoError, match="beyond JPEG's 65500"):
        check_geometry("x", 1000, 100, short_side=8000)


def test_the_default_stream_is_read_else_the_largest(tmp_path):
    # The file: a 2-frame thumbnail first, the real clip second and marked default.
    thumbnail, clip = flat(32, 24, [RED] * 2), flat(64, 48, [BLUE] * 12)
    marked = write_video(tmp_path / "marked.mp4", thumbnail, clip, default=1)
    # The mark wins over size: here the small stream is the default one.
    small_marked = write_video(tmp_path / "small.mp4", clip, flat(32, 24, [RED] * 6), default=1)
    # No marks at all (AVI has none): the most pixels x frames, whatever the order.
    unmarked = write_video(tmp_path / "unmarked.avi", thumbnail, clip)
    for path, size, frames, colour in ((marked, (64, 48), 12, BLUE), (small_marked, (32, 24), 6, RED),
                                       (unmarked, (64, 48), 12, BLUE)):
        info = probe(path)
        assert (info.width, info.height, info.video_streams) == (*size, 2), path.name
        r = read_frames(path, 4, 24)
        assert r.decoded == frames, path.name
        mean = r.array.reshape(-1, 3).mean(axis=0)
        assert np.abs(mean - colour).max() < 12, (path.name, mean)


def test_a_gap_in_timestamps_costs_nothing():
    # Five frames, then a jump of 1e11 s (the issue: 300 s of CPU and one row). Skipping the
    # empty windows one by one would never end here.
    timed = [(t, t) for t in (0.0, 0.5, 1.0, 1.5, 2.0)] + [(1e11 + t, 1e11 + t) for t in (0.0, 0.5)]
    got = list(windows(iter(timed), window=2.0, stride=1.0))
    starts = [start for start, _, _ in got]
    assert starts[:2] == [0.0, 1.0] and [h for _, _, h in got[:2]] == [[0.0, 0.5, 1.0, 1.5], [1.0, 1.5, 2.0]]
    assert len(got) == 4  # ... [2, 4): 2.0; then the window that reaches 1e11 and the last one
    assert got[2][2] == [2.0]
    # The window holding the frames after the gap is a multiple of the stride, as without a gap.
    start, end, held = got[3]
    assert held == [1e11, 1e11 + 0.5] and start <= 1e11 < end and math.isclose(start % 1.0, 0, abs_tol=1e-3)


def test_predict_reports_a_bad_video_exits_2_and_goes_on(tiny_model, hostile, capsys):
    good = str(hostile["good"])
    code = main(["predict", good, str(hostile["thin"]), str(hostile["huge"]), good,
                 "--model", str(tiny_model.checkpoint), "--json"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out.count('"video"') == 2  # both good ones, the second after the two bad ones
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert any("thin.mp4: frames of 4096x2 have an aspect ratio" in line for line in lines)
    assert any("huge.mp4: frames of 4104x2160 exceed the pixel budget" in line for line in lines)


def test_serve_answers_a_bad_video_with_422_naming_the_upload(tiny_model, hostile, tmp_path):
    settings = ServeConfig(max_upload_mb=5, decode_timeout_s=30, threads=1)
    client = create_app([Predictor(tiny_model.checkpoint, clips=3)], settings, tmp_path).test_client()
    for name, reason in (("thin", "aspect ratio"), ("huge", "pixel budget")):
        response = client.post("/api/predict", content_type="multipart/form-data",
                               data={"file": (io.BytesIO(hostile[name].read_bytes()), f"my {name}.mp4")})
        assert response.status_code == 422
        message = response.get_json()["error"]
        assert message.startswith(f"my {name}.mp4: ") and reason in message
        assert str(tmp_path) not in message
    assert list(tmp_path.iterdir()) == []  # the uploads are gone
