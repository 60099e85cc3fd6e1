"""HMDB51 split parsing against the official files, its grouping rule, and its errors."""

from collections import Counter

import pytest

from har.datasets.hmdb51 import hmdb51_group, read_hmdb51_file, read_hmdb51_split
from har.datasets.splits import SplitError, assert_disjoint_groups, carve_validation

NAME = "April_09_brush_hair_u_nm_np1_ba_goo_0"


@pytest.fixture(scope="module")
def hmdb(fixtures):
    return fixtures / "hmdb51_splits"


def all_entries(hmdb, split):
    """Every video of a split with its mark, unused ones included."""
    classes, _, _ = read_hmdb51_split(hmdb, split)
    marked = []
    for label, name in enumerate(classes):
        by_mark = read_hmdb51_file(hmdb / f"{name}_test_split{split}.txt", name, label)
        marked += [(mark, e) for mark, entries in by_mark.items() for e in entries]
    return marked


@pytest.mark.parametrize("split", [1, 2, 3])
def test_official_counts(hmdb, split):
    classes, train, test = read_hmdb51_split(hmdb, split)
    assert len(classes) == 51
    assert (len(train), len(test)) == (3570, 1530)
    marks = Counter(mark for mark, _ in all_entries(hmdb, split))
    assert marks == {1: 3570, 2: 1530, 0: 1666}
    assert Counter(e.label for e in train) == {label: 70 for label in range(51)}
    assert Counter(e.label for e in test) == {label: 30 for label in range(51)}
    assert not {e.video for e in train} & {e.video for e in test}


def test_classes_sorted_by_code_point(hmdb):
    classes, train, _ = read_hmdb51_split(hmdb, 1)
    assert classes == sorted(classes)
    assert (classes[0], classes[-1]) == ("brush_hair", "wave")
    # Where code point order and locale order (TSN's class_list.txt) disagree.
    assert classes.index("kick") + 1 == classes.index("kick_ball") == 21
    assert classes.index("sword") + 1 == classes.index("sword_exercise") == 45
    assert all(e.video.split("/")[0] == classes[e.label] for e in train)


def test_names_paths_and_trailing_space(hmdb):
    raw = (hmdb / "brush_hair_test_split1.txt").read_bytes()
    assert raw.startswith(f"{NAME}.avi 1 \n".encode())  # the trailing space is real
    _, train, _ = read_hmdb51_split(hmdb, 1)
    first = train[0]
    assert (first.video, first.path, first.label, first.group) == (
        f"brush_hair/{NAME}", f"brush_hair/{NAME}.avi", 0, "april")
    assert not any(e.path.endswith(" ") or e.video.endswith(".avi") for e in train)


def test_special_characters_survive(hmdb):
    entries = [e for _, e in all_entries(hmdb, 1)]
    special = [e for e in entries if set(e.path) & set("!#&()+;@[]~")]
    assert len(special) == 536
    assert max(len(e.path.split("/", 1)[1]) for e in entries) == 120
    odd = "brush_hair/Brushing_Her_Hair__[_NEW_AUDIO_]_UPDATED!!!!_brush_hair_h_cm_np1_fr_goo_0"
    assert odd in {e.video for e in entries}


@pytest.mark.parametrize("stem, cls, group", [
    (NAME, "brush_hair", "april"),  # a date looks like a part number
    ("Return_of_the_King_7_shoot_bow_u_nm_np10_ba_med_2", "shoot_bow", "return_of_the_king"),
    ("RETURN_OF_THE_KING_dive_f_cm_np1_le_med_0", "dive", "return_of_the_king"),
    # The class name inside the source is not mistaken for the class.
    ("Run_Lola_Run_run_f_cm_np1_ba_med_3", "run", "run_lola_run"),
    # Numbers inside the name stay: only trailing part numbers are dropped.
    ("Age13_1_laugh_h_nm_np1_fr_goo_0", "laugh", "age13"),
])
def test_group_is_the_normalised_source(stem, cls, group):
    assert hmdb51_group(stem, cls) == group


def test_group_needs_an_hmdb_name():
    with pytest.raises(SplitError, match="not an HMDB51 name of class 'kiss'"):
        hmdb51_group(NAME, "kiss")
    with pytest.raises(SplitError, match="cannot tell its source"):
        hmdb51_group("brush_hair_0", "brush_hair")


def test_grouping_facts_of_the_docstring(hmdb):
    entries = [e for _, e in all_entries(hmdb, 1)]
    sizes = Counter(e.group for e in entries)
    assert len(sizes) == 1303
    assert sizes.most_common(1) == [("theboondocksaints", 125)]
    assert sum(n == 1 for n in sizes.values()) == 325
    classes_of = {}
    for e in entries:
        classes_of.setdefault(e.group, set()).add(e.label)
    assert sum(len(c) > 1 for c in classes_of.values()) == 216


def exact_source(entry):
    cls, stem = entry.video.split("/")
    return cls, stem.rsplit(f"_{cls}_", 1)[0]


