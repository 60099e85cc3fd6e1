"""`har predict`: the evaluate stage's numbers on a file, JSON output, bad inputs, timeline, annotation."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from pathlib import Path

import av
import numpy as np
import pytest
import torch

import tiny_model as tm
from har.cli import main
from har.data import ClipDataset, Preprocessing
from har.engine import make_loader, predict_clips, video_scores
from har.frames import jpeg_round_trip, load_frames
from har.predict import Predictor
from har.timeline import windows
from har.video import read_frames
from videos import flat, write_video

# Float32 sums in a batch of 32 clips (evaluate) and of 3 (predict) may round differently;
# everything before the model is compared bit for bit.
PROBABILITY_TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def predictor(tiny_model) -> Predictor:
    return Predictor(tiny_model.checkpoint, clips=3)


@pytest.fixture(scope="module")
def two_classes(tiny_model, tmp_path_factory) -> Path:
    """2 s of MoveLeft, then 2 s of MoveUp, in one scene of a group the model never saw."""
    frames = np.concatenate([tm.clip("MoveLeft", 15, 1, frames=50), tm.clip("MoveUp", 15, 1, frames=50)])
    return tm.write_clip(tmp_path_factory.mktemp("concat") / "left_then_up.avi", frames)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["predict", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_predicting_a_test_video_gives_the_evaluate_stages_probabilities(tiny_model, predictor):
    rows = tiny_model.test_rows
    # The evaluate stage's code path: stored frames -> ClipDataset -> batches -> mean softmax.
    dataset = ClipDataset(rows, tiny_model.frames, tiny_model.prep, train=False, num_clips=3)
    logits, labels, videos = predict_clips(predictor.model.module,
                                           make_loader(dataset, 32, False, 0, 0), torch.device("cpu"))
    evaluated, _ = video_scores(logits, labels, videos)
    correct = 0
    for i, row in enumerate(rows):
        video = tiny_model.videos / row["source"]
        sampled = read_frames(video, predictor.prep.source_frames, predictor.prep.short_side)
        stored = load_frames(tiny_model.frames / row["frames"]).permute(0, 2, 3, 1).numpy()
        assert np.array_equal(jpeg_round_trip(sampled.array, predictor.prep.jpeg_quality), stored)
        clips = torch.stack([dataset[3 * i + c][0] for c in range(3)])
        # The model's exact input: prediction's numpy transform gives training's torch tensor.
        assert np.array_equal(predictor.clip_batch(sampled.array), clips.numpy())
        predicted = predictor.predict_file(video).probabilities
        assert np.abs(predicted - evaluated[i].numpy()).max() <= PROBABILITY_TOLERANCE, row["id"]
        correct += int(predicted.argmax()) == row["label"]
    assert correct >= len(rows) - 2  # and it is a model worth serving


def test_checkpoints_from_before_jpeg_quality_was_recorded_still_load(tiny_model):
    old = tiny_model.prep.to_dict()
    del old["jpeg_quality"]
    assert Preprocessing.from_dict(old).jpeg_quality == 90  # all of them were stored at 90


def test_json_prints_one_object_per_video(tiny_model, capsys):
    rows = tiny_model.test_rows[::5]
    code, out, err = run(capsys, *(tiny_model.videos / r["source"] for r in rows),
                         "--model", tiny_model.checkpoint, "--json", "--topk", "2")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == len(rows)
    for line, row in zip(lines, rows):
        obj = json.loads(line)
        assert set(obj) == {"video", "model", "topk", "frames_used", "seconds"}
        assert obj["video"] == str(tiny_model.videos / row["source"]) and obj["model"] == "tiny"
        assert [set(t) for t in obj["topk"]] == [{"class", "probability"}] * 2
        probabilities = [t["probability"] for t in obj["topk"]]
        assert probabilities == sorted(probabilities, reverse=True) and 0 <= probabilities[1]
        assert sum(probabilities) <= 1 + 1e-6
        assert obj["topk"][0]["class"] == row["class"]
        assert obj["frames_used"] == 12 and obj["seconds"] > 0  # 3 clips x 6 of 12 stored frames


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    return path


def _no_frames(path: Path) -> Path:
    return write_video(path, flat(64, 48, []))  # the header, with its video stream, and not one frame


def _text(path: Path) -> Path:
    path.write_text("just notes\n")
    return path


def _empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


@pytest.mark.parametrize("make, name, problem", [
    (_text, "notes.mp4", "not a readable video"),
    (_empty, "empty.avi", "empty file"),
    (_audio_only, "sound.wav", "no video stream"),
    (_no_frames, "nothing.avi", "no decodable video frame"),
    (lambda p: p, "missing.avi", "no such file"),
], ids=["text", "empty", "audio-only", "zero-frames", "missing"])
def test_a_bad_input_is_one_line_naming_the_file_and_exit_2(tiny_model, tmp_path, capsys, make,
                                                            name, problem):
    bad = make(tmp_path / name)
    code, out, err = run(capsys, bad, "--model", tiny_model.checkpoint)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and f"{bad}: {problem}" in err


def test_good_inputs_are_predicted_even_when_others_fail(tiny_model, tmp_path, capsys):
    bad = tmp_path / "renamed.avi"
    bad.write_text("not a video")
    good = tiny_model.videos / tiny_model.test_rows[0]["source"]
    code, out, err = run(capsys, bad, good, "--model", tiny_model.checkpoint, "--json")
    assert code == 2  # something failed ...
    assert [json.loads(line)["video"] for line in out.splitlines()] == [str(good)]  # ... not all
    assert str(bad) in err and str(good) not in err


def _timeline(out: str) -> list[dict]:
    rows = list(csv.DictReader(io.StringIO(out)))
    return [{**r, "start": float(r["start"]), "end": float(r["end"]),
             "probability": float(r["probability"])} for r in rows]


# Windows of 2 s, as long as the tiny model's training clips (1 to 2 s): on 1 s windows it
# confused MoveLeft with MoveUp once the kernels were pinned for AMD CPUs (a weak model's
# draw), and this test is about the timeline, not about that model's accuracy.
TIMELINE_WINDOW = ["--window", "2.0", "--stride", "0.5"]


def test_timeline_changes_class_near_the_boundary(tiny_model, two_classes, capsys):
    code, out, _ = run(capsys, two_classes, "--model", tiny_model.checkpoint, "--timeline",
                       *TIMELINE_WINDOW)
    assert code == 0 and out.splitlines()[0] == "start,end,class,probability"
    rows = _timeline(out)
    assert [r["start"] for r in rows] == [0.5 * k for k in range(5)]  # 4 s: the last ends at 4.0
    assert rows[-1]["end"] == pytest.approx(4.0)
    assert rows[0]["class"] == "MoveLeft" and rows[-1]["class"] == "MoveUp"
    switch = next(r for r in rows if r["class"] == "MoveUp")
    assert abs((switch["start"] + switch["end"]) / 2 - 2.0) <= 0.5  # the boundary is at 2 s
    assert all(r["class"] == "MoveUp" for r in rows[rows.index(switch):])
    assert all(0 < r["probability"] <= 1 for r in rows)


def test_timeline_reads_an_http_stream_like_the_file(tiny_model, two_classes, server, capsys):
    server.files["live.avi"] = two_classes.read_bytes()
    args = ["--model", tiny_model.checkpoint, "--timeline", "--window", "1.0", "--stride", "0.5"]
    _, from_file, _ = run(capsys, two_classes, *args)
    code, from_url, err = run(capsys, server.url("live.avi"), *args)
    assert code == 0, err
    assert from_url == from_file


def test_windows_hold_only_one_windows_frames_however_long_the_input():
    frame_bytes = 32 * 32 * 3

    def an_hour_at_25_fps():
        for i in range(25 * 3600):
            yield i / 25, np.full((32, 32, 3), i % 256, np.uint8)

    tracemalloc.start()
    try:
        count = 0
        for start, end, held in windows(an_hour_at_25_fps(), window=2.0, stride=1.0):
            assert len(held) == 50 or end > 3599 and start == 3598  # 2 s at 25 fps, the last too
            count += 1
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 3599
    assert peak < 200 * frame_bytes  # a few windows' worth; all frames would be 90,000


def test_windows_edge_cases():
    timed = [(i / 10, i) for i in range(15)]  # 1.5 s at 10 fps
    ((start, end, held),) = windows(iter(timed), 2.0, 1.0)  # shorter than a window: one window
    assert (start, end, held) == (0.0, pytest.approx(1.5), list(range(15)))
    gappy = [(t, t) for t in (0.0, 0.5, 5.0, 5.5)]  # nothing between 1 and 5 s: no empty windows
    assert [h for _, _, h in windows(iter(gappy), 1.0, 1.0)] == [[0.0, 0.5], [5.0, 5.5]]
    with pytest.raises(ValueError, match="positive"):
        list(windows(iter(timed), 0.0, 1.0))


def test_annotate_writes_every_frame_with_its_label(tiny_model, two_classes, tmp_path, capsys):
    out = tmp_path / "out" / "annotated.mp4"
    code, _, err = run(capsys, two_classes, "--model", tiny_model.checkpoint, "--annotate", out,
                       "--window", "1.0", "--stride", "0.5")
    assert code == 0 and f"wrote {out} (100 frames)" in err
    assert [p.name for p in out.parent.iterdir()] == ["annotated.mp4"]  # no temporary left
    with av.open(str(out)) as c:
        written = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with av.open(str(two_classes)) as c:
        source = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(written) == len(source) == 100
    assert written[0].shape == source[0].shape
    corner = (slice(0, 6), slice(0, 20))  # inside the label's dark box
    for w, s in zip(written, source):
        assert w[corner].mean() < 40 < s[corner].mean()  # the label is on every frame
    assert np.abs(written[50][24:].astype(int) - source[50][24:]).mean() < 12  # the picture is kept
    # The label follows the timeline: MoveLeft's box is not MoveUp's.
    box = (slice(0, 16), slice(0, 64))
    assert np.abs(written[5][box].astype(int) - written[95][box]).mean() > 5


def test_timeline_and_annotate_take_one_video(tiny_model, two_classes, capsys):
    code, _, err = run(capsys, two_classes, two_classes, "--model", tiny_model.checkpoint, "--timeline")
    assert code == 2 and "take one VIDEO" in err


def test_a_stream_that_changes_resolution_still_gives_frames_of_one_size(tmp_path):
    """Found by the upload fuzz test: a corrupt header mid-stream changed the frame size."""
    def grey(width: int, height: int, level: int) -> bytes:
        return write_video(tmp_path / f"{width}.m4v", flat(width, height, [level] * 10), codec="mpeg4",
                           container="m4v").read_bytes()

    both = tmp_path / "both.m4v"  # a raw MPEG-4 stream: the second half has a new size
    both.write_bytes(grey(64, 48, 50) + grey(96, 96, 200))
    r = read_frames(both, 8, 32)
    assert r.array.shape == (8, 32, 42, 3) and r.decoded == 20  # all as the first frame's 4:3
    np.testing.assert_allclose(r.array.reshape(8, -1).mean(1), [50] * 4 + [200] * 4, atol=4)
