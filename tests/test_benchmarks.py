"""benchmarks/feature_cache.py runs and reports a well-formed result (no timing assertions)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    """benchmarks/ is a folder of scripts, not a package: load one by path."""
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def feature_cache():
    return _load("feature_cache")


@pytest.fixture(scope="module")
def quick_run(feature_cache, tmp_path_factory):
    """One quick run through the command line, made smaller still: it only has to run."""
    out = tmp_path_factory.mktemp("bench") / "sub" / "feature_cache.json"
    code = feature_cache.main(["--quick", "--repeats", "2", "--videos", "4", "--crop", "32",
                               "--threads", "1", "--json", str(out)])
    assert code == 0
    return out


def test_json_is_written_when_asked(quick_run):
    assert quick_run.is_file()
    result = json.loads(quick_run.read_text())
    assert result["benchmark"] == "feature_cache" and result["quick"] is True


def test_result_structure_and_sanity(quick_run):
    result = json.loads(quick_run.read_text())
    cfg = result["config"]
    assert (cfg["videos"], cfg["crop"], cfg["repeats"], cfg["threads"]) == (4, 32, 2, 1)
    assert (cfg["arch"], cfg["depth"], cfg["freeze"], cfg["pretrained"]) == ("resnet_crnn", 18, "backbone", False)
    assert 0 < cfg["trainable_params"] < cfg["params"]
    for path in ("live", "cached"):
        s = result[path]
        assert len(s["epochs_s"]) == cfg["repeats"]
        assert all(t > 0 for t in s["epochs_s"] + s["cpu_epochs_s"])
        assert len(s["cpu_epochs_s"]) == cfg["repeats"]
        assert s["min_s"] <= s["median_s"] <= s["max_s"]
        assert (s["min_s"], s["max_s"]) == (min(s["epochs_s"]), max(s["epochs_s"]))
    assert math.isclose(result["speedup"], result["live"]["median_s"] / result["cached"]["median_s"])
    assert math.isclose(result["cpu_speedup"],
                        result["live"]["cpu_median_s"] / result["cached"]["cpu_median_s"])
    assert result["meets_target"] == (result["speedup"] >= result["target_speedup"] == 10)
    cache = result["cache"]
    assert cache["build_s"] > 0 and cache["load_s"] > 0
    # The cache covers every train video: one row per stored frame of each.
    assert cache["all_train_videos"] is True
    assert cache["videos"] == cfg["videos"] == result["inputs"]["videos"]
    assert cache["rows"] == cfg["videos"] * cfg["stored_frames"]
    assert cache["dim"] == 512 and cache["bytes"] >= cache["rows"] * cache["dim"] * 4
    machine = result["machine"]
    assert machine["cores"] >= 1 and machine["cpu"] and machine["torch"]
    assert machine["threads"] == 1


def test_break_even(feature_cache, quick_run):
    result = json.loads(quick_run.read_text())
    expected = feature_cache.break_even(result["cache"]["build_s"], result["live"]["median_s"],
                                        result["cached"]["median_s"])
    assert result["break_even_epochs"] == expected
    assert feature_cache.break_even(10.0, 3.0, 1.0) == 5  # 10 + 5 * 1 == 5 * 3
    assert feature_cache.break_even(10.5, 3.0, 1.0) == 6
    assert feature_cache.break_even(0.1, 3.0, 1.0) == 1
    assert feature_cache.break_even(10.0, 1.0, 1.0) is None


def test_table_shows_the_figures(feature_cache, quick_run):
    result = json.loads(quick_run.read_text())
    table = feature_cache.format_table(result)
    assert "speed-up per epoch" in table and f"{result['speedup']:.1f}x" in table
    assert "break-even" in table and "cache build" in table


def test_unknown_option_is_refused(feature_cache):
    with pytest.raises(ValueError, match="unknown option"):
        feature_cache.run(quick=True, repeats=1, vidoes=4)
