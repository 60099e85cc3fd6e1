"""An interrupted write never leaves half a file where DVC would cache it."""

import pytest

from har.fileio import atomic_path, write_text


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out" / "table.md"
    write_text(target, "complete\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half a fi")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "complete\n"
    assert [p.name for p in target.parent.iterdir()] == ["table.md"]


def test_new_file_appears_only_when_complete(tmp_path):
    target = tmp_path / "metrics.json"
    with atomic_path(target) as tmp:
        tmp.write_text("{}")
        assert not target.exists()  # still under its temporary name
    assert target.read_text() == "{}"


def test_outputs_get_the_usual_file_mode_not_a_private_one(tmp_path, monkeypatch):
    monkeypatch.setattr("har.fileio._UMASK", 0o022)
    write_text(tmp_path / "out.txt", "x")
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o644
