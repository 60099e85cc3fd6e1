"""benchmarks.onnx_runtime measures .pt and .onnx side by side and reports well-formed figures
(timings are printed for the README, never asserted)."""

from __future__ import annotations

import json

from commands import run_benchmark


def test_quick_run_puts_every_onnx_figure_beside_its_torch_baseline(tmp_path, videos):
    out = tmp_path / "onnx_runtime.json"
    done = run_benchmark("onnx_runtime", "--quick", "--repeats", "1", "--requests", "1", "--json", out)
    result = json.loads(out.read_text())
    assert result["benchmark"] == "onnx_runtime" and result["config"]["model_note"] == "untrained, small"
    assert result["config"]["onnx_max_difference"] <= 1e-4
    for kind in ("torch", "onnx"):
        k = result["kinds"][kind]
        assert len(k["cli_s"]) == len(k["cli_cpu_s"]) == len(k["load_s"]) == 1
        assert len(k["inference_s"]) == 5 and 0 < k["cli_cpu_s"][0]
        assert k["api"]["latency"]["n"] == 8 and k["api"]["rss_loaded_mb"] > 0
    assert result["kinds"]["onnx"]["file"] == "model.onnx" and result["kinds"]["torch"]["file"] == "model.pt"
    figures = {f["name"]: f for f in result["figures"]}
    assert len(figures) == 8
    for f in figures.values():
        assert f["median"] > 0 and f["baseline"]["name"] == ".pt on torch" and f["ratio"] > 0
    assert figures["har predict, whole process"]["target"]["value"] == 0.6
    assert figures["har serve RSS, model loaded"]["target"]["value"] == 200
    # The point of the slim path: the server holds no torch (about 500 MB of it).
    assert figures["har serve RSS, model loaded"]["ratio"] < 0.5
    assert "har serve p95, 8 clients" in done.stdout  # the table
