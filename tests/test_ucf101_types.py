"""The project's UCF101 action type table, and accuracy by type."""

import csv
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from har.datasets.ucf101 import read_class_index
from har.ucf101_types import TYPES, accuracy_by_type, load_ucf101_types

ROOT = Path(__file__).resolve().parents[1]


def test_table_matches_the_fixture_in_class_index_order(fixtures):
    with open(fixtures / "ucf101_types.csv", newline="") as f:
        reference = {row["class"]: row["type"] for row in csv.DictReader(f)}
    types = load_ucf101_types()
    assert types == reference
    assert list(types) == read_class_index(fixtures / "ucf101_splits" / "classInd.txt")


def test_type_counts_of_the_paper():
    counts = Counter(load_ucf101_types().values())
    assert [counts[t] for t in TYPES] == [20, 16, 5, 10, 50]


def test_table_is_package_data():
    # Without this line a non-editable install would leave the csv out of the wheel.
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "ucf101_types.csv" in pyproject["tool"]["setuptools"]["package-data"]["har"]


ACCURACY = {"ApplyEyeMakeup": 1.0, "YoYo": 0.5, "Basketball": 0.2, "Drumming": 0.9}
COUNTS = {"ApplyEyeMakeup": 10, "YoYo": 30, "Basketball": 5, "Drumming": 7}


def test_mean_of_class_accuracies_without_counts():
    result = accuracy_by_type(ACCURACY)
    assert list(result) == ["Human-Object Interaction", "Playing Musical Instruments", "Sports"]
    assert result["Human-Object Interaction"] == pytest.approx(0.75)
    assert result["Playing Musical Instruments"] == pytest.approx(0.9)
    assert result["Sports"] == pytest.approx(0.2)


def test_video_weighted_with_counts():
    result = accuracy_by_type(ACCURACY, COUNTS)
    # 10 of 10 right + 15 of 30 right = 25 of 40 videos
    assert result["Human-Object Interaction"] == pytest.approx(25 / 40)
    assert result["Sports"] == pytest.approx(0.2)


def test_all_classes_give_all_types():
    result = accuracy_by_type({c: 0.5 for c in load_ucf101_types()})
    assert list(result) == list(TYPES)
    assert all(v == pytest.approx(0.5) for v in result.values())


def test_bad_inputs():
    with pytest.raises(ValueError, match="not UCF101 classes, so no action type: MoveLeft"):
        accuracy_by_type({"MoveLeft": 1.0, "YoYo": 1.0})
    with pytest.raises(ValueError, match="positive video count for Drumming, YoYo"):
        accuracy_by_type(ACCURACY, {"ApplyEyeMakeup": 10, "YoYo": 0, "Basketball": 5})
