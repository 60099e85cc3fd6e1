"""End to end: `dvc repro` on the tiny profile in a scratch copy of the repository."""

import json
import re
import shutil
import statistics

import pytest
import torch
import yaml

from har.config import load_params
from scratch_repo import run  # the same environment as the tiny run (the default threads)

pytestmark = pytest.mark.slow  # the tiny `dvc repro` end to end: minutes


@pytest.fixture
def repo(tiny_repo):
    """The project's files as git sees them, tiny preset applied, after one `dvc repro` (conftest)."""
    return tiny_repo


RUN_SCHEMA = {  # metrics/<model>/seed<k>.json, the evaluate stage's
    "input": {"frames", "eval_frames", "height", "width"},
    "test": {"clip_top1", "clip_top5", "video_top1", "loss", "clips", "videos"},
    "train": {"best_epoch", "epochs", "train_top1", "val_top1"},
    "params": {"total", "trainable"},
}


def test_every_declared_output_exists(repo):
    params = load_params(repo / "params.yaml")
    expected = ["data/params.ok", "data/raw/videos", "data/raw/splits/classInd.txt",
                "data/manifest.csv", "data/splits/train.csv", "data/splits/val.csv",
                "data/splits/test.csv", "reports/results.md", "reports/curves.png"]
    for m in params.models:
        expected += [f"models/pretrained/{m}/weights.json", f"metrics/{m}.json",
                     f"metrics/confusion/{m}.csv", f"metrics/curves/{m}.csv"]
        for s in params.train.seeds:
            expected += [f"data/features/{m}/seed{s}/info.json", f"models/{m}/seed{s}/model.pt",
                         f"models/{m}/seed{s}/test.json", f"models/{m}/seed{s}/test-predictions.csv",
                         f"models/{m}/seed{s}/train/metrics.json",
                         f"models/{m}/seed{s}/train/plots/metrics/val/top1.tsv"]
    missing = [p for p in expected if not (repo / p).exists()]
    assert not missing
    frames = list((repo / "data/frames").rglob("*.npz"))
    assert len(frames) == len(list((repo / "data/raw/videos").rglob("*.avi")))  # one file per video
    assert not list(repo.rglob("*.tmp"))  # no leftovers of atomic writes
    assert (repo / "reports/curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_seed_is_a_run_and_the_summary_is_their_mean_and_spread(repo):
    params = load_params(repo / "params.yaml")
    seeds = params.train.seeds
    assert len(seeds) >= 2  # the tiny profile too: the spread is computed, not assumed
    test_videos = len((repo / "data/splits/test.csv").read_text().strip().splitlines()) - 1
    for m in params.models:
        runs = [json.loads((repo / f"models/{m}/seed{s}/test.json").read_text()) for s in seeds]
        for seed, run in zip(seeds, runs):
            assert run["seed"] == seed
            for section, keys in RUN_SCHEMA.items():
                assert keys <= set(run[section]), (m, section)
            t = run["test"]
            assert t["videos"] == test_videos and t["clips"] == test_videos * params.eval.clips
            assert 0 <= t["clip_top1"] <= t["clip_top5"] <= 1
            assert set(run["per_class_video_top1"]) == set(params.dataset.synthetic.classes)
            assert 1 <= run["train"]["best_epoch"] <= params.train_config(m).epochs
        ckpt = torch.load(repo / f"models/{m}/seed{seeds[0]}/model.pt", weights_only=True)
        assert ckpt["seed"] == seeds[0] and ckpt["model_name"] == m
        summary = json.loads((repo / f"metrics/{m}.json").read_text())
        assert summary["seeds"] == seeds
        video = [r["test"]["video_top1"] for r in runs]
        assert summary["mean"]["test"]["video_top1"] == pytest.approx(statistics.mean(video), abs=1e-6)
        assert summary["std"]["test"]["video_top1"] == pytest.approx(statistics.stdev(video), abs=1e-6)
        assert {str(s): r["test"]["clip_top1"] for s, r in zip(seeds, runs)} == pytest.approx(
            {s: v["test"]["clip_top1"] for s, v in summary["per_seed"].items()}, abs=1e-6)
        low, high = summary["ci95"]["video_top1"]
        assert low <= summary["mean"]["test"]["video_top1"] <= high
        assert summary["plateau"]["epochs"] == min(3, params.train_config(m).epochs)
    table = (repo / "reports/results.md").read_text()
    assert all(f"`{m}`" in table for m in params.models)


def test_frozen_encoder_trains_on_its_feature_cache(repo):
    info = json.loads((repo / "data/features/frozen_tsn/seed0/info.json").read_text())
    assert info["cached"] is True
    train_rows = len((repo / "data/splits/train.csv").read_text().strip().splitlines()) - 1
    assert len(info["videos"]["train"]) == train_rows
    # A random (unpretrained) frozen encoder differs per seed: so does its cache.
    other = json.loads((repo / "data/features/frozen_tsn/seed1/info.json").read_text())
    assert other["encoder"] != info["encoder"]
    ckpt = torch.load(repo / "models/frozen_tsn/seed0/model.pt", weights_only=True)
    assert ckpt["feature_cache"] is True
    not_cached = json.loads((repo / "data/features/cnn3d/seed0/info.json").read_text())
    assert not_cached["cached"] is False and not (repo / "data/features/cnn3d/seed0/train.npy").exists()


def test_second_repro_has_nothing_to_do(repo):
    # Bytecode caches appear in the stages' code folders whenever Python imports har from
    # a clone (not here, where PYTHONDONTWRITEBYTECODE may be set): .dvcignore keeps them out.
    cache = repo / "har" / "models" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "cnn3d.cpython-311.pyc").write_bytes(b"\x00" * 16)
    try:
        out = run(["dvc", "repro"], repo).stdout
    finally:
        shutil.rmtree(cache)
    # Only the listing stage runs (always_changed: it lists a folder dataset's videos), and
    # its list is the same bytes, so nothing after it does.
    assert re.findall(r"^Running stage '([^']+)'", out, re.M) == ["listing/dvc.yaml:listing"]
    assert "is cached - skipping run" not in out


