"""The results table: measured rows, reported rows, and accuracy by UCF101 action type."""

from collections import Counter

from har.config import ReportedResult
from har.report import action_type_table, input_cell, results_table, video_counts_by_class


def metrics(per_class: dict[str, float]) -> dict:
    return {"input": {"frames": 8, "eval_frames": 8, "height": 56, "width": 56}, "params": {"total": 1.5e6},
            "train": {"best_epoch": 3, "epochs": 5, "train_top1": 0.9, "val_top1": 0.8, "seconds": 30},
            "test": {"clip_top1": 0.7, "clip_top5": 0.95, "video_top1": 0.75, "loss": 0.8},
            "per_class_video_top1": per_class}


def test_reported_rows_are_marked_and_sourced():
    reported = [ReportedResult("resnet_crnn", 91.04, "UCF101, as published", "C-RNN paper")]
    table = results_table({"cnn3d": metrics({})}, reported)
    rows = table.splitlines()
    assert rows[2].startswith("| `cnn3d` | 8 x 56 | 1.50 M | 3 / 5 | 90.0% |")
    assert rows[3] == "| `resnet_crnn`, reported [1] | – | – | – | – | – | – | – | 91.04% | – | – |"
    assert "[1] Reported, not measured here: C-RNN paper; UCF101, as published." in table


def test_the_input_cell_shows_a_non_square_crop_and_the_test_length():
    assert input_cell({"frames": 29, "eval_frames": 29, "height": 90, "width": 120}) == "29 x 90x120"
    assert input_cell({"frames": 29, "eval_frames": 19, "height": 90, "width": 120}) == "29 x 90x120, test 19"


def test_accuracy_by_type_weights_classes_by_their_test_videos(tmp_path):
    (tmp_path / "m.csv").write_text("video,actual,predicted\n" + "".join(
        f"v{i},{cls},{cls}\n" for i, cls in enumerate(["Archery"] * 3 + ["Basketball"] + ["Drumming"])))
    counts = video_counts_by_class(tmp_path, ["m"])
    assert counts == {"m": Counter({"Archery": 3, "Basketball": 1, "Drumming": 1})}
    table = action_type_table({"m": metrics({"Archery": 1.0, "Basketball": 0.0, "Drumming": 0.5})},
                              counts)
    # Sports: (3 x 100% + 1 x 0%) / 4 videos; types without test videos show a dash.
    assert table.splitlines()[2] == "| `m` | – | – | – | 50.0% | 75.0% |"
    assert table.splitlines()[0] == ("| model | Human-Object Interaction | Body-Motion Only | "
                                     "Human-Human Interaction | Playing Musical Instruments | Sports |")


def test_no_type_table_for_classes_that_are_not_ucf101():
    assert action_type_table({"m": metrics({"MoveLeft": 1.0})}, {"m": Counter(MoveLeft=2)}) is None
