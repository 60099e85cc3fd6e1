"""benchmarks.run --quick runs every section and records well-formed results.json, appending
to its history on a second run (structure only: timings are never asserted)."""

from __future__ import annotations

import json
import subprocess

import pytest

from commands import run_benchmark

pytestmark = pytest.mark.slow  # every benchmark section, --quick, in child processes

SECTIONS = ["training", "predict", "dvc_overhead"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return run_benchmark("run", *args, check=False)


@pytest.fixture(scope="module")
def quick(tmp_path_factory, fixtures):  # predict needs ../shared/fixtures' UCF101 clip
    out = tmp_path_factory.mktemp("bench") / "results.json"
    done = _run("--quick", "--output", str(out), "--note", "first")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out, done.stdout


def _check_figure(f: dict) -> None:
    for key in ("name", "unit", "median", "min", "max", "values", "baseline", "ratio", "target",
                "met", "busy", "cpu_busy_other", "skipped"):
        assert key in f, (f["name"], key)
    if f["skipped"]:
        assert f["median"] is None and f["met"] is None
        return
    assert f["min"] <= f["median"] <= f["max"], f
    if f["baseline"] is not None:
        b = f["baseline"]
        assert b["min"] <= b["median"] <= b["max"] and f["ratio"] == pytest.approx(f["median"] / b["median"])
    else:
        assert f["ratio"] is None
    if f["target"] is not None:
        assert f["target"]["op"] in (">=", "<=") and f["target"]["of"] in ("ratio", "value")
        assert isinstance(f["met"], bool)
    else:
        assert f["met"] is None


def test_every_section_reports_figures(quick):
    out, stdout = quick
    data = json.loads(out.read_text())
    assert data["schema"] == 1 and data["machine"]["cpu"] and data["machine"]["cores"] >= 1
    assert sorted(data["sections"]) == sorted(SECTIONS)
    for name in SECTIONS:
        section = data["sections"][name]
        assert section["quick"] is True and not section.get("error"), section.get("error")
        assert section["figures"], name
        for f in section["figures"]:
            _check_figure(f)
    names = {name: [f["name"] for f in data["sections"][name]["figures"]] for name in SECTIONS}
    assert "har predict, whole process" in names["predict"]
    full = next(f for f in data["sections"]["dvc_overhead"]["figures"] if f["name"].startswith("full dvc repro"))
    assert full["skipped"] == "not run (--full-repro)"
    assert "all figures" in stdout and "total runtime" in stdout
    assert len(data["history"]) == 1 and data["history"][0]["note"] == "first"


def test_a_second_run_appends_to_the_history(quick):
    out, _ = quick
    before = json.loads(out.read_text())
    done = _run("--quick", "--only", "training", "--output", str(out), "--note", "second")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data = json.loads(out.read_text())
    assert [h["note"] for h in data["history"]] == ["first", "second"]
    assert list(data["history"][1]["sections"]) == ["training"]
    assert data["history"][0] == before["history"][0]
    # Only the section that ran is replaced, by this run's result; the others keep their earlier one.
    assert data["sections"]["predict"] == before["sections"]["predict"]
    training, ran = data["sections"]["training"], data["history"][1]
    assert training["measured_at"] == ran["time"] != before["sections"]["training"]["measured_at"]
    assert training["seconds"] == ran["sections"]["training"]["seconds"]
    assert training["seconds"] != before["sections"]["training"]["seconds"]
    for f in data["history"][1]["sections"]["training"]["figures"]:
        assert {"median", "min", "max", "ratio", "target", "met"} <= set(f)


def test_unknown_section_is_refused():
    done = _run("--only", "training,nope", "--output", "/dev/null")
    assert done.returncode != 0 and "unknown section" in done.stderr
