"""The official UCF101 split format, used by UCF101 and by our synthetic dataset.

classInd.txt      "<1-based id> <Class>"             CRLF endings, 101 lines for UCF101
trainlist0k.txt   "<Class>/v_<Name>_gGG_cCC.avi <id>"
testlist0k.txt    "<Class>/v_<Name>_gGG_cCC.avi"      no label: it comes from the folder

The class is always taken from the folder, never from the file name: UCF101's
folder `HandstandPushups` holds files named `v_HandStandPushups_*`.
"""

from __future__ import annotations

import re
from pathlib import Path

from har.datasets.splits import Entry, SplitError, split_lines

GROUP_RE = re.compile(r"_g(\d+)_c(\d+)$")


def read_class_index(path: Path) -> list[str]:
    """Class names in label order (label 0 first)."""
    classes: dict[int, str] = {}
    for n, line in enumerate(split_lines(path), 1):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise SplitError(f"{path}:{n}: expected '<id> <ClassName>', got {line!r}")
        idx, name = int(parts[0]), parts[1]
        if idx in classes:
            raise SplitError(f"{path}:{n}: class id {idx} appears twice")
        classes[idx] = name
    if sorted(classes) != list(range(1, len(classes) + 1)):
        raise SplitError(f"{path}: class ids must be 1..{len(classes)} without gaps")
    return [classes[i] for i in range(1, len(classes) + 1)]


def group_of(video: str) -> str:
    m = GROUP_RE.search(Path(video).stem)
    if not m:
        raise SplitError(f"{video}: name does not end in _gGG_cCC, cannot tell its group")
    return f"g{int(m.group(1)):02d}"


def read_list(path: Path, classes: list[str]) -> list[Entry]:
    """Parse a trainlist or testlist; labels are checked against the folder when present."""
    index = {name: i for i, name in enumerate(classes)}
    entries = []
    for n, line in enumerate(split_lines(path), 1):
        parts = line.split()
        if len(parts) not in (1, 2) or "/" not in parts[0]:
            raise SplitError(f"{path}:{n}: expected '<Class>/<video>.avi [label]', got {line!r}")
        rel = parts[0]
        folder = rel.split("/", 1)[0]
        if folder not in index:
            raise SplitError(f"{path}:{n}: class folder {folder!r} is not in classInd.txt")
        label = index[folder]
        if len(parts) == 2 and int(parts[1]) - 1 != label:
            raise SplitError(f"{path}:{n}: label {parts[1]} does not match folder {folder!r} "
                             f"(classInd says {label + 1})")
        video = rel.rsplit(".", 1)[0]
        entries.append(Entry(video=video, path=rel, label=label, group=group_of(video)))
    return entries


def read_ucf_split(split_dir: Path, split: int) -> tuple[list[str], list[Entry], list[Entry]]:
    """(classes, train, test) of official split `split` (1, 2 or 3)."""
    split_dir = Path(split_dir)
    classes = read_class_index(split_dir / "classInd.txt")
    train = read_list(split_dir / f"trainlist{split:02d}.txt", classes)
    test = read_list(split_dir / f"testlist{split:02d}.txt", classes)
    overlap = {e.video for e in train} & {e.video for e in test}
    if overlap:
        raise SplitError(f"{split_dir}: split {split} has {len(overlap)} videos in both train "
                         f"and test, e.g. {sorted(overlap)[0]}")
    return classes, train, test


