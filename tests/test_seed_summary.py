"""har.seed_summary.summarise on hand-made per-seed numbers: the mean and the *sample* standard
deviation (n - 1) of the seeds, each seed's own numbers, no spread from one seed, and the
Wilson interval around the mean over the test videos. In seconds, without a pipeline run."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from har.seed_summary import summarise, wilson_interval

VIDEOS = 200


def run(seed: int, clip_top1: float, loss: float) -> dict:
    """An evaluate stage's metrics/<model>/seed<k>.json, with made-up numbers."""
    return {"seed": seed, "input": {"frames": 4, "crop": 28}, "params": {"lr": 0.001},
            "test": {"videos": VIDEOS, "clips": 3 * VIDEOS, "clip_top1": clip_top1,
                     "clip_top5": 1.0, "video_top1": clip_top1, "loss": loss},
            "train": {"epochs": 3, "best_epoch": seed + 1, "train_top1": 0.9, "val_top1": 0.8,
                      "seconds": 10.0 + seed},
            "per_class_video_top1": {"A": clip_top1, "B": 1 - clip_top1}}


def curves(seeds: list[int]) -> pd.DataFrame:
    """Validation top-1 per epoch (rows) and seed (columns), as val_curves gives it."""
    return pd.DataFrame({s: [0.5, 0.7, 0.8] for s in seeds}).rename_axis("epoch")


def test_the_spread_of_the_seeds_is_their_sample_standard_deviation():
    # 0.5, 0.6 and 0.7: mean 0.6, sample std 0.1 (population std, ddof=0, would be 0.0816).
    summary = summarise([run(0, 0.5, 1.0), run(1, 0.6, 2.0), run(2, 0.7, 4.0)], curves([0, 1, 2]))
    assert summary["seeds"] == [0, 1, 2]
    assert summary["mean"]["test"]["clip_top1"] == pytest.approx(0.6)
    assert summary["std"]["test"]["clip_top1"] == pytest.approx(0.1)
    # Loss 1, 2, 4: squared deviations 16/9 + 1/9 + 25/9 = 42/9, over n - 1 = 2.
    assert summary["mean"]["test"]["loss"] == pytest.approx(7 / 3)
    assert summary["std"]["test"]["loss"] == pytest.approx(math.sqrt(42 / 9 / 2), abs=1e-6)
    assert summary["std"]["train"]["best_epoch"] == pytest.approx(1.0)  # epochs 1, 2, 3
    assert summary["std"]["test"]["clip_top5"] == 0.0  # the same on every seed
    assert summary["per_seed"]["1"]["test"]["clip_top1"] == pytest.approx(0.6)


def test_two_seeds_spread_by_their_difference_over_root_two():
    summary = summarise([run(3, 0.5, 1.0), run(7, 0.7, 1.0)], curves([3, 7]))
    assert summary["seeds"] == [3, 7]
    assert summary["std"]["test"]["video_top1"] == pytest.approx(0.2 / math.sqrt(2), abs=1e-6)


def test_one_seed_has_no_spread_and_the_interval_is_around_the_mean():
    summary = summarise([run(0, 0.6, 1.0)], curves([0]))
    assert summary["std"]["test"]["clip_top1"] is None  # no spread to report, not 0
    assert summary["mean"]["test"]["clip_top1"] == pytest.approx(0.6)
    low, high = summary["ci95"]["clip_top1"]
    assert (low, high) == pytest.approx(wilson_interval(0.6, VIDEOS), abs=1e-6)
    assert low < 0.6 < high and summary["test_videos"] == VIDEOS
