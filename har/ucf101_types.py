"""The five UCF101 action types, for reporting accuracy by type.

`ucf101_types.csv` (package data, `class,type`, classInd order) maps the 101 classes
to the types of the UCF101 paper (Soomro, Zamir, Shah, arXiv:1212.0402, Fig. 2):
Human-Object Interaction 20, Body-Motion Only 16, Human-Human Interaction 5,
Playing Musical Instruments 10, Sports 50. The paper gives the mapping only as
colours in a figure, so the project keeps it as a reviewable data file.
"""

from __future__ import annotations

import csv
import io
from importlib.resources import files

TYPES = ("Human-Object Interaction", "Body-Motion Only", "Human-Human Interaction",
         "Playing Musical Instruments", "Sports")


def load_ucf101_types() -> dict[str, str]:
    """Class name -> action type, in classInd order."""
    # importlib.resources reads package data wherever the package is installed.
    text = files("har").joinpath("ucf101_types.csv").read_text(encoding="utf-8")
    mapping: dict[str, str] = {}
    for row in csv.DictReader(io.StringIO(text)):
        if row["type"] not in TYPES or row["class"] in mapping:
            raise ValueError(f"har/ucf101_types.csv: bad row {row}")
        mapping[row["class"]] = row["type"]
    return mapping


def accuracy_by_type(per_class_accuracy: dict[str, float],
                     class_counts: dict[str, int] | None = None) -> dict[str, float]:
    """Accuracy of each action type present, in the paper's order of types.

    Without counts: the mean of the class accuracies of the type (each class counts
    once, like mean class accuracy). With counts (test videos per class): the accuracy
    over the type's videos, i.e. class accuracies weighted by their video counts.
    """
    types = load_ucf101_types()
    unknown = sorted(set(per_class_accuracy) - set(types))
    if unknown:
        raise ValueError(f"not UCF101 classes, so no action type: {', '.join(unknown)}")
    if class_counts is not None:
        bad = sorted(c for c in per_class_accuracy if class_counts.get(c, 0) <= 0)
        if bad:
            raise ValueError(f"class_counts needs a positive video count for {', '.join(bad)}")
    weight = (lambda c: 1) if class_counts is None else class_counts.__getitem__
    result = {}
    for kind in TYPES:
        members = [c for c in per_class_accuracy if types[c] == kind]
        if members:
            total = sum(weight(c) for c in members)
            result[kind] = sum(per_class_accuracy[c] * weight(c) for c in members) / total
    return result
