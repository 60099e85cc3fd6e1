"""benchmarks.feature_cache runs and reports a well-formed result (no timing assertions)."""

from __future__ import annotations

import json
import math

import pytest

from commands import python, run_benchmark


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One quick run through the command line, made smaller still: it only has to run.
    (path of its JSON, its stdout: the table)."""
    out = tmp_path_factory.mktemp("bench") / "sub" / "feature_cache.json"
    done = run_benchmark("feature_cache", "--quick", "--repeats", "2", "--videos", "4", "--crop",
                         "32", "--threads", "1", "--json", out)
    return out, done.stdout


def test_json_is_written_when_asked(quick_run):
    out, _ = quick_run
    assert out.is_file()
    result = json.loads(out.read_text())
    assert result["benchmark"] == "feature_cache" and result["quick"] is True


def test_result_structure_and_sanity(quick_run):
    result = json.loads(quick_run[0].read_text())
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


BREAK_EVEN = """
import json, sys
from benchmarks.feature_cache import break_even
r = json.load(open(sys.argv[1]))
print(json.dumps([break_even(r["cache"]["build_s"], r["live"]["median_s"], r["cached"]["median_s"]),
                  break_even(10.0, 3.0, 1.0), break_even(10.5, 3.0, 1.0),
                  break_even(0.1, 3.0, 1.0), break_even(10.0, 1.0, 1.0)]))
"""


def test_break_even(quick_run):
    out, _ = quick_run
    done = python("-c", BREAK_EVEN, str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    recorded, *figures = json.loads(done.stdout)
    assert json.loads(out.read_text())["break_even_epochs"] == recorded
    # 10 + 5 * 1 == 5 * 3; never, when the cache saves nothing per epoch.
    assert figures == [5, 6, 1, None]


def test_table_shows_the_figures(quick_run):
    out, table = quick_run
    result = json.loads(out.read_text())
    assert "speed-up per epoch" in table and f"{result['speedup']:.1f}x" in table
    assert "break-even" in table and "cache build" in table


def test_unknown_option_is_refused():
    done = python("-c", "from benchmarks.feature_cache import run; run(quick=True, repeats=1, vidoes=4)")
    assert done.returncode != 0 and "ValueError: unknown option(s): vidoes" in done.stderr
