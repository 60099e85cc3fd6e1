"""`dataset.name: folder` through the download, extract and split stages, run in-process."""

import csv
import runpy
from collections import Counter
from pathlib import Path

import pytest
import yaml

from har.config import deep_merge
from videos import tiny_avi

ROOT = Path(__file__).resolve().parents[1]
CLASSES = {"jump": 5, "walk": 4, "wave": 6}  # class -> UCF-style groups, 2 clips each
TEST_FRACTION = 0.3


def make_tree(root: Path, video: bytes, reverse: bool = False) -> list[str]:
    files = [f"{cls}/v_{cls}_g{g:02d}_c{c:02d}.{'AVI' if g == 1 else 'avi'}"
             for cls, groups in CLASSES.items() for g in range(1, groups + 1) for c in (1, 2)]
    files += ["walk/take one (no group).mkv"]  # matches no group: its own group
    for rel in files[::-1] if reverse else files:  # creation order must not matter
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(video)
    (root / "walk" / "notes.txt").write_text("not a video")
    return files


def run_stage(name: str) -> None:
    runpy.run_path(str(ROOT / "stages" / f"{name}.py"), run_name="stage")["main"]()


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> bytes:
    return tiny_avi(tmp_path_factory.mktemp("video"), shade=60)


def project(tmp_path: Path, root: Path, monkeypatch) -> Path:
    """A working directory with params.yaml for the folder at `root`; the stages run there."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params = deep_merge(params, {
        "dataset": {"name": "folder", "split": 1,
                    "folder": {"root": str(root), "extensions": [".avi", ".mkv"],
                               "test_fraction": TEST_FRACTION, "seed": 3}},
        "extract": {"frames": 4, "short_side": 16, "workers": 2},
        "train": {"frames": 4, "crop": 16}})
    params["models"] = {"cnn3d": {"arch": "cnn3d", "model": {}, "train": {}}}  # not trained here
    work = tmp_path / "work"
    work.mkdir()
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(work)
    return work


def test_folder_split_is_group_aware_stratified_and_deterministic(tmp_path, video, monkeypatch):
    files = make_tree(tmp_path / "mine", video)
    work = project(tmp_path, tmp_path / "mine", monkeypatch)
    with pytest.warns(UserWarning, match="ignored 1 entries"):  # notes.txt, named
        run_stage("download")
    # The user's videos stay where they are: hard links, not copies.
    linked = work / "data/raw/videos/walk/v_walk_g01_c01.AVI"
    assert linked.stat().st_ino == (tmp_path / "mine/walk/v_walk_g01_c01.AVI").stat().st_ino
    assert not (work / "data/raw/videos/walk/notes.txt").exists()
    run_stage("extract")
    run_stage("split")

    sets = {name: read_rows(work / f"data/splits/{name}.csv") for name in ("train", "val", "test")}
    assert sum(map(len, sets.values())) == len(files)
    groups = {name: {r["group"] for r in rows} for name, rows in sets.items()}
    assert not groups["train"] & groups["test"] and not groups["val"] & (groups["train"] | groups["test"])
    for cls, n_groups in CLASSES.items():  # stratified: each class near the fraction, in whole groups
        per_set = Counter(r["set"] for r in read_rows(work / "data/raw/splits/split.csv")
                          if r["class"] == cls)
        assert per_set["train"] and per_set["test"]
        assert abs(per_set["test"] / (2 * n_groups) - TEST_FRACTION) <= 1 / n_groups
    alone = [r for rows in sets.values() for r in rows if r["id"] == "walk/take one (no group)"]
    assert alone[0]["group"] == "walk/take one (no group).mkv"

    # The same videos, created in the opposite order in another folder: the same split files.
    first = {name: (work / "data/raw/splits" / name).read_bytes() for name in ("classes.csv", "split.csv")}
    make_tree(tmp_path / "copy", video, reverse=True)
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["dataset"]["folder"]["root"] = str(tmp_path / "copy")
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.warns(UserWarning):
        run_stage("download")
    assert {name: (work / "data/raw/splits" / name).read_bytes() for name in first} == first
