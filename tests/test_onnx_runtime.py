"""`har export` and .onnx models in `har predict` / `har serve`: the same input tensor as torch,
the same probabilities within 1e-4, the same outputs and errors, and torch never imported."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import har.onnx_export
import tiny_model as tm
from commands import python
from har.cli import main
from har.config import ServeConfig
from har.data import Preprocessing, preprocess_frames
from har.frames import jpeg_round_trip
from har.input_spec import IMAGENET_MEAN, IMAGENET_STD
from har.predict import Predictor
from har.preprocessing import eval_clips
from har.serve import create_app
from har.video import read_frames

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-4  # the bound on |p(.onnx) - p(.pt)|; measured: about 1e-7
FIXTURE_VIDEOS = ["FFMpegCore__input_3sec_rotation_negative_90deg.mp4",
                  "mmaction2__S001C001P001R001A001_rgb.avi", "mmaction2__demo__demo.mp4",
                  "mmaction2__tests_data__test.avi", "mmaction2__tests_data__test.mp4",
                  "torchcodec__nasa_13013.mp4"]


@pytest.fixture(scope="module")
def exported(tiny_model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    assert main(["export", str(tiny_model.checkpoint), str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def both(tiny_model, exported) -> tuple[Predictor, Predictor]:
    return Predictor(tiny_model.checkpoint, clips=3), Predictor(exported, clips=3)


@pytest.fixture(scope="module")
def left_then_up(tmp_path_factory) -> Path:
    """2 s of MoveLeft, then 2 s of MoveUp, in one scene of a group the model never saw."""
    frames = np.concatenate([tm.clip("MoveLeft", 15, 1, frames=50), tm.clip("MoveUp", 15, 1, frames=50)])
    return tm.write_clip(tmp_path_factory.mktemp("concat") / "left_then_up.avi", frames)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([*map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_file_carries_the_classes_and_preprocessing_of_the_checkpoint(both):
    pt, onnx = both
    assert (onnx.name, onnx.arch, onnx.classes, onnx.prep) == (pt.name, pt.arch, pt.classes, pt.prep)
    assert onnx.prep.jpeg_quality == 90 and onnx.prep.layout == "NCTHW"


# A second spec with everything the first lacks: per-frame layout, a non-square crop, an
# evaluation length other than the training one, another normalisation.
OTHER_PREP = Preprocessing(source_frames=12, short_side=32, frames=5, crop=(24, 30),
                           mean=IMAGENET_MEAN, std=IMAGENET_STD, layout="NTCHW", hflip=False,
                           eval_frames=7)


@pytest.mark.parametrize("name", FIXTURE_VIDEOS)
def test_numpy_input_equals_torch_and_onnx_probabilities_equal_pt(both, videos, name):
    pt, onnx = both
    sampled = read_frames(videos / name, pt.prep.source_frames, pt.prep.short_side)
    stored = jpeg_round_trip(sampled.array, pt.prep.jpeg_quality)
    channels_first = torch.from_numpy(stored).permute(0, 3, 1, 2)
    for prep in (pt.prep, OTHER_PREP):
        # har.data's torch transform, which training and the evaluate stage use.
        expected = torch.stack([preprocess_frames(channels_first, prep, c, 3) for c in range(3)])
        assert np.array_equal(eval_clips(stored, prep, 3), expected.numpy()), prep.layout
    assert np.array_equal(onnx.clip_batch(sampled.array), pt.clip_batch(sampled.array))
    p_pt, p_onnx = pt.probabilities(sampled.array), onnx.probabilities(sampled.array)
    assert np.abs(p_onnx - p_pt).max() <= TOLERANCE
    assert abs(float(p_onnx.sum()) - 1) < 1e-5


def test_predict_json_and_errors_are_the_same_for_both_models(tiny_model, exported, tmp_path, capsys):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    inputs = [tiny_model.videos / r["source"] for r in tiny_model.test_rows[::6]] + [bad]
    answers = {}
    for model in (tiny_model.checkpoint, exported):
        code, out, err = run(capsys, "predict", *inputs, "--model", model, "--json", "--topk", "3")
        errors = [line for line in err.splitlines() if line.startswith("har")]  # not warnings
        answers[model.suffix] = code, [json.loads(line) for line in out.splitlines()], errors
    (pt_code, pt_rows, pt_err), (onnx_code, onnx_rows, onnx_err) = answers[".pt"], answers[".onnx"]
    assert pt_code == onnx_code == 2  # the bad input fails, the good ones are predicted
    assert onnx_err == pt_err == [f"har predict: {bad}: not a readable video (Invalid data found "
                                  "when processing input)"]
    assert len(onnx_rows) == len(pt_rows) == len(inputs) - 1
    for a, b in zip(pt_rows, onnx_rows):
        assert {k: v for k, v in a.items() if k not in ("topk", "seconds")} == \
               {k: v for k, v in b.items() if k not in ("topk", "seconds")}
        assert [t["class"] for t in a["topk"]] == [t["class"] for t in b["topk"]]
        assert all(abs(x["probability"] - y["probability"]) <= TOLERANCE
                   for x, y in zip(a["topk"], b["topk"]))


def test_timeline_and_annotate_are_the_same_for_both_models(tiny_model, exported, left_then_up,
                                                           tmp_path, capsys):
    tables = {}
    for model in (tiny_model.checkpoint, exported):
        out_video = tmp_path / f"annotated{model.suffix}.mp4"
        code, out, err = run(capsys, "predict", left_then_up, "--model", model, "--timeline",
                             "--annotate", out_video, "--window", "2.0", "--stride", "0.5")
        assert code == 0 and f"wrote {out_video} (100 frames)" in err
        tables[model.suffix] = list(csv.DictReader(io.StringIO(out)))
    pt, onnx = tables[".pt"], tables[".onnx"]
    assert len(pt) == len(onnx) == 5  # 2 s windows: test_predict.TIMELINE_WINDOW says why
    assert [(r["start"], r["end"], r["class"]) for r in pt] == \
           [(r["start"], r["end"], r["class"]) for r in onnx]
    assert pt[0]["class"] == "MoveLeft" and pt[-1]["class"] == "MoveUp"
    assert all(abs(float(a["probability"]) - float(b["probability"])) <= TOLERANCE
               for a, b in zip(pt, onnx))


def test_serve_answers_the_same_for_both_models(both, left_then_up, tmp_path):
    bodies = []
    for predictor in both:
        client = create_app([predictor], ServeConfig(1.0, 20.0, 2), tmp_path).test_client()
        response = client.post("/api/predict", data={"file": (io.BytesIO(left_then_up.read_bytes()),
                                                              "two.avi"), "timeline": "1"},
                               content_type="multipart/form-data")
        assert response.status_code == 200
        bodies.append(response.get_json())
    pt, onnx = bodies
    assert len(pt["timeline"]["windows"]) == len(onnx["timeline"]["windows"]) == 3
    for a, b in zip([pt, *pt["timeline"]["windows"]], [onnx, *onnx["timeline"]["windows"]]):
        assert [t["class"] for t in a["topk"]] == [t["class"] for t in b["topk"]]
        assert all(abs(x["probability"] - y["probability"]) <= TOLERANCE
                   for x, y in zip(a["topk"], b["topk"]))


def _no_metadata(path: Path, exported: Path) -> Path:
    import onnx

    model = onnx.load(str(exported))
    del model.metadata_props[:]
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("make, message", [
    (lambda p, e: p.write_text("weights?") and p, "not an ONNX model"),
    (_no_metadata, "an ONNX model without har's metadata (no 'har.format'); export it with "
                   "`har export MODEL.pt OUT.onnx`"),
    (lambda p, e: p, "model not found"),
], ids=["text", "no-metadata", "missing"])
def test_a_bad_onnx_file_is_one_line_naming_it_and_exit_2(exported, tiny_model, tmp_path, capsys,
                                                          make, message):
    model = make(tmp_path / "model.onnx", exported)
    video = tiny_model.videos / tiny_model.test_rows[0]["source"]
    code, out, err = run(capsys, "predict", video, "--model", model)
    assert code == 2 and out == "" and err.startswith(f"har: {model}: {message}")
    assert err.count("\n") == 1


def test_onnx_refuses_another_device(exported, tiny_model, capsys):
    code, _, err = run(capsys, "predict", tiny_model.videos / tiny_model.test_rows[0]["source"],
                       "--model", exported, "--device", "cuda")
    assert code == 2 and "runs on the CPU" in err and "needs the .pt checkpoint" in err


def test_export_refuses_a_graph_that_disagrees_with_torch_and_writes_nothing(
        tiny_model, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(har.onnx_export, "TOLERANCE", -1.0)  # any difference is too much
    out = tmp_path / "out" / "tiny.onnx"
    code, _, err = run(capsys, "export", tiny_model.checkpoint, out)
    assert code == 2 and f"{tiny_model.checkpoint}: cnn3d cannot be exported to ONNX: ONNX " \
                         "Runtime's logits differ from torch's by" in err
    assert list(out.parent.iterdir()) == []  # not even a temporary file


def test_export_says_why_the_exporter_failed_and_refuses_other_outputs(tiny_model, tmp_path, capsys,
                                                                      monkeypatch):
    def unsupported(*args, **kwargs):
        raise RuntimeError("Unsupported operator aten::roll\nlong exporter report ...")

    monkeypatch.setattr(torch.onnx, "export", unsupported)
    code, _, err = run(capsys, "export", tiny_model.checkpoint, tmp_path / "tiny.onnx")
    assert code == 2 and err.splitlines()[-1] == (
        f"har: {tiny_model.checkpoint}: cnn3d cannot be exported to ONNX: torch.onnx.export "
        "failed (Unsupported operator aten::roll)")
    code, _, err = run(capsys, "export", tiny_model.checkpoint, tmp_path / "tiny.pt")
    assert code == 2 and "must be a .onnx file" in err
    assert list(tmp_path.iterdir()) == []


def test_the_onnx_path_never_imports_torch(exported, tiny_model, left_then_up, tmp_path):
    """predict (JSON, timeline, annotate) and a serve request, with `import torch` made to fail."""
    video = tiny_model.videos / tiny_model.test_rows[0]["source"]
    script = f"""
import io, sys
sys.modules["torch"] = None  # any `import torch` from here on raises ImportError
from har.cli import main
assert main(["predict", {str(video)!r}, "--model", {str(exported)!r}, "--json"]) == 0
assert main(["predict", {str(left_then_up)!r}, "--model", {str(exported)!r}, "--timeline",
             "--annotate", {str(tmp_path / 'a.mp4')!r}]) == 0
from har.config import ServeConfig
from har.predict import Predictor
from har.serve import create_app
client = create_app([Predictor({str(exported)!r})], ServeConfig(1.0, 20.0, 2),
                    {str(tmp_path)!r}).test_client()
r = client.post("/api/predict", data={{"file": (open({str(video)!r}, "rb"), "v.avi"),
                "timeline": "1"}}, content_type="multipart/form-data")
assert r.status_code == 200, r.get_json()
del sys.modules["torch"]
print("torch imported:", "torch" in sys.modules, sorted(m for m in sys.modules if m.startswith("torch")))
"""
    result = python("-c", script, timeout=120, env={"PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1] == "torch imported: False []"