def test_metrics_show_and_outputs_are_pure_functions_of_their_inputs(repo):
    shown = run(["dvc", "metrics", "show", "--json"], repo).stdout
    assert "clip_top1" in shown and "video_top1" in shown
    lock = (repo / "dvc.lock").read_text()
    outputs = ["models/cnn3d/seed1/model.pt", "models/cnn3d/seed1/test.json",
               "models/cnn3d/seed1/test-predictions.csv", "models/cnn3d/seed1/train/metrics.json",
               "models/cnn3d/seed1/train/plots/metrics/val/top1.tsv"]
    before = {p: (repo / p).read_bytes() for p in outputs}
    timing = repo / "timings/cnn3d/seed1-train.json"
    assert json.loads(timing.read_text())["seconds"] > 0  # the time lives apart, in timings/
    timing.unlink()
    # Trained and evaluated again (-f: not restored from the run-cache): the same bytes, so the
    # same dvc.lock, and nothing downstream has to run.
    run(["dvc", "repro", "-f", "-s", "train@cnn3d-1", "evaluate@cnn3d-1"], repo)
    assert {p: (repo / p).read_bytes() for p in outputs} == before
    assert (repo / "dvc.lock").read_text() == lock and timing.is_file()
    out = run(["dvc", "repro"], repo).stdout
    assert re.findall(r"^Running stage '([^']+)'", out, re.M) == ["listing/dvc.yaml:listing"]


def test_unknown_param_fails_the_pipeline_naming_the_key(repo):
    params = repo / "params.yaml"
    original = params.read_text()
    try:
        params.write_text(original + "\ntrian:\n  epochs: 3\n")
        proc = run(["dvc", "repro"], repo, check=False)
        assert proc.returncode != 0
        assert "unknown key(s) trian" in proc.stdout + proc.stderr
    finally:
        params.write_text(original)
