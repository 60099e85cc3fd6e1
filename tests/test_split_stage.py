"""The split stage decides which videos an accuracy is measured on: a video whose extraction
failed is left out of train, val and test (and counted), a listed video missing from the
manifest is an error naming it. Run in-process on UCF101-format split files."""

import runpy
from pathlib import Path

import pytest
import yaml

from har.extract import MANIFEST_FIELDS
from har.fileio import read_csv, write_csv
from har.stage import run

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["Jump", "Wave"]
TRAIN_GROUPS, TEST_GROUPS = range(8, 15), range(1, 3)  # split 1 tests on the first groups
FAILED = {"Jump/v_Jump_g09_c02", "Wave/v_Wave_g01_c01"}  # one training, one test video


def video(cls: str, group: int, clip: int) -> str:
    return f"{cls}/v_{cls}_g{group:02d}_c{clip:02d}"


def write_split_files(splits: Path) -> None:
    """classInd.txt, trainlist01.txt, testlist01.txt in the official format (CRLF)."""
    splits.mkdir(parents=True)
    (splits / "classInd.txt").write_bytes(
        "".join(f"{i} {c}\r\n" for i, c in enumerate(CLASSES, 1)).encode())
    train = [f"{video(c, g, k)}.avi {i}\r\n" for g in TRAIN_GROUPS
             for i, c in enumerate(CLASSES, 1) for k in (1, 2)]
    test = [f"{video(c, g, k)}.avi\r\n" for g in TEST_GROUPS for c in CLASSES for k in (1, 2)]
    (splits / "trainlist01.txt").write_bytes("".join(train).encode())
    (splits / "testlist01.txt").write_bytes("".join(test).encode())


def manifest_row(vid: str) -> dict:
    row = {k: "" for k in MANIFEST_FIELDS}
    row.update({"id": vid, "class": vid.split("/")[0], "group": vid.split("_")[-2],
                "source": f"{vid}.avi"})
    if vid in FAILED:
        row.update({"status": "failed", "error": f"{vid}.avi: no decodable video frame"})
    else:
        row.update({"status": "ok", "frames": f"{vid}.npz", "frames_stored": 8})
    return row


@pytest.fixture
def work(tmp_path, monkeypatch):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["dataset"].update({"name": "synthetic", "split": 1})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    write_split_files(tmp_path / "data/raw/splits")
    everything = [video(c, g, k) for g in [*TRAIN_GROUPS, *TEST_GROUPS] for c in CLASSES
                  for k in (1, 2)]
    write_csv(tmp_path / "data/manifest.csv", MANIFEST_FIELDS,
              [manifest_row(v) for v in everything])
    monkeypatch.chdir(tmp_path)
    return tmp_path


def split_main():
    return runpy.run_path(str(ROOT / "stages" / "split.py"), run_name="stage")["main"]


def ids(path: Path) -> list[str]:
    return [r["id"] for r in read_csv(path)]


def test_videos_whose_extraction_failed_are_left_out_and_counted(work, capsys):
    split_main()()
    sets = {name: ids(work / f"data/splits/{name}.csv") for name in ("train", "val", "test")}
    listed_train = {video(c, g, k) for g in TRAIN_GROUPS for c in CLASSES for k in (1, 2)}
    listed_test = {video(c, g, k) for g in TEST_GROUPS for c in CLASSES for k in (1, 2)}
    assert not FAILED & {v for rows in sets.values() for v in rows}
    # Every other video is in exactly one set: nothing else dropped, nothing twice.
    assert sorted(sets["train"] + sets["val"]) == sorted(listed_train - FAILED)
    assert sorted(sets["test"]) == sorted(listed_test - FAILED)
    assert len(sets["test"]) == 7  # the number the test accuracy is measured on
    out = capsys.readouterr().out
    assert "split: test 7 videos in 2 groups (1 skipped: failed extraction)" in out
    assert out.count("(1 skipped: failed extraction)") == 2  # test, and train or val (g09's set)


def test_a_listed_video_missing_from_the_manifest_is_an_error_naming_it(work):
    manifest = work / "data/manifest.csv"
    lines = manifest.read_text().splitlines(keepends=True)
    gone = video("Wave", 2, 2)
    manifest.write_text("".join(line for line in lines if not line.startswith(gone + ",")))
    with pytest.raises(SystemExit) as exit_:
        run("split", split_main())
    assert str(exit_.value) == (f"split: data/raw/splits: 1 test videos of split 1 are not in "
                                f"data/manifest.csv, e.g. {gone}")
    assert not (work / "data/splits/test.csv").exists()


def test_a_set_left_empty_by_failures_is_an_error(work):
    manifest = work / "data/manifest.csv"
    rows = read_csv(manifest)
    for r in rows:
        if int(r["group"][1:]) in TEST_GROUPS:
            r.update({"status": "failed", "frames": "", "frames_stored": ""})
    write_csv(manifest, MANIFEST_FIELDS, rows)
    with pytest.raises(SystemExit, match="^split: split 1: the test set is empty$"):
        run("split", split_main())
