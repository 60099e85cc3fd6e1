"""har.download.fetch against a real HTTP server on 127.0.0.1 (tests/loopback.py) serving files built here."""

from __future__ import annotations

import hashlib
import time

import pytest

import har.download
from commands import free_port
from har.download import DownloadError, fetch

DATA = bytes(range(256)) * 2000  # 512 KB: several read chunks, so a cut lands mid-file
SHA256 = hashlib.sha256(DATA).hexdigest()
MD5 = hashlib.md5(DATA).hexdigest()
NAME = "archive.rar"


def test_download_verifies_sha256(server, tmp_path):
    server.files[NAME] = DATA
    dest = tmp_path / NAME
    assert fetch(server.url(NAME), dest, sha256=SHA256, progress=False) == dest
    assert dest.read_bytes() == DATA
    assert not (tmp_path / f"{NAME}.part").exists()
    assert [r.range for r in server.requests] == [None]


def test_dropped_connection_resumes_with_range(server, tmp_path):
    cut = len(DATA) // 3
    server.files[NAME] = DATA
    server.drop_after[NAME] = cut
    dest = fetch(server.url(NAME), tmp_path / NAME, sha256=SHA256, backoff=0, progress=True)
    assert [r.range for r in server.requests] == [None, f"bytes={cut}-"]
    assert dest.read_bytes() == DATA


def test_leftover_part_from_killed_run_is_resumed(server, tmp_path):
    server.files[NAME] = DATA
    (tmp_path / f"{NAME}.part").write_bytes(DATA[:100])
    dest = fetch(server.url(NAME), tmp_path / NAME, md5=MD5, progress=False)
    assert [r.range for r in server.requests] == ["bytes=100-"]
    assert dest.read_bytes() == DATA


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    server.files[NAME] = DATA
    server.ignore_range = True
    # Wrong bytes in the .part: appending the 200 body to them would fail the hash.
    (tmp_path / f"{NAME}.part").write_bytes(b"x" * 100)
    dest = fetch(server.url(NAME), tmp_path / NAME, sha256=SHA256, progress=False)
    assert [r.range for r in server.requests] == ["bytes=100-"]
    assert dest.read_bytes() == DATA


def test_complete_part_answered_416_is_kept(server, tmp_path):
    server.files[NAME] = DATA
    (tmp_path / f"{NAME}.part").write_bytes(DATA)
    dest = fetch(server.url(NAME), tmp_path / NAME, sha256=SHA256, progress=False)
    assert [r.range for r in server.requests] == [f"bytes={len(DATA)}-"]
    assert dest.read_bytes() == DATA
    assert not (tmp_path / f"{NAME}.part").exists()


@pytest.mark.parametrize("algorithm", ["sha256", "md5"])
def test_checksum_mismatch_leaves_nothing(server, tmp_path, algorithm):
    server.files[NAME] = DATA[:-1] + b"\x00"
    expected = {"sha256": SHA256, "md5": MD5}[algorithm]
    with pytest.raises(DownloadError) as err:
        fetch(server.url(NAME), tmp_path / NAME, retries=1, progress=False, **{algorithm: expected})
    message = str(err.value)
    assert NAME in message and f"{algorithm} mismatch" in message and expected in message
    assert server.url(NAME) in message
    assert list(tmp_path.iterdir()) == []


def test_sha256_prefix_is_accepted(server, tmp_path):
    server.files[NAME] = DATA  # torchvision names carry only the first digits
    assert fetch(server.url(NAME), tmp_path / NAME, sha256=SHA256[:8],
                 progress=False).read_bytes() == DATA


def test_404_fails_at_once_with_manual_hint(server, tmp_path):
    url = server.url("missing.rar")
    with pytest.raises(DownloadError) as err:
        fetch(url, tmp_path / "missing.rar", backoff=0, progress=False)
    message = str(err.value)
    assert url in message and str(tmp_path / "missing.rar") in message
    assert len(server.requests) == 1  # a 404 is not retried
    assert list(tmp_path.iterdir()) == []


class RecordedClock:
    """har.download's `time`, whose sleep is recorded instead of slept."""

    def __init__(self):
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)

    def __getattr__(self, name: str):
        return getattr(time, name)


def test_server_errors_are_retried_with_backoff(server, tmp_path, monkeypatch):
    url = server.url("missing.rar")
    server.status["missing.rar"] = 503
    clock = RecordedClock()
    monkeypatch.setattr(har.download, "time", clock)  # only the downloader's: not the server's
    with pytest.raises(DownloadError, match="after 4 attempts"):
        fetch(url, tmp_path / "missing.rar", retries=4, backoff=0.5, progress=False)
    assert len(server.requests) == 4
    assert clock.waits == [0.5, 1.0, 2.0]  # before each retry, doubling; none before the first


def test_closed_port_fails_with_manual_hint(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/{NAME}"  # nothing listens there
    with pytest.raises(DownloadError) as err:
        fetch(url, tmp_path / NAME, retries=1, timeout=5, progress=False)
    message = str(err.value)
    assert url in message and str(tmp_path / NAME) in message
    assert not (tmp_path / NAME).exists()


def test_file_url_override(tmp_path):
    source = tmp_path / "already here" / "UCF101.rar"  # users often have the archive
    source.parent.mkdir()
    source.write_bytes(DATA)
    dest = fetch(source.as_uri(), tmp_path / "dest" / NAME, sha256=SHA256, progress=False)
    assert dest.read_bytes() == DATA


def test_file_url_with_wrong_content_is_rejected(tmp_path):
    source = tmp_path / "other.rar"
    source.write_bytes(b"not the archive")
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        fetch(source.as_uri(), tmp_path / "dest" / NAME, sha256=SHA256, progress=False)
    assert not (tmp_path / "dest" / NAME).exists()


def test_missing_file_url_names_destination(tmp_path):
    source = tmp_path / "nowhere.rar"
    with pytest.raises(DownloadError) as err:
        fetch(source.as_uri(), tmp_path / "dest" / NAME, progress=False)
    assert source.name in str(err.value) and str(tmp_path / "dest" / NAME) in str(err.value)


def test_present_verified_file_needs_no_request(server, tmp_path):
    (tmp_path / NAME).write_bytes(DATA)  # the server does not even have it
    assert fetch(server.url(NAME), tmp_path / NAME, sha256=SHA256, progress=False) == tmp_path / NAME
    assert server.requests == []


def test_present_corrupt_file_is_fetched_again(server, tmp_path):
    server.files[NAME] = DATA
    (tmp_path / NAME).write_bytes(b"truncated")
    assert fetch(server.url(NAME), tmp_path / NAME, sha256=SHA256,
                 progress=False).read_bytes() == DATA
    assert len(server.requests) == 1
