"""benchmarks.predict runs `har predict` and `har serve` as real processes, with the same model
as .pt on torch and as .onnx on ONNX Runtime, and reports well-formed figures, each .onnx one
beside its .pt baseline (timings are printed for the README, never asserted)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from commands import run_benchmark

pytestmark = pytest.mark.slow  # an ONNX export, har predict and har serve as processes, --quick


def test_quick_run_puts_every_onnx_figure_beside_its_torch_baseline(tmp_path, videos):
    out = tmp_path / "predict.json"
    upload_folders = set(Path(tempfile.gettempdir()).glob("har-serve-*"))
    done = run_benchmark("predict", "--quick", "--repeats", "1", "--requests", "1", "--json", out)
    # The benchmark stops `har serve` with SIGTERM: its upload folder goes with it.
    assert set(Path(tempfile.gettempdir()).glob("har-serve-*")) == upload_folders
    result = json.loads(out.read_text())
    assert result["benchmark"] == "predict" and result["quick"] is True
    assert result["config"]["model_note"] == "untrained, small"  # never a dvc repro output
    assert result["config"]["onnx_max_difference"] <= 1e-4
    for kind in ("torch", "onnx"):
        k = result["kinds"][kind]
        assert len(k["cli_s"]) == len(k["cli_cpu_s"]) == len(k["load_s"]) == len(k["predict_s"]) == 1
        assert len(k["inference_s"]) == 5 and 0 < k["cli_cpu_s"][0]
        api = k["api"]
        assert (api["clients"], api["requests_per_client"], api["latency"]["n"]) == (8, 1, 8)
        assert 0 < api["latency"]["median_s"] <= api["latency"]["p95_s"] <= api["latency"]["max_s"]
        assert 0 < api["rss_loaded_mb"] <= api["rss_peak_mb"]
    assert result["kinds"]["onnx"]["file"] == "model.onnx" and result["kinds"]["torch"]["file"] == "model.pt"
    assert result["kinds"]["torch"]["api"]["rss_loaded_mb"] > 100  # torch is loaded
    figures = {f["name"]: f for f in result["figures"]}
    assert len(figures) == 9
    for f in figures.values():
        assert f["median"] > 0 and f["baseline"]["name"] == ".pt on torch" and f["ratio"] > 0
    assert figures["har predict, whole process"]["target"]["value"] == 0.6
    assert figures["har serve RSS, model loaded"]["target"]["value"] == 200
    # The point of the slim path: the server holds no torch (about 500 MB of it).
    assert figures["har serve RSS, model loaded"]["ratio"] < 0.5
    assert "har serve p95, 8 clients" in done.stdout  # the table
