"""Users' own videos, `<root>/<class>/<video>`, split into train and test by group.

Scanning. Every non-hidden directory under the root is a class; every non-hidden
file in it whose extension (any case) is a video extension is a video. Other files,
subdirectories of class folders and files directly under the root are ignored, and
their number is reported in one warning, so a typo in an extension does not go
unnoticed. Hidden entries are ignored too: macOS leaves `._clip.mp4` companions
that have a video extension but are not videos. An empty root, or a class folder
without videos, is an error: the class list fixes the model's outputs, and a class
with no videos could be neither trained nor tested.

Hostile entries. A video is a regular file inside the root: entries are examined with
lstat, never opened. A symbolic link counts only if it resolves to a regular file
inside the root; links leaving the root (`passwd.avi -> /etc/passwd`: it would be
copied into data/raw and pushed with `dvc push`), dangling links, named pipes,
devices and sockets (reading one blocks forever or never ends) and directories with
video names are skipped, and listed in a warning with the reason. A root that is not
a readable folder, or an unreadable class folder, is an error naming it.

Groups. Clips of one recording share actor and scene, so they must stay in one
set. The group is the first capture group of `group_regex` searched in the file
stem (the whole match if the regex has no group); the default `_g(\\d+)_` reads
UCF101-style names `v_<Action>_g08_c01`. A file that does not match is its own
group. The key includes the class: UCF101 numbers its 25 groups within each action
(a group is 4-7 clips of one action), and users number recordings per class folder
too. The cost: a recording holding several actions may sit in train for one class
and in test for another; that shows its scene under another label, so it cannot
reward memorising the scene for its label.
Group keys of regex matches and of unmatched files share one namespace; should
one collide with another, the two become one coarser group, which is still safe.

Splitting is per class (stratified) and by whole groups. A class's groups are
sorted, then shuffled with a generator seeded by (seed, class): the split does not
depend on the file system's listing order, nor on which other classes exist. The
test set takes the shortest prefix of that order, at least one group and never
all, whose video count is closest to `test_fraction` of the class. A class with a
single group is an error rather than a warning: it could not be tested, and its
accuracy would silently be missing from the report.

Split files. Folder and file names may contain spaces (and commas, quotes,
non-ASCII), which the space-separated UCF101 lists cannot hold; refusing them
would make users rename their data. So a folder split is written as two UTF-8 CSV
files, which quote whatever needs quoting:
  classes.csv  label,class            label order (0-based, sorted class names)
  split.csv    set,class,path,group   one row per video; set is train or test
One file holds set and group together, so they cannot disagree. Video ids are
`<class>/<stem>` as everywhere in the pipeline (frames at data/frames/<class>/<stem>.npz),
so two videos differing only by extension in one class are refused.
"""

from __future__ import annotations

import csv
import os
import random
import re
import stat
import warnings
from collections import defaultdict
from pathlib import Path, PurePosixPath

from har.datasets.splits import Entry, SplitError, assert_disjoint_groups
from har.errors import InputError
from har.fileio import atomic_path

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v")
DEFAULT_GROUP_REGEX = r"_g(\d+)_"
CLASSES_FILE = "classes.csv"
SPLIT_FILE = "split.csv"
SETS = ("train", "test")


def scan_folder(root: Path, extensions: tuple[str, ...] = VIDEO_EXTENSIONS) -> list[str]:
    """Sorted video paths `<class>/<file>` relative to `root` (see "Hostile entries" above)."""
    root = Path(root)
    if not root.is_dir():
        raise SplitError(f"{root}: not a folder of class folders")
    real_root = root.resolve()
    wanted = {e.lower() for e in extensions}
    videos: list[str] = []
    ignored: list[str] = []
    skipped: list[str] = []  # "<path> (<why>)": named in the warning, every one of them
    class_dirs = []
    for entry in _listing(root):
        why = _not_inside(entry, real_root, want_dir=True)
        if entry.name.startswith(".") or why == "not a directory":
            ignored.append(entry.name)
        elif why:
            skipped.append(f"{entry.name} ({why})")
        else:
            class_dirs.append(entry)
    if not class_dirs:
        raise SplitError(f"{root}: no class folders (expected <root>/<class>/<video>)")
    for class_dir in class_dirs:
        found = []
        for entry in _listing(class_dir):
            rel = f"{class_dir.name}/{entry.name}"
            if entry.name.startswith(".") or entry.suffix.lower() not in wanted:
                ignored.append(rel)
                continue
            why = _not_inside(entry, real_root, want_dir=False)
            if why:
                skipped.append(f"{rel} ({why})")
            else:
                found.append(rel)
        if not found:
            raise SplitError(f"{class_dir}: class folder has no videos with extensions "
                             f"{', '.join(sorted(wanted))}")
        videos += found
    if skipped:
        warnings.warn(f"{root}: skipped {len(skipped)} entries that are not regular files or "
                      f"folders inside it: {'; '.join(skipped)}", stacklevel=2)
    if ignored:
        warnings.warn(f"{root}: ignored {len(ignored)} entries that are not videos, "
                      f"e.g. {ignored[0]!r}", stacklevel=2)
    return videos


