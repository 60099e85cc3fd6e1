"""benchmarks.predict runs `har predict` and `har serve` as real processes and reports a
well-formed result (timings are printed for the README, never asserted)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from commands import run_benchmark


def test_quick_run_measures_the_cli_the_server_and_its_memory(tmp_path, videos):
    out = tmp_path / "predict.json"
    upload_folders = set(Path(tempfile.gettempdir()).glob("har-serve-*"))
    done = run_benchmark("predict", "--quick", "--repeats", "1", "--requests", "1", "--json", out)
    # The benchmark stops `har serve` with SIGTERM: its upload folder goes with it.
    assert set(Path(tempfile.gettempdir()).glob("har-serve-*")) == upload_folders
    result = json.loads(out.read_text())
    assert result["benchmark"] == "predict" and result["quick"] is True
    assert result["config"]["model_note"] == "untrained, small"  # never a dvc repro output
    for key in ("cli", "load", "predict"):
        assert result[key]["n"] == 1 and result[key]["median_s"] > 0
    api = result["api"]
    assert (api["clients"], api["requests_per_client"], api["latency"]["n"]) == (8, 1, 8)
    assert 0 < api["latency"]["median_s"] <= api["latency"]["p95_s"] <= api["latency"]["max_s"]
    assert api["rss_loaded_mb"] > 100 and api["rss_peak_mb"] >= api["rss_loaded_mb"]
    assert "har serve peak RSS" in done.stdout  # the table
