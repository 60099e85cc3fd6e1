"""Put a dataset's videos and split files where the extract and split stages read them.

    data/raw/videos/<class>/<video file>   every video of the dataset, and nothing else
    data/raw/splits/                       the split files, in the dataset's own format:
        synthetic, ucf101   classInd.txt, trainlist0k.txt, testlist0k.txt (har.datasets.ucf101)
        hmdb51              <class>_test_split<k>.txt, 153 files (har.datasets.hmdb51)
        folder              classes.csv, split.csv (har.datasets.folder)

Archives are unpacked by the split files, not by their folder layout: every video
the three official splits name is looked up by its file name anywhere in the
unpacked tree and moved to `<class>/<file>` as the split files write it. So
UCF101.rar (`UCF-101/<Class>/...`) and the zip mirror (one flat folder) give the
same result, HMDB51's RAR of RARs needs no special case, and a video that is
missing from the archive is an error here, naming the archive, rather than a
confusing gap three stages later. Files the split files do not name are left out
and counted.

A folder dataset stays where the user keeps it: its videos are hard-linked into
data/raw/videos (no copy, same file system) or else copied, and its split is drawn
here and written out, so that it is reviewable and reproducible. dvc.yaml declares
the folder as a dependency of the download stage, so adding or changing a video
re-runs it.

data/raw is built in a temporary folder and renamed into place when complete.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections import defaultdict
from pathlib import Path, PurePosixPath

from har.config import DatasetConfig
from har.datasets import synthetic
from har.datasets.archive_store import fetch_archives, record_archives
from har.datasets.archives import extract, extract_nested
from har.datasets.folder import make_folder_split, write_folder_split
from har.datasets.hmdb51 import read_hmdb51_file, read_hmdb51_split
from har.datasets.splits import Entry
from har.datasets.ucf101 import read_ucf_split
from har.errors import InputError
from har.fileio import atomic_dir

OFFICIAL_SPLITS = (1, 2, 3)
UCF101_SPLIT_FILES = ("classInd.txt",) + tuple(f"{kind}list{k:02d}.txt" for kind in ("train", "test")
                                               for k in OFFICIAL_SPLITS)
HMDB51_SPLIT_FILE = re.compile(r".+_test_split[123]\.txt")


class DatasetError(InputError):
    """An archive or folder does not hold the dataset its split files describe."""


def prepare_raw(ds: DatasetConfig, store: Path, raw: Path, *, workers: int = 1,
                progress: bool = True) -> list[str]:
    """Fill `raw` (videos/ and splits/) for dataset `ds.name`; returns lines to print.

    Archives are fetched into `store` (see har.datasets.archive_store) and verified before
    anything is unpacked. `raw` is replaced only once the new one is complete.
    """
    if ds.name in ("ucf101", "hmdb51"):
        sources = {"videos": getattr(ds, ds.name).videos, "splits": getattr(ds, ds.name).splits}
        archives = fetch_archives(ds.name, sources, store, progress=progress)
    else:
        record_archives(store, ds.name, {})  # nothing to download
    with atomic_dir(raw) as tmp:
        if ds.name == "synthetic":
            n = synthetic.generate(tmp, ds.synthetic, seed=ds.seed, workers=workers)
            return [f"generated {n} synthetic videos"]
        if ds.name == "folder":
            return _prepare_folder(ds, tmp)
        unpack = _prepare_ucf101 if ds.name == "ucf101" else _prepare_hmdb51
        return unpack(archives, tmp)
    raise AssertionError(f"unreachable: dataset {ds.name!r}")  # config validation lists the names


def _prepare_ucf101(archives: dict[str, Path], raw: Path) -> list[str]:
    unpacked = raw / "unpacked-splits"
    extract(archives["splits"], unpacked)
    found = sorted(p.parent for p in unpacked.rglob("classInd.txt") if p.is_file())
    if len(found) != 1:
        raise DatasetError(f"{archives['splits']}: expected one classInd.txt in it, found "
                           f"{len(found)}")
    (raw / "splits").mkdir()
    for name in UCF101_SPLIT_FILES:
        if not (found[0] / name).is_file():
            raise DatasetError(f"{archives['splits']}: no {name} beside classInd.txt in it")
        shutil.copyfile(found[0] / name, raw / "splits" / name)
    shutil.rmtree(unpacked)
    entries = [e for k in OFFICIAL_SPLITS for part in read_ucf_split(raw / "splits", k)[1:]
               for e in part]
    return _unpack_videos(archives["videos"], raw, entries, nested=False)


def _prepare_hmdb51(archives: dict[str, Path], raw: Path) -> list[str]:
    unpacked = raw / "unpacked-splits"
    extract(archives["splits"], unpacked)
    found = [p for p in unpacked.rglob("*") if HMDB51_SPLIT_FILE.fullmatch(p.name) and p.is_file()]
    if not found:
        raise DatasetError(f"{archives['splits']}: no <class>_test_split<k>.txt files in it")
    (raw / "splits").mkdir()
    for path in found:
        target = raw / "splits" / path.name
        if target.exists():
            raise DatasetError(f"{archives['splits']}: {path.name} is in it twice")
        shutil.copyfile(path, target)
    shutil.rmtree(unpacked)
    classes = read_hmdb51_split(raw / "splits", 1)[0]  # checks that all 51 classes are there
    # Every mark counts, unused (0) included: the archive holds those videos too.
    entries = [e for k in OFFICIAL_SPLITS for label, name in enumerate(classes)
               for marked in read_hmdb51_file(raw / "splits" / f"{name}_test_split{k}.txt",
                                              name, label).values()
               for e in marked]
    return _unpack_videos(archives["videos"], raw, entries, nested=True)


def _unpack_videos(archive: Path, raw: Path, entries: list[Entry], nested: bool) -> list[str]:
    unpacked = raw / "unpacked-videos"
    (extract_nested if nested else extract)(archive, unpacked)
    wanted = sorted({e.path for e in entries})
    by_name: dict[str, list[Path]] = defaultdict(list)
    for path in unpacked.rglob("*"):
        if path.is_file():
            by_name[path.name].append(path)
    missing = []
    for rel in wanted:
        found = by_name.pop(PurePosixPath(rel).name, [])
        if len(found) > 1:
            raise DatasetError(f"{archive}: {PurePosixPath(rel).name} is in it {len(found)} times "
                               f"({', '.join(str(p.relative_to(unpacked)) for p in found)}); "
                               "cannot tell which one the split files mean")
        if not found:
            missing.append(rel)
            continue
        dest = raw / "videos" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        found[0].rename(dest)
    if missing:
        raise DatasetError(f"{archive}: {len(missing)} of the {len(wanted)} videos named by the "
                           f"split files are not in it, e.g. {', '.join(missing[:3])}; is it the "
                           "right archive, and complete?")
    left_out = sum(map(len, by_name.values()))
    shutil.rmtree(unpacked)
    note = f"; {left_out} other files in the archive left out" if left_out else ""
    return [f"unpacked {len(wanted)} videos from {archive.name}{note}"]


def _prepare_folder(ds: DatasetConfig, raw: Path) -> list[str]:
    cfg = ds.folder
    root = Path(cfg.root)
    classes, train, test = make_folder_split(root, group_regex=cfg.group_regex,
                                             test_fraction=cfg.test_fraction, seed=cfg.seed,
                                             extensions=tuple(cfg.extensions))
    copied = 0
    for e in train + test:
        copied += not _link_or_copy(root / e.path, raw / "videos" / e.path)
    write_folder_split(raw / "splits", classes, train, test)
    n = len(train) + len(test)
    how = f"{n - copied} hard-linked" + (f", {copied} copied (another file system)" if copied else "")
    return [f"{n} videos of {len(classes)} classes from {root} ({how})",
            f"split: {len(train)} train / {len(test)} test videos, written to data/raw/splits"]


def _link_or_copy(src: Path, dest: Path) -> bool:
    """Hard-link `src` to `dest` (True), or copy it when linking is impossible (False)."""
    # scan_folder accepted it as a regular file inside the root; should it have become a pipe
    # since, copying would block: check again, on the file itself rather than a link to it.
    src = Path(os.path.realpath(src))
    if not stat.S_ISREG(src.stat().st_mode):
        raise DatasetError(f"{src}: not a regular file any more (it changed during the scan)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
        return True
    except OSError:  # another file system, or one without hard links
        shutil.copy2(src, dest)
        return False
