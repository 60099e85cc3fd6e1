"""Extraction of the real RAR fixtures and of hostile or broken archives."""

import stat
import sys
import zipfile
from pathlib import Path

import pytest

from har.datasets.archives import ArchiveError, archive_format, extract, extract_nested

SUBDIRS_FILES = {  # the tree of rar3-subdirs.rar and rar5-subdirs.rar
    "sub/dir1/file1.txt": b"file1\n",
    "sub/dir2/file2.txt": b"file2\n",
    "sub/with space/long fn.txt": b"long fn\n",
    "sub/üȵĩöḋè/file.txt": b"file\n",
}
SUBDIRS_DIRS = {"sub", "sub/dir1", "sub/dir2", "sub/with space", "sub/üȵĩöḋè", "sub/empty"}
SOLID_TEXT = "".join(f"{i:03d}\n" for i in range(512)).encode()  # 2048 bytes


@pytest.fixture
def rars(fixtures) -> Path:
    return fixtures / "rar"


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under `folder` with its content (None for a folder)."""
    return {p.relative_to(folder).as_posix(): (None if p.is_dir() else p.read_bytes())
            for p in sorted(folder.rglob("*"))}


def files_and_dirs(folder: Path) -> tuple[dict[str, bytes], set[str]]:
    tree = snapshot(folder)
    return ({k: v for k, v in tree.items() if v is not None},
            {k for k, v in tree.items() if v is None})


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize("name", ["rar3-subdirs.rar", "rar5-subdirs.rar"])
def test_subdirs_tree_with_unicode_spaces_and_empty_dir(rars, tmp_path, name):
    dest = tmp_path / "out"
    written = extract(rars / name, dest)
    files, dirs = files_and_dirs(dest)
    assert files == SUBDIRS_FILES
    assert dirs == SUBDIRS_DIRS
    assert sorted(written) == sorted(dest / n for n in SUBDIRS_FILES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no partial folder left


def test_formats_are_told_by_magic_bytes(rars, tmp_path):
    assert archive_format(rars / "rar3-subdirs.rar") == "rar4"
    assert archive_format(rars / "rar5-subdirs.rar") == "rar5"
    disguised = make_zip(tmp_path / "really-a-zip.rar", {"a.txt": b"a"})
    assert archive_format(disguised) == "zip"
    extract(disguised, tmp_path / "out")
    assert snapshot(tmp_path / "out") == {"a.txt": b"a"}


def test_solid_rar(rars, tmp_path):
    extract(rars / "rar3-solid.rar", tmp_path / "out")
    assert snapshot(tmp_path / "out") == {"stest1.txt": SOLID_TEXT, "stest2.txt": SOLID_TEXT}


def test_multi_volume_rar_from_part1(rars, tmp_path):
    written = extract(rars / "rar3-vols.part1.rar", tmp_path / "out")
    files, dirs = files_and_dirs(tmp_path / "out")
    assert files == {
        "vols/bigfile.txt": b"".join(b"%40d\n" % i for i in range(1, 5001)),  # 205000 bytes
        "vols/smallfile.txt": b"".join(b"%40d\n" % i for i in range(1, 51)),  # 2050 bytes
    }
    assert dirs == {"vols"}
    assert [p.stat().st_size for p in written] == [205000, 2050]


def test_multi_volume_missing_last_volume(rars, tmp_path):
    for part in ("part1", "part2"):
        (tmp_path / f"rar3-vols.{part}.rar").write_bytes((rars / f"rar3-vols.{part}.rar").read_bytes())
    with pytest.raises(ArchiveError, match=r"rar3-vols\.part3\.rar not found"):
        extract(tmp_path / "rar3-vols.part1.rar", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_multi_volume_truncated_last_volume(rars, tmp_path):
    """Cut just before part3's end-of-archive block: UnRAR alone reports no error there."""
    for part in ("part1", "part2", "part3"):
        data = (rars / f"rar3-vols.{part}.rar").read_bytes()
        (tmp_path / f"rar3-vols.{part}.rar").write_bytes(data[:-20] if part == "part3" else data)
    with pytest.raises(ArchiveError, match=r"rar3-vols\.part3\.rar is truncated"):
        extract(tmp_path / "rar3-vols.part1.rar", tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "rar3-vols.part1.rar", "rar3-vols.part2.rar", "rar3-vols.part3.rar"]


def test_later_volume_alone_is_refused(rars, tmp_path):
    with pytest.raises(ArchiveError, match="starts in a previous volume"):
        extract(rars / "rar3-vols.part2.rar", tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_symlink_traversal_writes_nothing_outside(rars, tmp_path):
    """`up -> ..` then `up/pwned.txt`: the link is refused, so nothing lands anywhere."""
    dest = tmp_path / "box" / "dest"
    (tmp_path / "box").mkdir()
    (tmp_path / "box" / "keep.txt").write_bytes(b"keep")
    before = snapshot(tmp_path)
    with pytest.raises(ArchiveError, match=r"rar5-evil-symlink-traversal\.rar.*'up'.*link"):
        extract(rars / "rar5-evil-symlink-traversal.rar", dest)
    assert snapshot(tmp_path) == before
    assert not any(p.is_symlink() for p in tmp_path.rglob("*"))


@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil.txt", "..\\evil.txt",
                                  "C:/evil.txt", "ABSOLUTE"])
def test_zip_member_leaving_the_folder_is_refused(tmp_path, name):
    if name == "ABSOLUTE":
        name = str(tmp_path / "evil.txt")
    archive = make_zip(tmp_path / "evil.zip", {"fine.txt": b"ok", name: b"pwned"})
    with zipfile.ZipFile(archive) as zf:
        assert zf.namelist()[1] == name  # zipfile stored the hostile name as given
    before = snapshot(tmp_path)
    with pytest.raises(ArchiveError, match=r"evil\.zip: refusing member .*leaves the target"):
        extract(archive, tmp_path / "dest")
    assert snapshot(tmp_path) == before


