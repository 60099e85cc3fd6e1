"""The train and test sets of any dataset, read from the split files the download stage wrote."""

from __future__ import annotations

from pathlib import Path

from har.datasets.folder import read_folder_split
from har.datasets.hmdb51 import read_hmdb51_split
from har.datasets.splits import Entry
from har.datasets.ucf101 import read_ucf_split
from har.errors import InputError


def read_dataset_split(name: str, splits_dir: Path, split: int
                       ) -> tuple[list[str], list[Entry], list[Entry]]:
    """(classes, train, test) of `split` for dataset `name` (synthetic, ucf101, hmdb51, folder).

    synthetic and ucf101 share UCF101's official format; a folder dataset has one
    split, drawn by the download stage (config validation makes `split` 1).
    """
    if name in ("synthetic", "ucf101"):
        return read_ucf_split(splits_dir, split)
    if name == "hmdb51":
        return read_hmdb51_split(splits_dir, split)
    if name == "folder":
        return read_folder_split(splits_dir)
    raise InputError(f"dataset.name {name!r}: no split reader")


def test_shares_groups_with_train(name: str) -> bool:
    """Whether the official test set may hold groups that train also holds.

    Only HMDB51's does: its split keeps (class, source name) pairs apart, not source
    films (har/datasets/hmdb51.py measured 495 of 1530 test clips of split 1 sharing a film
    with train). That is the protocol, so it is reported, not refused; validation,
    which is ours, never shares a group with train.
    """
    return name == "hmdb51"
