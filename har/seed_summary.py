"""One model's runs over train.seeds, summarised: each seed's numbers, their mean and spread,
and a confidence interval over the test videos.

Why several seeds: one seed on a few hundred test videos is one draw. Two seeds of the
same model differ by a point or more, which is as large as many differences between
models; the mean and the standard deviation over seeds say which differences are real.

The confidence interval is the 95% Wilson score interval of a proportion: the test
accuracy at the seed mean, over the number of test *videos* (clips of one video are not
independent draws, so the clip count would overstate the evidence). It says how far the
accuracy on this test set could be from the accuracy on the population it samples.
"""

from __future__ import annotations

import json
import math

import pandas as pd

from har import paths
from har.curves import read_curve
from har.errors import InputError, MissingFileError

Z_95 = 1.959963984540054  # the standard normal's 97.5% quantile

# The per-seed numbers that are summarised (dotted paths into an evaluate stage's JSON).
SUMMARISED = ("test.clip_top1", "test.clip_top5", "test.video_top1", "test.video_mean_class_top1",
              "test.loss", "train.best_epoch", "train.train_top1", "train.val_top1")
PLATEAU_EPOCHS = 3  # the plateau check: how the last epochs' mean validation accuracy moves


def wilson_interval(accuracy: float, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion `accuracy` observed over `n` trials."""
    if n <= 0:
        raise ValueError(f"an interval needs at least one trial, got n={n}")
    centre = accuracy + z * z / (2 * n)
    half = z * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n))
    denominator = 1 + z * z / n
    return max(0.0, (centre - half) / denominator), min(1.0, (centre + half) / denominator)


def load_runs(model: str, seeds: list[int]) -> list[dict]:
    """Each seed's test metrics (the evaluate stage's models/<model>/seed<k>/test.json)."""
    runs = []
    for seed in seeds:
        path = paths.seed_metrics_file(model, seed)
        if not path.is_file():
            raise MissingFileError(f"{path}: no metrics for model {model!r} with seed {seed} "
                                   f"(run its evaluate stage: dvc repro evaluate@{model}-{seed})")
        runs.append(json.loads(path.read_text()))
    return runs


def seed_curves(model: str, seeds: list[int], split: str = "val", metric: str = "top1"
                ) -> pd.DataFrame:
    """One curve per epoch (rows) and seed (columns), from the train stage's dvclive TSVs."""
    columns = {}
    for seed in seeds:
        tsv = paths.curve_file(model, seed, split, metric)
        if not tsv.is_file():
            raise MissingFileError(f"{tsv}: no {split} {metric} curve for model {model!r} with "
                                   f"seed {seed} (run dvc repro train@{model}-{seed})")
        columns[seed] = read_curve(tsv)
    return pd.DataFrame(columns).rename_axis("epoch")


def val_curves(model: str, seeds: list[int]) -> pd.DataFrame:
    """Validation top-1 per epoch (rows) and seed (columns): what the plateau is read from."""
    return seed_curves(model, seeds, "val", "top1")


def mean_curves(model: str, seeds: list[int]) -> pd.DataFrame:
    """metrics/curves/<model>.csv: per epoch, the seeds' mean of every curve, and the lowest and
    highest seed's validation curves (the report draws the band between them)."""
    table = {}
    for split, metric in (("train", "loss"), ("train", "top1"), ("val", "loss"), ("val", "top1"),
                          ("val", "mean_class_top1")):  # the last: what model selection reads
        curves = seed_curves(model, seeds, split, metric)
        table[f"{split}_{metric}"] = curves.mean(axis=1)
        if split == "val":
            table[f"val_{metric}_min"] = curves.min(axis=1)
            table[f"val_{metric}_max"] = curves.max(axis=1)
    return pd.DataFrame(table).rename_axis("epoch").reset_index()


def summarise(runs: list[dict], curves: pd.DataFrame) -> dict:
    """metrics/<model>.json: every seed's numbers, their mean and std, the interval, the plateau."""
    first = runs[0]
    for run in runs[1:]:
        for key in ("input", "params"):
            if run[key] != first[key]:
                raise InputError(f"seed {run['seed']} has another {key} than seed {first['seed']}: "
                                 "the runs are not of one model")
        if run["test"]["videos"] != first["test"]["videos"]:
            raise InputError(f"seed {run['seed']} was tested on {run['test']['videos']} videos, "
                             f"seed {first['seed']} on {first['test']['videos']}")
        if run.get("protocol") != first.get("protocol"):
            raise InputError(f"seed {run['seed']} was tested with {run.get('protocol')}, seed "
                             f"{first['seed']} with {first.get('protocol')}")
    # A run evaluated before a number existed (video_mean_class_top1) has it as NaN -> null.
    table = pd.json_normalize(runs).set_index("seed").reindex(columns=list(SUMMARISED))
    mean = table.mean()
    # The sample standard deviation (n - 1); with one seed there is no spread to report.
    std = table.std(ddof=1) if len(table) > 1 else pd.Series(float("nan"), index=table.columns)
    videos = first["test"]["videos"]
    per_class = pd.DataFrame([r["per_class_video_top1"] for r in runs]).mean()
    mean_curve = curves.mean(axis=1)
    last = mean_curve.iloc[-PLATEAU_EPOCHS:]
    return {
        "seeds": [int(s) for s in table.index],
        "input": first["input"],
        "params": first["params"],
        "epochs": first["train"]["epochs"],
        "test_videos": videos,
        "test_clips": first["test"]["clips"],
        **({"protocol": first["protocol"]} if "protocol" in first else {}),
        "mean": _nest(mean),
        "std": _nest(std),
        # Wilson over the test videos, at the seed mean (see the module's docstring).
        "ci95": {key: list(map(_round, wilson_interval(mean[f"test.{key}"], videos)))
                 for key in ("clip_top1", "video_top1")},
        "plateau": {"epochs": len(last),
                    "val_top1_range": _round(float(last.max() - last.min())),
                    "val_top1_mean_curve": [_round(v) for v in mean_curve]},
        "per_class_video_top1": {k: _round(v) for k, v in per_class.items()},
        "per_seed": {str(int(seed)): _nest(row) for seed, row in table.iterrows()},
    }


def _round(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 6)


def _nest(flat: pd.Series) -> dict:
    """{"test.loss": x} -> {"test": {"loss": x}}; NaN (no spread) -> null."""
    out: dict = {}
    for key, value in flat.items():
        section, name = key.split(".")
        out.setdefault(section, {})[name] = _round(value)
    return out


def seed_predictions(model: str, seeds: list[int]) -> pd.DataFrame:
    """Every seed's per-video predictions in one table (video, actual, predicted, seed)."""
    frames = []
    for seed in seeds:
        path = paths.seed_confusion_file(model, seed)
        if not path.is_file():
            raise MissingFileError(f"{path}: no predictions for model {model!r} with seed {seed}")
        frames.append(pd.read_csv(path, dtype=str).assign(seed=seed))
    return pd.concat(frames, ignore_index=True)
