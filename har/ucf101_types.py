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

from har.errors import InputError

TYPES = ("Human-Object Interaction", "Body-Motion Only", "Human-Human Interaction",
         "Playing Musical Instruments", "Sports")


def load_ucf101_types() -> dict[str, str]:
    """Class name -> action type, in classInd order."""
    # importlib.resources reads package data wherever the package is installed.
    text = files("har").joinpath("ucf101_types.csv").read_text(encoding="utf-8")
    mapping: dict[str, str] = {}
    for row in csv.DictReader(io.StringIO(text)):
        if row["type"] not in TYPES or row["class"] in mapping:
            raise InputError(f"har/ucf101_types.csv: bad row {row}")
        mapping[row["class"]] = row["type"]
    return mapping


def accuracy_by_type(per_class_accuracy: dict[str, float],
                     class_counts: dict[str, int] | None = None) -> dict[str, float]:
    """Accuracy of each action type present, in the paper's order of types.

    Without counts: the mean of the class accuracies of the type (each class counts
    once, like mean class accuracy). With counts (test videos per class): the accuracy
    over the type's videos, i.e. class accuracies weighted by their video counts.
    """
    import pandas as pd  # only reports need it; load_ucf101_types stays light

    types = load_ucf101_types()
    unknown = sorted(set(per_class_accuracy) - set(types))
    if unknown:
        raise InputError(f"not UCF101 classes, so no action type: {', '.join(unknown)}")
    table = pd.DataFrame({"accuracy": pd.Series(per_class_accuracy, dtype=float)})
    if class_counts is None:
        table["videos"] = 1.0
    else:
        table["videos"] = pd.Series(class_counts, dtype=float).reindex(table.index)
        bad = sorted(table.index[~(table["videos"] > 0)])
        if bad:
            raise InputError(f"class_counts needs a positive video count for {', '.join(bad)}")
    table["type"] = table.index.map(types)
    table["correct"] = table["accuracy"] * table["videos"]
    sums = table.groupby("type")[["correct", "videos"]].sum()
    return {kind: float(sums.at[kind, "correct"] / sums.at[kind, "videos"])
            for kind in TYPES if kind in sums.index}
