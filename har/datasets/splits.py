"""The entries every dataset's split files become, and the validation carve-out.

Each format (ucf101.py, hmdb51.py, folder.py) reads its own files into `Entry` lists;
the split stage (stages/split.py) then carves validation out of train by group here,
and checks that no group crosses two sets.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from har.errors import InputError


class SplitError(InputError):
    """A split file is malformed or inconsistent."""


@dataclass(frozen=True)
class Entry:
    video: str  # "<Class>/v_<Name>_gGG_cCC" (no extension): the id used everywhere
    path: str  # as written in the list, e.g. "<Class>/v_..._c01.avi"
    label: int  # 0-based
    group: str  # "g08": clips of one group come from one recording


def carve_validation(train: list[Entry], val_fraction: float, seed: int
                     ) -> tuple[list[Entry], list[Entry]]:
    """Move whole groups (never single clips) from train to validation.

    Clips of one group share actor and scene; splitting them would let validation
    reward memorising the scene, and model selection would be optimistic.

    `val_fraction` of the groups are drawn at once, over all classes. Two repairs follow,
    for classes with few groups (a minority class of an imbalanced folder dataset):
    a class the draw left without a training video gets one of its groups back, and a
    class it left without a validation video gets one more of its groups drawn for it,
    as long as every class keeps a training video, so that selection by mean class
    accuracy sees every class it can. A draw that needs neither (the built-in dataset and
    UCF101, whose groups span all classes) is kept exactly as it was drawn.
    """
    groups = sorted({e.group for e in train})
    if len(groups) < 2:
        raise SplitError(f"cannot carve validation by group: training has {len(groups)} group(s)")
    n_val = min(len(groups) - 1, max(1, round(len(groups) * val_fraction)))
    rng = random.Random(seed)
    val_groups = set(rng.sample(groups, n_val))
    labels = sorted({e.label for e in train})
    groups_of = {label: sorted({e.group for e in train if e.label == label}) for label in labels}

    def trained(val: set[str]) -> set[int]:
        return {e.label for e in train if e.group not in val}

    for label in labels:
        if label not in trained(val_groups):
            val_groups.remove(rng.choice([g for g in groups_of[label] if g in val_groups]))
    for label in labels:
        if any(g in val_groups for g in groups_of[label]):
            continue
        for group in rng.sample(groups_of[label], len(groups_of[label])):
            if trained(val_groups | {group}) == set(labels):
                val_groups.add(group)
                break
    if not val_groups:
        raise SplitError("cannot carve validation by group: every class has one training "
                         "group, which training needs")
    return ([e for e in train if e.group not in val_groups],
            [e for e in train if e.group in val_groups])


MIN_VIDEOS_TO_JUDGE = 10  # fewer videos of a class in val or test: its accuracy is noise


def thin_classes(entries: list[Entry], classes: list[str], minimum: int = MIN_VIDEOS_TO_JUDGE
                 ) -> list[tuple[str, int]]:
    """(class, videos) of every class with fewer than `minimum` videos in `entries`, none
    included: too few to judge it (one video more or less moves its accuracy by over 10
    points, and the 95% interval of a perfect score on 9 videos reaches down to 70%)."""
    counts = [0] * len(classes)
    for e in entries:
        counts[e.label] += 1
    return [(name, n) for name, n in zip(classes, counts) if n < minimum]


def thin_class_warnings(sets: dict[str, list[Entry]], classes: list[str],
                        minimum: int = MIN_VIDEOS_TO_JUDGE) -> list[str]:
    """One warning per class with too few videos in the validation or test set, naming it."""
    out = []
    for name in ("val", "test"):
        for cls, n in thin_classes(sets.get(name, []), classes, minimum):
            out.append(f"split: warning: the {name} set has {n} video{'s' if n != 1 else ''} of "
                       f"class {cls!r}, fewer than {minimum}: too few to judge that class"
                       + ("" if name != "val" else
                          " (model selection cannot see it: every group of the class is "
                          "needed for training)" if n == 0 else
                          " (model selection sees it through mean class accuracy)"))
    return out


def assert_disjoint_groups(sets: dict[str, list[Entry]]) -> None:
    seen: dict[str, str] = {}
    for name, entries in sets.items():
        for group in sorted({e.group for e in entries}):
            if group in seen:
                raise SplitError(f"group {group} is in both {seen[group]} and {name}: "
                                 "clips of one recording must stay in one set")
            seen[group] = name


def read_split_text(path: Path) -> str:
    """A split file's text, or a SplitError naming the file (missing, or not text)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SplitError(f"{path}: split file not found") from None
    except UnicodeDecodeError as e:
        raise SplitError(f"{path}: not a text file ({e})") from None


def split_lines(path: Path) -> list[str]:
    # splitlines() handles the official CRLF endings as well as LF.
    return [line.strip() for line in read_split_text(path).splitlines() if line.strip()]
