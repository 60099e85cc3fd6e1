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
    """
    groups = sorted({e.group for e in train})
    if len(groups) < 2:
        raise SplitError(f"cannot carve validation by group: training has {len(groups)} group(s)")
    n_val = min(len(groups) - 1, max(1, round(len(groups) * val_fraction)))
    val_groups = set(random.Random(seed).sample(groups, n_val))
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
                          " (model selection cannot see it: validation groups are drawn from "
                          "all classes' training groups at once)" if n == 0 else
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
