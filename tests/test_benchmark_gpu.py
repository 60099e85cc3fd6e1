"""benchmarks.gpu --quick runs on the CPU end to end, as a person runs it (no kernel-pinning
variables, no PYTHONPATH: tests/commands.py); every row trained through the real code (the
optimiser steps of har.engine.train_one_epoch changed every trainable tensor, the stages);
never a timing assertion."""

from __future__ import annotations

import json
import math

import pytest
import torch

from commands import run_benchmark

pytestmark = pytest.mark.slow  # the GPU check's three parts on the CPU, --quick

VARIANTS = {"fp32": (False, False, False), "amp": (True, False, False),
            "channels_last": (False, True, False), "compile": (False, False, True),
            "amp+channels_last+compile": (True, True, True)}


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One --quick run as a person runs it (two model families keep it short): (stdout, result)."""
    out = tmp_path_factory.mktemp("gpu") / "gpu.json"
    done = run_benchmark("gpu", "--quick", "--models", "cnn3d,crnn", "--json", out, timeout=None)
    return done.stdout, json.loads(out.read_text())


def _rows(result, section):
    return [r for r in result["rows"] if r["section"] == section]


def _well_formed(stats):
    assert stats["min"] <= stats["median"] <= stats["max"] and stats["min"] > 0


def test_every_row_is_in_the_table_and_nothing_failed(quick):
    stdout, result = quick
    assert result["benchmark"] == "gpu" and result["quick"] is True and result["errors"] == 0
    assert result["config"]["device"] == "cpu" and "GPU check (quick)" in stdout
    lines = stdout.splitlines()
    for r in result["rows"]:
        assert not r["error"], r
        assert any(line.startswith(r["section"]) and r["setting"][:40] in line and
                   r["model"][:30] in line for line in lines), r
    assert {r["section"] for r in result["rows"]} == {"ceiling", "loader", "decode", "e2e"}


def test_ceiling_rows_trained_every_weight_through_train_one_epoch(quick):
    _, result = quick
    rows = _rows(result, "ceiling")
    assert [(r["model"], r["setting"]) for r in rows] == [
        (m, v) for m in ("cnn3d", "crnn") for v in VARIANTS]
    for r in rows:
        # Every optimiser step is taken inside train_one_epoch: warm-up plus timed batches,
        # and they trained: each trainable tensor moved (not a step of a copy, nor of nothing).
        assert r["steps"] == r["expected_steps"] == 2
        assert r["changed_tensors"] == r["trainable_tensors"] > 0
        assert math.isfinite(r["loss"]) and r["peak_mb"] is None  # no GPU memory on the CPU
        _well_formed(r["clips_per_s"])
        amp, channels_last, compiled = VARIANTS[r["setting"]]
        assert r["applied"] == {"amp": None, "channels_last": channels_last,
                                "compile": "eager" if compiled else None}
    by = {(r["model"], r["setting"]): r for r in rows}
    for (model, variant), r in by.items():
        if variant != "fp32":
            fp32 = by[(model, "fp32")]["clips_per_s"]["median"]
            assert r["baseline"] == "fp32"
            assert math.isclose(r["ratio"], r["clips_per_s"]["median"] / fp32)


def test_loader_rows_feed_the_same_step_from_frames_files(quick):
    _, result = quick
    ceiling, *fed = _rows(result, "loader")
    assert ceiling["setting"].startswith("ceiling") and ceiling["model"] == "cnn3d"
    assert [r["workers"] for r in fed] == [0, 2]
    for r in fed:
        assert r["steps"] == r["expected_steps"] == 2  # the loader's 2 batches, one epoch
        assert math.isfinite(r["loss"])
        _well_formed(r["clips_per_s"])
        _well_formed(r["loader_alone"])
        assert r["baseline"] == "ceiling"
        assert math.isclose(r["ratio"], r["clips_per_s"]["median"] / ceiling["clips_per_s"]["median"])
    cpu, device = _rows(result, "decode")
    assert cpu["input"] == device["input"] and cpu["input"][0] == 3  # decoded (3, H, W) frames
    assert math.isclose(device["ratio"], device["clips_per_s"]["median"] / cpu["clips_per_s"]["median"])


def test_stages_train_and_evaluate_and_the_checkpoint_predicts_on_cpu(quick):
    _, result = quick
    rows = _rows(result, "e2e")
    assert [r["setting"] for r in rows] == ["stage", "torchrun x1"]
    for r in rows:
        assert (r["model"], r["processes"], r["epochs"], r["device"]) == ("cnn3d", 1, 1, "cpu")
        assert 0 <= r["cpu_prediction"] < 4 and 0 <= r["video_top1"] <= 1


def test_measuring_path_imports_no_dvc(quick):
    _, result = quick
    imported = set(result["measuring_path_packages"])
    assert {"torch", "numpy", "simplejpeg", "yaml"} <= imported  # the audit sees har's imports
    assert not imported & {"dvc", "dvclive", "flask", "matplotlib"}
    assert result["outside_measuring_path"] == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the refusal "
                    "is for machines without it")
def test_without_cuda_it_refuses_unless_quick():
    done = run_benchmark("gpu", check=False)
    assert done.returncode != 0
    assert "CUDA is not available" in done.stderr and "--quick" in done.stderr
    assert "Traceback" not in done.stderr
