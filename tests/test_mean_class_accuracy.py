"""Mean class accuracy (issue 24, point 3): exact, beside the overall accuracy in the validation
evaluation, the seed summary and the results table, with a per-class table worst first.

A constructed imbalanced confusion, where it differs from the overall accuracy: 10 videos of
class A (9 right), 2 of B (1 right). Overall 10/12 = 83.3%; mean class (9/10 + 1/2) / 2 = 70%.
"""

from __future__ import annotations

import json
from fractions import Fraction

import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from har.engine import class_counts, evaluate, mean_class_accuracy
from har.report import per_class_table, results_table
from har.seed_summary import summarise
from tables import markdown_rows

LABELS = [0] * 10 + [1] * 2
PREDICTED = [0] * 9 + [1] + [1, 0]


def test_an_imbalanced_confusion_differs_from_the_overall_accuracy():
    correct, total = class_counts(torch.tensor(PREDICTED), torch.tensor(LABELS), 3)
    assert (correct, total) == ([9, 1, 0], [10, 2, 0])  # class 2 absent: no accuracy, not 0
    assert mean_class_accuracy(correct, total) == 0.7
    overall = sum(p == y for p, y in zip(PREDICTED, LABELS)) / len(LABELS)
    assert overall == pytest.approx(10 / 12) and overall != 0.7
    # All-majority: 10/12 overall, but exactly chance (1/2) by class.
    correct, total = class_counts(torch.zeros(12, dtype=torch.long), torch.tensor(LABELS), 2)
    assert mean_class_accuracy(correct, total) == 0.5


def test_balanced_classes_give_the_overall_accuracy_exactly():
    # 3 classes of 7: any counts give float(correct / 21), bit for bit, the float the
    # rational arithmetic rounds once (a float mean of 1/7-ths could round otherwise).
    for correct in ([7, 0, 0], [1, 2, 3], [6, 5, 4], [7, 7, 6]):
        assert mean_class_accuracy(correct, [7, 7, 7]) == float(Fraction(sum(correct), 21))


class Identity(nn.Module):
    """A fixed 'model': its input is the logits."""

    def forward(self, x):
        return x


def test_the_validation_evaluation_returns_per_class_counts():
    logits = torch.nn.functional.one_hot(torch.tensor(PREDICTED), 2).float() * 5
    data = TensorDataset(logits, torch.tensor(LABELS), torch.arange(len(LABELS)))
    metrics = evaluate(Identity(), DataLoader(data, batch_size=5), torch.device("cpu"))
    assert metrics["class_correct"] == [9, 1] and metrics["class_total"] == [10, 2]
    assert metrics["mean_class_top1"] == 0.7
    assert metrics["top1"] == pytest.approx(10 / 12)


def run(seed: int, mca: float) -> dict:
    return {"seed": seed, "input": {"frames": 4}, "params": {"total": 1},
            "protocol": {"clips": 3, "crops": 1},
            "test": {"videos": 12, "clips": 36, "clip_top1": 0.8, "clip_top5": 1.0,
                     "video_top1": 0.8, "video_mean_class_top1": mca, "loss": 0.5},
            "train": {"epochs": 3, "best_epoch": 2, "train_top1": 0.9, "val_top1": 0.8},
            "per_class_video_top1": {"A": 0.9, "B": 2 * mca - 0.9}}


def test_the_seed_summary_has_its_mean_and_std():
    curves = pd.DataFrame({s: [0.5, 0.7] for s in (0, 1, 2)}).rename_axis("epoch")
    s = summarise([run(0, 0.6), run(1, 0.7), run(2, 0.8)], curves)
    assert s["mean"]["test"]["video_mean_class_top1"] == pytest.approx(0.7)
    assert s["std"]["test"]["video_mean_class_top1"] == pytest.approx(0.1)
    assert s["per_seed"]["1"]["test"]["video_mean_class_top1"] == pytest.approx(0.7)
    assert s["protocol"] == {"clips": 3, "crops": 1}
    # Metrics of runs evaluated before it existed summarise to null, not an error.
    old = [run(0, 0.6), run(1, 0.7)]
    for r in old:
        del r["test"]["video_mean_class_top1"]
    assert summarise(old, curves[[0, 1]])["mean"]["test"]["video_mean_class_top1"] is None


def summary(per_class: dict[str, float], mca: float | None = 0.7) -> dict:
    return {"seeds": [0, 1], "epochs": 5, "test_videos": 12,
            "input": {"frames": 8, "eval_frames": 8, "height": 32, "width": 32},
            "params": {"total": 1e6, "trainable": 1e6},
            "mean": {"test": {"clip_top1": 0.8, "clip_top5": 1.0, "video_top1": 0.83,
                              "video_mean_class_top1": mca, "loss": 0.5},
                     "train": {"best_epoch": 3, "train_top1": 0.9, "val_top1": 0.8}},
            "std": {"test": {"clip_top1": 0.01, "clip_top5": 0.0, "video_top1": 0.02,
                             "video_mean_class_top1": 0.05, "loss": 0.1},
                    "train": {"best_epoch": 0.5, "train_top1": 0.01, "val_top1": 0.02}},
            "ci95": {"video_top1": [0.6, 0.9], "clip_top1": [0.6, 0.9]},
            "per_class_video_top1": per_class}


def test_the_results_table_shows_it_beside_video_accuracy():
    header, row = markdown_rows(results_table({"m": summary({"A": 0.9, "B": 0.5})}))
    cells = dict(zip(header, row))
    assert header.index("mean class acc (video)") == header.index("test acc (video)") + 1
    assert cells["mean class acc (video)"] == "70.0 ± 5.0%"
    assert cells["test acc (video)"] == "83.0 ± 2.0%"
    # Metrics written before it was measured: a dash, not an error.
    header, row = markdown_rows(results_table({"m": summary({"A": 1.0}, mca=None)}))
    assert dict(zip(header, row))["mean class acc (video)"] == "–"


def test_the_per_class_table_is_worst_first():
    metrics = {"a": summary({"Good": 1.0, "Bad": 0.1, "Mid": 0.5}),
               "b": summary({"Good": 0.9, "Bad": 0.3, "Mid": 0.8})}
    predictions = {"a": pd.DataFrame({"video": list("xyzw"), "actual": ["Good", "Good", "Bad", "Mid"],
                                      "predicted": ["Good"] * 4, "seed": ["0"] * 4})}
    rows = markdown_rows(per_class_table(metrics, predictions))
    assert rows[0] == ["class", "test videos", "`a`", "`b`"]
    assert rows[1:] == [["Bad", "1", "10.0%", "30.0%"], ["Mid", "1", "50.0%", "80.0%"],
                        ["Good", "2", "100.0%", "90.0%"]]
