"""The results table: what each measured cell means, reported rows, accuracy by action type."""

import json
from pathlib import Path

import pandas as pd
import pytest

from har.config import ReportedResult, load_params
from har.report import action_type_table, input_cell, results_table, video_counts_by_class
from tables import markdown_rows

ROOT = Path(__file__).resolve().parents[1]


def summary(per_class: dict[str, float], seeds=(0, 1, 2)) -> dict:
    """metrics/<model>.json as the aggregate stage writes it (har/seed_summary.py)."""
    spread = len(seeds) > 1
    return {"seeds": list(seeds), "epochs": 5, "test_videos": 336,
            "input": {"frames": 8, "eval_frames": 8, "height": 56, "width": 56},
            "params": {"total": 1.5e6, "trainable": 1.5e6},
            "mean": {"test": {"clip_top1": 0.7, "clip_top5": 0.95, "video_top1": 0.75, "loss": 0.8},
                     "train": {"best_epoch": 3, "train_top1": 0.9, "val_top1": 0.8, "seconds": 30}},
            "std": {"test": {"clip_top1": 0.011, "clip_top5": 0.002, "video_top1": 0.013,
                             "loss": 0.05} if spread else dict.fromkeys(
                                 ("clip_top1", "clip_top5", "video_top1", "loss")),
                    "train": {"best_epoch": 0.5, "train_top1": 0.01, "val_top1": 0.02,
                              "seconds": 1.0}},
            "ci95": {"video_top1": [0.70, 0.79], "clip_top1": [0.65, 0.75]},
            "per_class_video_top1": per_class}


def _pct(mean, std):
    return f"{100 * mean:.1f}%" if std is None else f"{100 * mean:.1f} ± {100 * std:.1f}%"


# What each column shows, written out independently of har/report.py.
MEANINGS = {
    "test acc (clip)": lambda m: _pct(m["mean"]["test"]["clip_top1"], m["std"]["test"]["clip_top1"]),
    "test top-5 (clip)": lambda m: _pct(m["mean"]["test"]["clip_top5"], m["std"]["test"]["clip_top5"]),
    "test acc (video)": lambda m: _pct(m["mean"]["test"]["video_top1"], m["std"]["test"]["video_top1"]),
    "95% CI (video)": lambda m: "{:.1f}–{:.1f}%".format(*(100 * x for x in m["ci95"]["video_top1"])),
    "train acc": lambda m: _pct(m["mean"]["train"]["train_top1"], m["std"]["train"]["train_top1"]),
    "val acc": lambda m: _pct(m["mean"]["train"]["val_top1"], m["std"]["train"]["val_top1"]),
    "test loss": lambda m: (f"{m['mean']['test']['loss']:.3f}" if m["std"]["test"]["loss"] is None
                            else f"{m['mean']['test']['loss']:.3f} ± {m['std']['test']['loss']:.3f}"),
    "seeds": lambda m: str(len(m["seeds"])),
    "params": lambda m: f"{m['params']['total'] / 1e6:.2f} M",
}


def table_cells(text: str) -> dict[str, dict[str, str]]:
    header, *rows = markdown_rows(text)
    return {row[0]: dict(zip(header, row)) for row in rows}


def test_each_cell_shows_what_its_column_says():
    cells = table_cells(results_table({"cnn3d": summary({})}))["`cnn3d`"]
    m = summary({})
    for column, meaning in MEANINGS.items():
        assert cells[column] == meaning(m), column
    assert cells["input (frames x size)"] == "8 x 56" and cells["best epoch"] == "3 / 5"


def test_one_seed_shows_no_spread():
    cells = table_cells(results_table({"m": summary({}, seeds=(0,))}))["`m`"]
    assert cells["test acc (video)"] == "75.0%" and cells["seeds"] == "1"


def test_the_published_table_is_the_committed_metrics():
    """reports/results.md (and so README's block, har/results_check.py) against metrics/*.json:
    a swap of two columns, or of clip and video accuracy, would show here."""
    params = load_params(ROOT / "params.yaml")
    cells = table_cells((ROOT / "reports/results.md").read_text())
    for name in params.models:
        m = json.loads((ROOT / "metrics" / f"{name}.json").read_text())
        row = cells[f"`{name}`"]
        for column, meaning in MEANINGS.items():
            assert row[column] == meaning(m), (name, column)
        assert row["seeds"] == str(len(params.train.seeds))


def test_reported_rows_are_marked_and_sourced():
    reported = [ReportedResult("resnet_crnn", 91.04, "UCF101, as published", "C-RNN paper")]
    table = results_table({"cnn3d": summary({})}, reported)
    row = table_cells(table)["`resnet_crnn`, reported [1]"]
    assert row["test acc (video)"] == "91.04%"
    assert {v for k, v in row.items() if k not in ("model", "test acc (video)")} == {"–"}
    assert "[1] Reported, not measured here: C-RNN paper; UCF101, as published." in table


def test_the_input_cell_shows_a_non_square_crop_and_the_test_length():
    assert input_cell({"frames": 29, "eval_frames": 29, "height": 90, "width": 120}) == "29 x 90x120"
    assert input_cell({"frames": 29, "eval_frames": 19, "height": 90, "width": 120}) == "29 x 90x120, test 19"


def test_accuracy_by_type_weights_classes_by_their_test_videos(tmp_path):
    classes = ["Archery"] * 3 + ["Basketball"] + ["Drumming"]
    rows = "".join(f"v{i},{cls},{cls},{seed}\n" for seed in (0, 1) for i, cls in enumerate(classes))
    (tmp_path / "m.csv").write_text("video,actual,predicted,seed\n" + rows)
    counts = video_counts_by_class(tmp_path, ["m"])  # one seed's videos, not both seeds'
    assert counts["m"].to_dict() == {"Archery": 3, "Basketball": 1, "Drumming": 1}
    table = action_type_table({"m": summary({"Archery": 1.0, "Basketball": 0.0, "Drumming": 0.5})},
                              counts)
    # Sports: (3 x 100% + 1 x 0%) / 4 videos; types without test videos show a dash.
    assert markdown_rows(table)[1] == ["`m`", "–", "–", "–", "50.0%", "75.0%"]
    assert markdown_rows(table)[0] == ["model", "Human-Object Interaction", "Body-Motion Only",
                                       "Human-Human Interaction", "Playing Musical Instruments",
                                       "Sports"]


def test_no_type_table_for_classes_that_are_not_ucf101():
    assert action_type_table({"m": summary({"MoveLeft": 1.0})},
                             {"m": pd.Series({"MoveLeft": 2})}) is None


@pytest.mark.parametrize("column", ["test acc (clip)", "test acc (video)"])
def test_a_swapped_column_would_be_caught(column):
    # The oracle above, against a table whose clip and video accuracies are swapped.
    m = summary({})
    swapped = json.loads(json.dumps(m))
    t = swapped["mean"]["test"]
    t["clip_top1"], t["video_top1"] = t["video_top1"], t["clip_top1"]
    cells = table_cells(results_table({"m": swapped}))["`m`"]
    assert cells[column] != MEANINGS[column](m)