@pytest.mark.parametrize("split, crossing_test_clips", [(1, 495), (2, 559), (3, 572)])
def test_official_test_shares_sources_with_train(hmdb, split, crossing_test_clips):
    _, train, test = read_hmdb51_split(hmdb, split)
    # Exact (class, source name) pairs never cross: the official rule.
    assert not {exact_source(e) for e in train} & {exact_source(e) for e in test}
    # But our groups (the source, across classes) do.
    train_groups = {e.group for e in train}
    assert sum(e.group in train_groups for e in test) == crossing_test_clips


def test_validation_carved_from_hmdb_train_keeps_groups_disjoint(hmdb):
    _, train, test = read_hmdb51_split(hmdb, 1)
    kept, val = carve_validation(train, 0.15, seed=0)
    assert len(kept) + len(val) == len(train)
    # 140 groups drawn at once, plus one for each class the draw missed (2 with seed 0).
    assert len({e.group for e in val}) == round(931 * 0.15) + 2
    assert not {e.group for e in kept} & {e.group for e in val}
    assert {e.label for e in kept} == set(range(51))
    assert {e.label for e in val} == set(range(51))
    assert_disjoint_groups({"train": kept, "val": val})


# Malformed inputs, in small files.

def write(path, text):
    path.write_text(text, newline="")
    return path


@pytest.mark.parametrize("line, message", [
    ("April_09_brush_hair_u_nm_np1_ba_goo_0.avi\n", "expected '<video>.avi <0|1|2>'"),
    ("April_09_brush_hair_u_nm_np1_ba_goo_0.avi 1 extra\n", "expected '<video>.avi <0|1|2>'"),
    ("April 09_brush_hair_u_nm_np1_ba_goo_0.avi 1\n", "expected '<video>.avi <0|1|2>'"),
    ("April_09_brush_hair_u_nm_np1_ba_goo_0.mp4 1\n", "expected '<video>.avi <0|1|2>'"),
    ("April_09_brush_hair_u_nm_np1_ba_goo_0.avi 3 \n", "mark '3' is not 0"),
    ("April_09_brush_hair_u_nm_np1_ba_goo_0.avi x \n", "mark 'x' is not 0"),
    ("April_09_kiss_u_nm_np1_ba_goo_0.avi 1 \n", "not an HMDB51 name of class 'brush_hair'"),
])
def test_bad_line_names_file_and_line(tmp_path, line, message):
    good = "April_09_brush_hair_u_nm_np1_ba_goo_1.avi 1 \n"
    path = write(tmp_path / "brush_hair_test_split1.txt", good + "\n" + line)
    with pytest.raises(SplitError, match=rf"brush_hair_test_split1\.txt:3: .*{message}"):
        read_hmdb51_file(path, "brush_hair", 0)


def test_video_listed_twice(tmp_path):
    path = write(tmp_path / "a.txt", f"{NAME}.avi 1 \n{NAME}.avi 2 \n")
    with pytest.raises(SplitError, match=rf"a\.txt:2: {NAME}\.avi is listed twice "
                                         r"\(first on line 1\) with mark 2; line 1 says 1"):
        read_hmdb51_file(path, "brush_hair", 0)
    write(path, f"{NAME}.avi 1 \n{NAME}.avi 1 \n")
    with pytest.raises(SplitError, match=r"a\.txt:2: .* listed twice \(first on line 1\)$"):
        read_hmdb51_file(path, "brush_hair", 0)


def test_crlf_and_missing_trailing_space_are_accepted(tmp_path):
    path = write(tmp_path / "a.txt", f"{NAME}.avi 2\r\n")
    by_mark = read_hmdb51_file(path, "brush_hair", 3)
    assert [e.path for e in by_mark[2]] == [f"brush_hair/{NAME}.avi"]
    assert by_mark[2][0].label == 3 and not by_mark[0] and not by_mark[1]


def fake_splits(root, classes, splits=(1, 2, 3)):
    for c in classes:
        for k in splits:
            write(root / f"{c}_test_split{k}.txt", f"S_{c}_u_nm_np1_ba_goo_0.avi {k % 3} \n")


def test_wrong_number_of_classes(tmp_path):
    fake_splits(tmp_path, [f"c{i:02d}" for i in range(50)])
    (tmp_path / "notes.txt").write_text("not a split file")
    with pytest.raises(SplitError, match="expected 51 classes .* found 50"):
        read_hmdb51_split(tmp_path, 1)
    with pytest.raises(SplitError, match="found 0"):
        read_hmdb51_split(tmp_path / "nowhere", 1)


def test_missing_class_file_for_the_split(tmp_path):
    classes = [f"c{i:02d}" for i in range(51)]
    fake_splits(tmp_path, classes)
    assert len(read_hmdb51_split(tmp_path, 2)[0]) == 51
    (tmp_path / "c07_test_split2.txt").unlink()
    with pytest.raises(SplitError, match=r"c07_test_split2\.txt: missing: class 'c07' has no "
                                         "file for split 2"):
        read_hmdb51_split(tmp_path, 2)
    assert len(read_hmdb51_split(tmp_path, 3)[0]) == 51
    with pytest.raises(SplitError, match="HMDB51 has splits 1, 2, 3, not 4"):
        read_hmdb51_split(tmp_path, 4)
