"""End to end: `dvc repro` on the tiny profile in a scratch copy of the repository."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from har.config import load_params

BIN = Path(sys.executable).parent  # dvc and har of this environment


def run(cmd, cwd, check=True):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture
def repo(tiny_repo):
    """The project's files as git sees them, tiny preset applied, after one `dvc repro` (conftest)."""
    return tiny_repo


METRICS_SCHEMA = {
    "input": {"frames", "eval_frames", "height", "width"},
    "test": {"clip_top1", "clip_top5", "video_top1", "loss", "clips", "videos"},
    "train": {"best_epoch", "epochs", "train_top1", "val_top1", "seconds"},
    "params": {"total", "trainable"},
}


def test_every_declared_output_exists(repo):
    models = list(load_params(repo / "params.yaml").models)
    expected = ["data/raw/videos", "data/raw/splits/classInd.txt", "data/manifest.csv",
                "data/splits/train.csv", "data/splits/val.csv", "data/splits/test.csv",
                "reports/results.md", "reports/curves.png"]
    for m in models:
        expected += [f"models/pretrained/{m}/weights.json", f"data/features/{m}/info.json",
                     f"models/{m}/model.pt", f"metrics/{m}.json", f"metrics/confusion/{m}.csv",
                     f"metrics/train/{m}/metrics.json",
                     f"metrics/train/{m}/plots/metrics/val/top1.tsv"]
    missing = [p for p in expected if not (repo / p).exists()]
    assert not missing
    frames = list((repo / "data/frames").rglob("*.npz"))
    assert len(frames) == len(list((repo / "data/raw/videos").rglob("*.avi")))  # one file per video
    assert not list(repo.rglob("*.tmp"))  # no leftovers of atomic writes
    assert (repo / "reports/curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_metrics_have_the_schema(repo):
    params = load_params(repo / "params.yaml")
    test_videos = len((repo / "data/splits/test.csv").read_text().strip().splitlines()) - 1
    for m in params.models:
        metrics = json.loads((repo / f"metrics/{m}.json").read_text())
        for section, keys in METRICS_SCHEMA.items():
            assert keys <= set(metrics[section]), (m, section)
        t = metrics["test"]
        assert t["videos"] == test_videos and t["clips"] == test_videos * params.eval.clips
        assert 0 <= t["clip_top1"] <= t["clip_top5"] <= 1
        assert set(metrics["per_class_video_top1"]) == set(params.dataset.synthetic.classes)
        assert 1 <= metrics["train"]["best_epoch"] <= params.train_config(m).epochs
        assert metrics["params"]["trainable"] <= metrics["params"]["total"]
    table = (repo / "reports/results.md").read_text()
    assert all(f"`{m}`" in table for m in params.models)


def test_frozen_encoder_trains_on_its_feature_cache(repo):
    info = json.loads((repo / "data/features/frozen_tsn/info.json").read_text())
    assert info["cached"] is True
    train_rows = len((repo / "data/splits/train.csv").read_text().strip().splitlines()) - 1
    assert len(info["videos"]["train"]) == train_rows
    assert torch.load(repo / "models/frozen_tsn/model.pt", weights_only=True)["feature_cache"] is True
    not_cached = json.loads((repo / "data/features/cnn3d/info.json").read_text())
    assert not_cached["cached"] is False and not (repo / "data/features/cnn3d/train.npy").exists()


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
    assert "clip_top1" in shown
    before = json.loads((repo / "metrics/cnn3d.json").read_text())
    run(["dvc", "repro", "-f", "-s", "train@cnn3d", "evaluate@cnn3d"], repo)
    after = json.loads((repo / "metrics/cnn3d.json").read_text())
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
