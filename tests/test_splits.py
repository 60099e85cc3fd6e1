"""Split parsing against the official UCF101 files, and validation carved out by group."""

import pytest

from har.datasets.splits import Entry, SplitError, assert_disjoint_groups, carve_validation
from har.datasets.ucf101 import read_class_index, read_list, read_ucf_split

OFFICIAL_COUNTS = {1: (9537, 3783), 2: (9586, 3734), 3: (9624, 3696)}


@pytest.mark.parametrize("split", [1, 2, 3])
def test_official_ucf101_counts_and_groups(fixtures, split):
    classes, train, test = read_ucf_split(fixtures / "ucf101_splits", split)
    assert len(classes) == 101
    assert (len(train), len(test)) == OFFICIAL_COUNTS[split]
    test_groups = {f"g{g:02d}" for g in range(7 * (split - 1) + 1, 7 * split + 1)}
    assert {e.group for e in test} == test_groups
    assert not {e.group for e in train} & test_groups
    assert len({e.video for e in train + test}) == 13320


def test_crlf_endings_do_not_leak_into_names(fixtures):
    raw = (fixtures / "ucf101_splits" / "classInd.txt").read_bytes()
    assert b"\r\n" in raw  # the official files are CRLF
    classes = read_class_index(fixtures / "ucf101_splits" / "classInd.txt")
    assert classes[0] == "ApplyEyeMakeup" and classes[-1] == "YoYo"
    assert all("\r" not in c and " " not in c for c in classes)


def test_handstand_pushups_quirk(fixtures):
    classes, train, test = read_ucf_split(fixtures / "ucf101_splits", 1)
    label = classes.index("HandstandPushups")
    quirky = [e for e in train + test if e.video.startswith("HandstandPushups/")]
    assert len(quirky) == 128
    # The folder decides the class; the file name says "HandStand" with a capital S.
    assert all(e.label == label for e in quirky)
    assert all("/v_HandStandPushups_g" in e.video for e in quirky)
    assert "HandStandPushups" not in classes


def test_label_that_contradicts_folder_names_file_and_line(tmp_path):
    (tmp_path / "classInd.txt").write_text("1 A\r\n2 B\r\n")
    (tmp_path / "list.txt").write_text("A/v_A_g01_c01.avi 1\r\nB/v_B_g01_c01.avi 1\r\n")
    with pytest.raises(SplitError, match=r"list\.txt:2: label 1 does not match folder 'B'"):
        read_list(tmp_path / "list.txt", read_class_index(tmp_path / "classInd.txt"))


def test_unknown_class_and_missing_file_are_clear(tmp_path):
    (tmp_path / "list.txt").write_text("C/v_C_g01_c01.avi\n")
    with pytest.raises(SplitError, match=r"list\.txt:1: class folder 'C' is not in classInd"):
        read_list(tmp_path / "list.txt", ["A"])
    with pytest.raises(SplitError, match="nope.txt: split file not found"):
        read_class_index(tmp_path / "nope.txt")


def test_validation_is_carved_by_whole_groups(fixtures):
    _, train, test = read_ucf_split(fixtures / "ucf101_splits", 1)
    kept, val = carve_validation(train, 0.15, seed=0)
    assert len(kept) + len(val) == len(train)
    val_groups = {e.group for e in val}
    assert len(val_groups) == round(18 * 0.15)
    assert not val_groups & {e.group for e in kept}
    assert_disjoint_groups({"train": kept, "val": val, "test": test})
    # Deterministic in the seed, and the seed matters.
    assert carve_validation(train, 0.15, seed=0)[1] == val
    assert {e.group for e in carve_validation(train, 0.15, seed=1)[1]} != val_groups


def folder_entries(groups_per_class: dict[str, int]) -> list[Entry]:
    """Training entries of a folder dataset: groups numbered within their class, 3 clips each."""
    return [Entry(f"{cls}/v_{g}_{c}", f"{cls}/v_{g}_{c}.mp4", label, f"{cls}/{g}")
            for label, (cls, n) in enumerate(groups_per_class.items())
            for g in range(n) for c in range(3)]


@pytest.mark.parametrize("seed", range(20))
def test_every_class_with_two_groups_gets_validation_and_keeps_training(seed):
    # 40 majority groups against 2 and 1: a draw of 15% over all groups at once almost
    # never reaches the minority classes (it did not in the imbalanced test dataset).
    train = folder_entries({"wave": 40, "jump": 2, "solo": 1})
    kept, val = carve_validation(train, 0.15, seed)
    assert len(kept) + len(val) == len(train)
    assert not {e.group for e in kept} & {e.group for e in val}
    assert {e.label for e in kept} == {0, 1, 2}  # every class still trains
    assert {e.label for e in val} == {0, 1}  # solo's one group is needed for training
    assert len({e.group for e in val if e.label == 1}) == 1
    assert carve_validation(train, 0.15, seed) == (kept, val)


def test_a_draw_that_takes_a_class_s_only_group_gives_it_back():
    train = folder_entries({"wave": 3, "solo": 1})
    for seed in range(30):
        kept, val = carve_validation(train, 0.5, seed)
        assert {e.label for e in kept} == {0, 1}
        assert {e.label for e in val} == {0}


def test_carving_from_single_group_classes_says_why():
    with pytest.raises(SplitError, match="every class has one training group"):
        carve_validation(folder_entries({"a": 1, "b": 1}), 0.5, seed=0)


def test_group_crossing_sets_is_refused():
    a = Entry("A/v_A_g01_c01", "A/v_A_g01_c01.avi", 0, "g01")
    b = Entry("A/v_A_g01_c02", "A/v_A_g01_c02.avi", 0, "g01")
    with pytest.raises(SplitError, match="group g01 is in both train and test"):
        assert_disjoint_groups({"train": [a], "test": [b]})