def test_zip_symlink_is_refused(tmp_path):
    link = zipfile.ZipInfo("up")
    link.create_system = 3  # Unix: the high 16 bits of external_attr are st_mode
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(link, "..")
        zf.writestr("up/pwned.txt", b"pwned")
    before = snapshot(tmp_path)
    with pytest.raises(ArchiveError, match=r"link\.zip: refusing member 'up': it is a link \(-> '\.\.'\)"):
        extract(archive, tmp_path / "dest")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("name,keep", [
    ("rar3-subdirs.rar", 0.5), ("rar5-subdirs.rar", 0.5), ("rar3-solid.rar", 0.5),
    ("rar3-subdirs.rar", -7),  # everything but the end-of-archive block, which UnRAR
    ("rar5-subdirs.rar", -8),  # alone takes for a normal end
])
def test_truncated_rar_fails_and_leaves_no_folder(rars, tmp_path, name, keep):
    data = (rars / name).read_bytes()
    cut = tmp_path / f"cut-{name}"
    cut.write_bytes(data[:int(len(data) * keep)] if keep > 0 else data[:keep])
    with pytest.raises(ArchiveError, match=f"cut-{name}"):
        extract(cut, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == [cut.name]


def test_corrupt_rar_data_fails(rars, tmp_path):
    data = bytearray((rars / "rar3-solid.rar").read_bytes())
    data[150] ^= 0xFF  # inside the compressed data
    bad = tmp_path / "bad.rar"
    bad.write_bytes(data)
    with pytest.raises(ArchiveError, match=r"bad\.rar: member .*checksum"):
        extract(bad, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.rar"]


def test_corrupt_zip_member_removes_the_partial_folder(tmp_path):
    archive = make_zip(tmp_path / "bad.zip", {"first.txt": b"written first", "second.txt": b"hello"})
    archive.write_bytes(archive.read_bytes().replace(b"hello", b"jello"))  # stored, so CRC fails
    with pytest.raises(ArchiveError, match=r"bad\.zip: corrupt"):
        extract(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.zip"]


def test_truncated_zip_fails(tmp_path):
    archive = make_zip(tmp_path / "cut.zip", {"a.txt": b"a" * 1000})
    archive.write_bytes(archive.read_bytes()[:-30])
    with pytest.raises(ArchiveError, match=r"cut\.zip"):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_not_an_archive(tmp_path):
    video = tmp_path / "clip.rar"
    video.write_bytes(b"RIFF\x00\x00\x00\x00AVI LIST")
    with pytest.raises(ArchiveError, match=r"clip\.rar: not a RAR or ZIP archive"):
        extract(video, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_existing_destination_is_not_touched(tmp_path):
    archive = make_zip(tmp_path / "a.zip", {"a.txt": b"new"})
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.txt").write_bytes(b"old")
    with pytest.raises(FileExistsError):
        extract(archive, tmp_path / "out")
    assert snapshot(tmp_path / "out") == {"a.txt": b"old"}


def test_partial_folder_of_a_killed_run_is_removed(tmp_path):
    stale = tmp_path / "out.partial-dead"
    (stale / "half").mkdir(parents=True)
    extract(make_zip(tmp_path / "a.zip", {"a.txt": b"a"}), tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip", "out"]


def test_nested_archives_merge_into_one_tree(rars, tmp_path):
    """Like hmdb51_org.rar: an outer archive of per-class archives."""
    inner_zip = make_zip(tmp_path / "inner.zip", {"cartwheel/v1.avi": b"avi1", "cartwheel/v2.avi": b"avi2"})
    outer = make_zip(tmp_path / "outer.zip", {
        "brush_hair.rar": (rars / "rar5-subdirs.rar").read_bytes(),
        "solid.RAR": (rars / "rar3-solid.rar").read_bytes(),
        "more/cartwheel.zip": inner_zip.read_bytes(),
        "readme.txt": b"not an archive",
    })
    dest = tmp_path / "hmdb"
    written = extract_nested(outer, dest)
    files, dirs = files_and_dirs(dest)
    expected = {**SUBDIRS_FILES, "stest1.txt": SOLID_TEXT, "stest2.txt": SOLID_TEXT,
                "more/cartwheel/v1.avi": b"avi1", "more/cartwheel/v2.avi": b"avi2",
                "readme.txt": b"not an archive"}
    assert files == expected  # the inner archives themselves are gone
    assert dirs == SUBDIRS_DIRS | {"more", "more/cartwheel"}
    assert sorted(written) == sorted(dest / n for n in expected)


def test_nested_name_clash_fails_instead_of_overwriting(rars, tmp_path):
    outer = make_zip(tmp_path / "outer.zip", {
        "a.rar": (rars / "rar3-subdirs.rar").read_bytes(),
        "b.rar": (rars / "rar5-subdirs.rar").read_bytes(),  # the same file names again
    })
    with pytest.raises(ArchiveError, match=r"b\.rar: cannot write member 'sub/dir2/file2.txt'"):
        extract_nested(outer, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outer.zip"]


def test_missing_rar_library_says_what_to_install(rars, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "unrar.cffi", None)  # makes the import fail
    with pytest.raises(ArchiveError) as info:
        extract(rars / "rar5-subdirs.rar", tmp_path / "out")
    message = str(info.value)
    assert "rar5-subdirs.rar" in message
    assert "pip install -r requirements.txt" in message and "unrar-cffi" in message
    assert "apt-get install build-essential" in message and "xcode-select --install" in message
    assert not (tmp_path / "out").exists()
