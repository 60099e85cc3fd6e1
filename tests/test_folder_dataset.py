"""Users' folders of videos: scanning, the group-aware stratified split, its CSV files."""

import re
import warnings
from collections import Counter
from pathlib import Path

import pytest

from har.datasets.folder import (DEFAULT_GROUP_REGEX, folder_group, make_folder_split,
                                read_folder_split, scan_folder, write_folder_split)
from har.datasets.splits import SplitError, assert_disjoint_groups

DEFAULT = re.compile(DEFAULT_GROUP_REGEX)


def make_tree(root, files):
    """Empty files at `root/<relative path>`, created in the order given."""
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    return root


def ucf_names(cls, groups, clips):
    """`clips[g]` clips for each of `groups` UCF-style groups of class `cls`."""
    return [f"{cls}/v_{cls}_g{g:02d}_c{c:02d}.avi" for g in range(1, groups + 1)
            for c in range(1, clips(g) + 1)]


def dataset(root, order=1):
    # Three classes of uneven size, group sizes 2 to 6, and in C files without groups.
    files = (ucf_names("A", 10, lambda g: 2 + g % 5) + ucf_names("B", 7, lambda g: 6 - g % 3)
             + [f"C/clip{i}.mp4" for i in range(9)])
    return make_tree(root, files[::order])