def dataset_listing(ds, root: Path | str = ".") -> str:
    """What the download stage depends on (stages/listing.py): for a folder dataset one line per
    video, `path size mtime_ns` (tab-separated), from the scan above, so by lstat and stat only
    (DVC itself would hash the folder by reading every file in it, which a named pipe blocks
    forever). A video added, removed, renamed or replaced (new size or modification time)
    changes it. Another dataset's videos are fixed by its params: one line saying so.
    `ds`: har.config.DatasetConfig; `root`: the project root, for a relative dataset.folder.root."""
    if ds.name != "folder":
        return f"dataset {ds.name}: its params fix its videos; no folder to list\n"
    folder = Path(root) / ds.folder.root
    lines = ["path\tsize\tmtime_ns"]
    for rel in scan_folder(folder, tuple(ds.folder.extensions)):
        st = (folder / rel).stat()  # a regular file inside the root: the scan checked it
        lines.append(f"{rel}\t{st.st_size}\t{st.st_mtime_ns}")
    return "\n".join(lines) + "\n"


def _listing(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError as e:
        raise SplitError(f"{folder}: cannot list the folder ({e.strerror or e})") from None


_KINDS = [(stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
          (stat.S_ISSOCK, "a socket")]


def _not_inside(entry: Path, real_root: Path, want_dir: bool) -> str | None:
    """Why `entry` is not a regular file (a folder if `want_dir`) inside the root; None if it is.

    lstat and realpath only: nothing is opened, so a pipe or /dev/zero cannot block.
    """
    try:
        mode = entry.lstat().st_mode
        link = stat.S_ISLNK(mode)
        if link:
            target = Path(os.path.realpath(entry))
            mode = target.stat().st_mode  # FileNotFoundError: dangling
            if not target.is_relative_to(real_root):
                return f"a link to {target}, outside the folder"
    except FileNotFoundError:
        return "a dangling link"
    except OSError as e:  # a link loop, a permission problem
        return f"unreadable: {e.strerror or e}"
    for test, kind in _KINDS:
        if test(mode):
            return f"{'a link to ' if link else ''}{kind}"
    if want_dir:
        return None if stat.S_ISDIR(mode) else "not a directory"
    if stat.S_ISDIR(mode):
        return "a directory"
    return None if stat.S_ISREG(mode) else "not a regular file"


def folder_group(path: str, group_regex: re.Pattern[str]) -> str:
    """`<class>/<key>`: the regex's key, or the file name when the regex does not match."""
    cls, file = path.split("/")
    m = group_regex.search(PurePosixPath(file).stem)
    if not m:
        return f"{cls}/{file}"
    return f"{cls}/{m.group(1) if group_regex.groups else m.group(0)}"


def make_folder_split(root: Path, *, group_regex: str = DEFAULT_GROUP_REGEX,
                      test_fraction: float = 0.3, seed: int = 0,
                      extensions: tuple[str, ...] = VIDEO_EXTENSIONS,
                      ) -> tuple[list[str], list[Entry], list[Entry]]:
    """(classes, train, test): a stratified, group-aware, deterministic split of `root`."""
    if not 0 < test_fraction < 1:
        raise InputError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    pattern = re.compile(group_regex)
    paths = scan_folder(root, extensions)
    classes = sorted({p.split("/")[0] for p in paths})
    entries = _entries(root, paths, classes, pattern)

    by_class: dict[int, dict[str, list[Entry]]] = defaultdict(lambda: defaultdict(list))
    for e in entries:
        by_class[e.label][e.group].append(e)
    train: list[Entry] = []
    test: list[Entry] = []
    for label, groups in sorted(by_class.items()):
        cls = classes[label]
        if len(groups) < 2:
            raise SplitError(f"{Path(root) / cls}: all {sum(map(len, groups.values()))} videos "
                             f"are one group ({next(iter(groups))}), so the class cannot be both "
                             "trained and tested; add recordings or check group_regex")
        order = sorted(groups)
        # A str seed is hashed with SHA-512, not hash(): the same on every run and machine.
        random.Random(f"{seed}/{cls}").shuffle(order)
        n_test = _test_prefix([len(groups[g]) for g in order], test_fraction)
        test += [e for g in order[:n_test] for e in groups[g]]
        train += [e for g in order[n_test:] for e in groups[g]]
    return classes, sorted(train, key=_video), sorted(test, key=_video)


def write_folder_split(splits_dir: Path, classes: list[str], train: list[Entry],
                       test: list[Entry]) -> None:
    """classes.csv and split.csv under `splits_dir`, sorted for review and diffs."""
    splits_dir = Path(splits_dir)
    _write_csv(splits_dir / CLASSES_FILE, ["label", "class"], list(enumerate(classes)))
    rows = [(name, classes[e.label], e.path, e.group)
            for name, entries in zip(SETS, (train, test)) for e in sorted(entries, key=_video)]
    _write_csv(splits_dir / SPLIT_FILE, ["set", "class", "path", "group"], rows)


def read_folder_split(splits_dir: Path) -> tuple[list[str], list[Entry], list[Entry]]:
    """(classes, train, test) as written by write_folder_split, checked for consistency."""
    splits_dir = Path(splits_dir)
    classes_path = splits_dir / CLASSES_FILE
    classes = []
    for n, row in _read_csv(classes_path, ["label", "class"]):
        if row["label"] != str(len(classes)) or not row["class"]:
            raise SplitError(f"{classes_path}:{n}: expected label {len(classes)} and a class "
                             f"name, got {row}")
        if row["class"] in classes:
            raise SplitError(f"{classes_path}:{n}: class {row['class']!r} is listed twice")
        classes.append(row["class"])
    index = {c: i for i, c in enumerate(classes)}

    split_path = splits_dir / SPLIT_FILE
    sets: dict[str, list[Entry]] = {name: [] for name in SETS}
    seen: set[str] = set()
    for n, row in _read_csv(split_path, ["set", "class", "path", "group"]):
        where = f"{split_path}:{n}"
        if row["set"] not in sets:
            raise SplitError(f"{where}: set {row['set']!r} is not train or test")
        if row["class"] not in index:
            raise SplitError(f"{where}: class {row['class']!r} is not in {CLASSES_FILE}")
        if row["path"].count("/") != 1 or row["path"].split("/")[0] != row["class"]:
            raise SplitError(f"{where}: path {row['path']!r} is not <class>/<file> of its "
                             f"class {row['class']!r}")
        if not row["group"]:
            raise SplitError(f"{where}: empty group")
        entry = _entry(row["path"], index[row["class"]], row["group"])
        if entry.video in seen:
            raise SplitError(f"{where}: video {entry.video!r} is listed twice")
        seen.add(entry.video)
        sets[row["set"]].append(entry)
    assert_disjoint_groups(sets)
    return classes, sets["train"], sets["test"]


def _entries(root: Path, paths: list[str], classes: list[str], pattern: re.Pattern[str]
             ) -> list[Entry]:
    index = {c: i for i, c in enumerate(classes)}
    entries: dict[str, Entry] = {}
    for path in paths:
        e = _entry(path, index[path.split("/")[0]], folder_group(path, pattern))
        if e.video in entries:
            raise SplitError(f"{Path(root)}: {entries[e.video].path} and {path} would share the "
                             f"video id {e.video!r} (and its frames file); rename one")
        entries[e.video] = e
    return list(entries.values())


def _entry(path: str, label: int, group: str) -> Entry:
    cls, file = path.split("/")
    return Entry(video=f"{cls}/{PurePosixPath(file).stem}", path=path, label=label, group=group)


def _test_prefix(sizes: list[int], test_fraction: float) -> int:
    """How many leading groups go to test: video count closest to the target, 1..len-1."""
    target = test_fraction * sum(sizes)
    best, best_gap, count = 1, float("inf"), 0
    for k in range(1, len(sizes)):
        count += sizes[k - 1]
        if abs(count - target) < best_gap:
            best, best_gap = k, abs(count - target)
    return best


def _video(e: Entry) -> str:
    return e.video


def _write_csv(path: Path, header: list[str], rows: list[tuple]) -> None:
    # UTF-8 explicitly: names are the user's, and the locale may be ASCII.
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)


def _read_csv(path: Path, header: list[str]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs, after checking the header."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames != header:
                raise SplitError(f"{path}:1: expected header {','.join(header)}, "
                                 f"got {reader.fieldnames}")
            rows = []
            for row in reader:
                if None in row or None in row.values():
                    raise SplitError(f"{path}:{reader.line_num}: expected {len(header)} fields")
                rows.append((reader.line_num, row))
            return rows
    except FileNotFoundError:
        raise SplitError(f"{path}: split file not found") from None
    except UnicodeDecodeError as e:
        raise SplitError(f"{path}: not UTF-8 text ({e})") from None
