"""End to end: `dvc repro` on the tiny profile in a scratch copy of the repository."""

import json
import shutil
import statistics

import pytest
import torch
import yaml

from har.config import load_params
from scratch_repo import run  # the same environment as the tiny run (the default threads)


@pytest.fixture
def repo(tiny_repo):
    """The project's files as git sees them, tiny preset applied, after one `dvc repro` (conftest)."""
    return tiny_repo


RUN_SCHEMA = {  # metrics/<model>/seed<k>.json, the evaluate stage's
    "input": {"frames", "eval_frames", "height", "width"},
    "test": {"clip_top1", "clip_top5", "video_top1", "loss", "clips", "videos"},
    "train": {"best_epoch", "epochs", "train_top1", "val_top1", "seconds"},
    "params": {"total", "trainable"},
}


def test_every_declared_output_exists(repo):
    params = load_params(repo / "params.yaml")
    expected = ["data/params.ok", "data/raw/videos", "data/raw/splits/classInd.txt",
                "data/manifest.csv", "data/splits/train.csv", "data/splits/val.csv",
                "data/splits/test.csv", "reports/results.md", "reports/curves.png"]
    for m in params.models:
        expected += [f"models/pretrained/{m}/weights.json", f"metrics/{m}.json",
                     f"metrics/confusion/{m}.csv"]
        for s in params.train.seeds:
            expected += [f"data/features/{m}/seed{s}/info.json", f"models/{m}/seed{s}/model.pt",
                         f"metrics/{m}/seed{s}.json", f"metrics/{m}/seed{s}-predictions.csv",
                         f"metrics/train/{m}/seed{s}/metrics.json",
                         f"metrics/train/{m}/seed{s}/plots/metrics/val/top1.tsv"]
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
        runs = [json.loads((repo / f"metrics/{m}/seed{s}.json").read_text()) for s in seeds]
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


def test_adding_a_seed_trains_only_that_seed(repo):
    params = repo / "params.yaml"
    original = params.read_text()
    try:
        data = yaml.safe_load(original)
        new = max(data["train"]["seeds"]) + 1
        data["train"]["seeds"].append(new)
        params.write_text(yaml.safe_dump(data, sort_keys=False))
        status = json.loads(run(["dvc", "status", "--json"], repo).stdout)
    finally:
        params.write_text(original)
    changed = {name.split("@")[0] for name in status if "@" in name and not name.endswith(f"-{new}")}
    # The new runs, and what reads every seed; no existing run trains or evaluates again.
    assert changed <= {"features", "aggregate"}
    assert {f"train@cnn3d-{new}", f"evaluate@cnn3d-{new}", "aggregate@cnn3d"} <= set(status)


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
    assert "Data and pipelines are up to date" in out
    assert "Running stage" not in out


def test_metrics_show_and_retraining_is_deterministic(repo):
    shown = run(["dvc", "metrics", "show", "--json"], repo).stdout
    assert "clip_top1" in shown and "video_top1" in shown
    before = json.loads((repo / "metrics/cnn3d/seed1.json").read_text())
    run(["dvc", "repro", "-f", "-s", "train@cnn3d-1", "evaluate@cnn3d-1"], repo)
    after = json.loads((repo / "metrics/cnn3d/seed1.json").read_text())
    for section in ("test", "per_class_video_top1"):
        assert after[section] == before[section]


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