def split_all(root, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the trees here hold only videos
        return make_folder_split(root, **kwargs)


# Scanning

def test_scan_finds_videos_and_counts_what_it_ignores(tmp_path):
    make_tree(tmp_path, ["A/b.mp4", "A/a.AVI", "A/notes.txt", "A/._a.mp4", "A/.DS_Store",
                         "A/sub/deep.mp4", "B/x y.MkV", "README.md", ".git/config"])
    with pytest.warns(UserWarning, match="ignored 6 entries that are not videos"):
        assert scan_folder(tmp_path) == ["A/a.AVI", "A/b.mp4", "B/x y.MkV"]
    with pytest.warns(UserWarning):
        assert scan_folder(tmp_path, (".MP4", ".Mkv")) == ["A/b.mp4", "B/x y.MkV"]


def test_scan_errors(tmp_path):
    with pytest.raises(SplitError, match="nowhere: not a folder of class folders"):
        scan_folder(tmp_path / "nowhere")
    with pytest.raises(SplitError, match="no class folders"):
        scan_folder(tmp_path)
    make_tree(tmp_path, ["loose.mp4"])
    with pytest.raises(SplitError, match="no class folders"):
        scan_folder(tmp_path)
    make_tree(tmp_path, ["A/a.mp4", "Empty/notes.txt"])
    with pytest.raises(SplitError, match=r"Empty: class folder has no videos with extensions "
                                         r"\.avi, \.m4v"):
        scan_folder(tmp_path)


# Groups

@pytest.mark.parametrize("path, regex, group", [
    ("A/v_A_g08_c01.avi", DEFAULT_GROUP_REGEX, "A/08"),
    ("B/v_B_g08_c03.avi", DEFAULT_GROUP_REGEX, "B/08"),  # same number, other class
    ("A/clip 1.mp4", DEFAULT_GROUP_REGEX, "A/clip 1.mp4"),  # no match: its own group
    ("A/alice-take3.mp4", r"^(.+)-take\d+$", "A/alice"),
    ("A/day2 session04 cam1.mov", r"session\d+", "A/session04"),  # no group: whole match
    ("A/v_A_g08_c01.avi", r"^(.+)-take\d+$", "A/v_A_g08_c01.avi"),
])
def test_group_key(path, regex, group):
    assert folder_group(path, re.compile(regex)) == group


def test_custom_regex_changes_the_groups(tmp_path):
    make_tree(tmp_path, [f"A/{who}-take{t}.mp4" for who in "pqrs" for t in (1, 2, 3)])
    _, train, test = split_all(tmp_path, group_regex=r"^(.)-take")
    assert {e.group for e in train + test} == {"A/p", "A/q", "A/r", "A/s"}
    _, train, test = split_all(tmp_path)  # the default regex matches nothing: 12 groups
    assert len({e.group for e in train + test}) == 12


# The split

def test_split_is_group_aware_and_stratified(tmp_path):
    classes, train, test = split_all(dataset(tmp_path))
    assert classes == ["A", "B", "C"]
    assert_disjoint_groups({"train": train, "test": test})
    assert Counter(e.path for e in train + test) == Counter(scan_folder(tmp_path))
    for label, cls in enumerate(classes):
        n_train = sum(e.label == label for e in train)
        n_test = sum(e.label == label for e in test)
        assert n_train and n_test, cls
        assert abs(n_test / (n_train + n_test) - 0.3) < 0.1, cls
    assert all(e.video == e.path.rsplit(".", 1)[0] for e in train + test)
    assert all(e.group.split("/")[0] == classes[e.label] for e in train + test)


def test_test_fraction_is_followed(tmp_path):
    dataset(tmp_path)
    small = sum(e.label == 0 for e in split_all(tmp_path, test_fraction=0.15)[2])
    large = sum(e.label == 0 for e in split_all(tmp_path, test_fraction=0.6)[2])
    assert small < large
    for fraction in (0.0, 1.0):
        with pytest.raises(ValueError, match="test_fraction must be between 0 and 1"):
            make_folder_split(tmp_path, test_fraction=fraction)


def test_two_groups_always_give_one_each(tmp_path):
    make_tree(tmp_path, ["A/v_A_g01_c01.avi", "A/v_A_g01_c02.avi", "A/v_A_g02_c01.avi"])
    for fraction in (0.01, 0.99):
        _, train, test = split_all(tmp_path, test_fraction=fraction)
        assert len({e.group for e in train}) == len({e.group for e in test}) == 1


def test_split_is_deterministic_and_seeded(tmp_path, monkeypatch):
    first = split_all(dataset(tmp_path / "one"))
    assert split_all(tmp_path / "one") == first
    # Same names created in the opposite order: same split.
    assert split_all(dataset(tmp_path / "two", order=-1)) == first
    # ext4 lists by name hash whatever the creation order, so also reverse the listing.
    iterdir = Path.iterdir
    monkeypatch.setattr(Path, "iterdir", lambda self: reversed(list(iterdir(self))))
    assert split_all(tmp_path / "one") == first
    assert split_all(tmp_path / "one", seed=1)[2] != first[2]


def test_classes_with_the_same_group_names_are_shuffled_independently(tmp_path):
    make_tree(tmp_path, [f for cls in "ABCDE" for f in ucf_names(cls, 10, lambda g: 1)])
    _, _, test = split_all(tmp_path)
    numbers = {cls: {e.group.split("/")[1] for e in test if e.video[0] == cls} for cls in "ABCDE"}
    assert len({frozenset(n) for n in numbers.values()}) > 1


def test_other_classes_do_not_change_a_class_split(tmp_path):
    def placement(classes, train, test):
        return {(e.video, e.group, name) for name, entries in (("train", train), ("test", test))
                for e in entries if classes[e.label] != "0 new"}

    before = split_all(dataset(tmp_path))
    make_tree(tmp_path, ["0 new/a.mp4", "0 new/b.mp4"])  # sorts first: every label shifts
    after = split_all(tmp_path)
    assert after[0] == ["0 new", "A", "B", "C"]
    assert placement(*after) == placement(*before)


def test_one_group_class_is_an_error(tmp_path):
    make_tree(tmp_path, ucf_names("A", 3, lambda g: 2) + ucf_names("Solo", 1, lambda g: 4))
    with pytest.raises(SplitError, match=r"Solo: all 4 videos are one group \(Solo/01\), so the "
                                         "class cannot be both trained and tested"):
        make_folder_split(tmp_path)


def test_same_stem_twice_is_an_error(tmp_path):
    make_tree(tmp_path, ["A/a.mp4", "A/a.avi", "A/b.mp4"])
    with pytest.raises(SplitError, match=r"A/a\.avi and A/a\.mp4 would share the video id 'A/a'"):
        make_folder_split(tmp_path)


# Split files

AWKWARD = ["Jumping Jacks/take 1 (left).mp4", "Jumping Jacks/take 2, \"best\".MOV",
           "Jumping Jacks/ä!#&+;@[x]~.webm", "Tai, Chi/morning;1.m4v", "Tai, Chi/evening 2.mkv",
           "Tai, Chi/night @3.mpeg"]


def test_awkward_names_round_trip(tmp_path):
    make_tree(tmp_path / "videos", AWKWARD)
    classes, train, test = split_all(tmp_path / "videos", test_fraction=0.5)
    write_folder_split(tmp_path / "splits", classes, train, test)
    assert read_folder_split(tmp_path / "splits") == (classes, train, test)
    assert classes == ["Jumping Jacks", "Tai, Chi"]
    assert sorted(e.path for e in train + test) == sorted(AWKWARD)
    text = (tmp_path / "splits" / "split.csv").read_bytes().decode()
    assert text.startswith("set,class,path,group\r\ntrain,")
    assert '"Tai, Chi/morning;1.m4v"' in text  # quoted, not split at the comma


def rewrite(splits, old, new):
    path = splits / "split.csv"
    text = path.read_bytes().decode()  # bytes: keep the CRLF of the csv module
    assert old in text
    path.write_bytes(text.replace(old, new, 1).encode())


@pytest.fixture
def splits(tmp_path):
    make_tree(tmp_path / "videos", ["A/a1.mp4", "A/a2.mp4", "B/b1.mp4", "B/b2.mp4"])
    write_folder_split(tmp_path / "splits", *split_all(tmp_path / "videos"))
    return tmp_path / "splits"


@pytest.mark.parametrize("old, new, message", [
    ("train,A,", "val,A,", r"split\.csv:\d: set 'val' is not train or test"),
    ("train,A,A/", "train,C,A/", r"split\.csv:\d: class 'C' is not in classes\.csv"),
    ("train,A,A/", "train,A,B/", r"split\.csv:\d: path 'B/.*' is not <class>/<file> of its class"),
    ("set,class,path,group", "set,class,path", r"split\.csv:1: expected header"),
    (",A/a1.mp4\r\n", ",\r\n", r"split\.csv:\d: empty group"),
    (",A/a1.mp4\r\n", ",A/a1.mp4,extra\r\n", r"split\.csv:\d: expected 4 fields"),
    (",A/a1.mp4\r\n", "\r\n", r"split\.csv:\d: expected 4 fields"),
])
def test_tampered_split_file_is_refused(splits, old, new, message):
    rewrite(splits, old, new)
    with pytest.raises(SplitError, match=message):
        read_folder_split(splits)


def test_group_in_both_sets_and_duplicates_are_refused(splits):
    _, train, test = read_folder_split(splits)
    a_train = next(e for e in train if e.label == 0)
    a_test = next(e for e in test if e.label == 0)
    rewrite(splits, f",{a_test.group}\r\n", f",{a_train.group}\r\n")
    with pytest.raises(SplitError, match=f"group {a_train.group} is in both train and test"):
        read_folder_split(splits)
    rewrite(splits, a_test.path, a_train.path)
    with pytest.raises(SplitError, match=f"video '{a_train.video}' is listed twice"):
        read_folder_split(splits)


def test_bad_classes_file_and_missing_files(splits):
    (splits / "classes.csv").write_text("label,class\r\n0,A\r\n2,B\r\n")
    with pytest.raises(SplitError, match=r"classes\.csv:3: expected label 1"):
        read_folder_split(splits)
    (splits / "classes.csv").write_text("label,class\r\n0,A\r\n1,A\r\n")
    with pytest.raises(SplitError, match=r"classes\.csv:3: class 'A' is listed twice"):
        read_folder_split(splits)
    (splits / "classes.csv").unlink()
    with pytest.raises(SplitError, match=r"classes\.csv: split file not found"):
        read_folder_split(splits)
