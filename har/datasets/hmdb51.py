"""The official HMDB51 split files (`testTrainMulti_7030_splits/`).

`<class>_test_split<k>.txt` for 51 classes and k = 1, 2, 3; every line is
`<video>.avi <mark> ` (trailing space, LF): 1 = train, 2 = test, 0 = unused.
Each class file marks 70 train and 30 test clips, so a split has 3570 train,
1530 test and 1666 unused of 6766 videos. The archive stores `<class>/<video>.avi`.

Labels: HMDB51 ships no class index, so classes are numbered in Python's sorted
(code point) order of their names: `brush_hair` = 0 ... `kick` = 20, `kick_ball` = 21
... `wave` = 50. That is the order of mmaction2 (`tools/data/parse_file_list.py`,
`sorted(os.listdir(...))`). Beware: TSN's `data/hmdb51_splits/class_list.txt` puts
`kick_ball` before `kick` and `sword_exercise` before `sword` (locale collation), so
its label numbers differ for those four classes.

Groups. HMDB51 has no official groups, but its names carry the source:
`<source>_<class>_<body part>_<camera motion>_<people>_<viewpoint>_<quality>_<n>`,
e.g. `April_09_brush_hair_u_nm_np1_ba_goo_0` is clip 0 of the source `April_09`.
All 6766 names follow this pattern. The group of a clip is its source, lower-cased
and without trailing `_<number>` parts: `Return_of_the_King_7` and
`RETURN_OF_THE_KING` are parts of one film, with the same actors and sets. The rule
cannot tell a part number from a date (`April_09` becomes `april`); merging too much
only makes groups coarser, which never lets a film leak.
The group does not include the class: a film shows the same actors and scenes in
all the actions cut from it, so validation must not share a film with train at all.
Measured on the split files (split 1; splits 2 and 3 are alike):

- 1407 distinct source names become 1303 groups; clips per group: median 3,
  mean 5.2, max 125 (`theboondocksaints`); 325 groups have one clip, and 95% of
  the clips share their group with another clip. 216 groups span several classes
  (up to 18). Every class has 18 to 108 groups.
- The official test set keeps each (class, exact source name) pair out of train:
  0 crossings in all three splits; that is evidently its rule.
- It does NOT keep sources disjoint: in split 1, 118 of our groups are in both
  train and test, and 495 of the 1530 test clips share their group with train
  clips (splits 2, 3: 559 and 572); 47 of these crossings (106 test clips) are
  even within one class, through numbered parts or case (`dive`: parts of
  Return_of_the_King on both sides). Official HMDB51 test accuracy therefore
  includes some scene leakage; we only make sure validation does not add more.

With these groups, `har.datasets.splits.carve_validation(train, 0.15, seed)` draws 140 of
the 931 train groups of split 1; that draw leaves 2 or 3 classes without a validation clip
(seeds 0-2), so the carve draws one more group for each: 485 to 526 clips move to
validation, and every class keeps train clips and has validation clips.
"""

from __future__ import annotations

import re
from pathlib import Path

from har.datasets.splits import Entry, SplitError, read_split_text

NUM_CLASSES = 51
SPLITS = (1, 2, 3)
UNUSED, TRAIN, TEST = 0, 1, 2

# The meta tags that end every HMDB51 name: visible body part, camera motion,
# number of people, viewpoint, quality, clip number within the source.
_TAGS = r"_[fhul]_(?:cm|nm)_np\d+_(?:fr|ba|le|ri)_(?:bad|med|goo)_\d+"
_PART_NUMBER = re.compile(r"(?:_\d+)+$")
_LINE = re.compile(r"(\S+\.avi) (\S+)")


def hmdb51_group(video_stem: str, class_name: str) -> str:
    """The source of a clip, normalised so the numbered parts of one film share a group."""
    m = re.fullmatch(rf"(.+)_{re.escape(class_name)}{_TAGS}", video_stem)
    if not m:
        raise SplitError(f"{video_stem!r} is not an HMDB51 name of class {class_name!r} "
                         "(<source>_<class>_<tags>_<n>): cannot tell its source")
    return _PART_NUMBER.sub("", m.group(1).lower())


def read_hmdb51_file(path: Path, class_name: str, label: int) -> dict[int, list[Entry]]:
    """One class file: its entries by mark (0 unused, 1 train, 2 test)."""
    text = read_split_text(path)
    by_mark: dict[int, list[Entry]] = {UNUSED: [], TRAIN: [], TEST: []}
    seen: dict[str, tuple[int, str]] = {}  # file -> (line number, mark)
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        # The official lines end in a space; rstrip rather than split(), because
        # split() would also accept a name broken by a space into two fields.
        m = _LINE.fullmatch(line.rstrip())
        if not m:
            raise SplitError(f"{path}:{n}: expected '<video>.avi <0|1|2>', got {line!r}")
        file, mark = m.groups()
        if mark not in ("0", "1", "2"):
            raise SplitError(f"{path}:{n}: mark {mark!r} is not 0 (unused), 1 (train) "
                             "or 2 (test)")
        if file in seen:
            first, first_mark = seen[file]
            conflict = f" with mark {mark}; line {first} says {first_mark}"
            raise SplitError(f"{path}:{n}: {file} is listed twice (first on line {first})"
                             f"{conflict if mark != first_mark else ''}")
        seen[file] = (n, mark)
        stem = file[: -len(".avi")]
        try:
            group = hmdb51_group(stem, class_name)
        except SplitError as e:
            raise SplitError(f"{path}:{n}: {e}") from None
        by_mark[int(mark)].append(Entry(video=f"{class_name}/{stem}", path=f"{class_name}/{file}",
                                        label=label, group=group))
    return by_mark


def read_hmdb51_split(splits_dir: Path, split: int) -> tuple[list[str], list[Entry], list[Entry]]:
    """(classes, train, test) of official split `split`; unused clips are left out."""
    splits_dir = Path(splits_dir)
    if split not in SPLITS:
        raise SplitError(f"HMDB51 has splits 1, 2, 3, not {split}")
    # Classes are found from the files of every split, so a class that lacks
    # only the requested split's file is reported rather than silently dropped.
    found = (re.fullmatch(r"(.+)_test_split\d+\.txt", p.name) for p in splits_dir.glob("*"))
    classes = sorted({m.group(1) for m in found if m})
    if len(classes) != NUM_CLASSES:
        raise SplitError(f"{splits_dir}: expected {NUM_CLASSES} classes of "
                         f"<class>_test_split<k>.txt files, found {len(classes)}")
    train: list[Entry] = []
    test: list[Entry] = []
    for label, name in enumerate(classes):
        path = splits_dir / f"{name}_test_split{split}.txt"
        if not path.is_file():
            raise SplitError(f"{path}: missing: class {name!r} has no file for split {split}")
        by_mark = read_hmdb51_file(path, name, label)
        train += by_mark[TRAIN]
        test += by_mark[TEST]
    return classes, train, test
