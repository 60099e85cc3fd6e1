"""Fetch one file over HTTP(S) or from a local path: resumable, retried, verified, atomic.

Used for datasets (UCF101, HMDB51) and pretrained weights. Only the standard
library plus tqdm: a download runs once per machine, so it has to cope with flaky
networks, killed processes and people who already have the file, without pulling
in `requests`.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from har.errors import HarError, InputError
from har.fileio import file_digest, url_file_name  # noqa: F401  (re-exported: archive_store)


# HTTP statuses worth retrying; anything else (404, 403, ...) will not change by waiting.
_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}

# Network failures worth retrying. Socket errors arrive as ConnectionError / TimeoutError
# (OSError subclasses) while reading, or wrapped in URLError while connecting.
# HTTPException covers IncompleteRead and a server that hangs up before answering.
_TRANSIENT_ERRORS = (urllib.error.URLError, http.client.HTTPException,
                     ConnectionError, TimeoutError, ssl.SSLError)

_CHUNK = 1 << 16


class DownloadError(HarError, RuntimeError):
    """A file could not be fetched or failed its checksum."""


def _checks(sha256: str | None, md5: str | None) -> list[tuple[str, str]]:
    """(algorithm, expected hex prefix) pairs. A sha256 may be a prefix, as in torchvision's names."""
    checks = []
    if sha256:
        checks.append(("sha256", sha256.lower()))
    if md5:
        checks.append(("md5", md5.lower()))
    return checks


def _verify(path: Path, checks: list[tuple[str, str]]) -> str | None:
    """None if `path` passes every check, else a description of the first mismatch."""
    for algorithm, expected in checks:
        actual = file_digest(path, algorithm)
        if not actual.startswith(expected):
            return f"{algorithm} mismatch, expected {expected}..., got {actual}"
    return None


def fetch(url: str, dest: Path, *, sha256: str | None = None, md5: str | None = None,
          retries: int = 5, backoff: float = 0.5, timeout: float = 30,
          progress: bool = True) -> Path:
    """Make sure the file `dest` exists and passes its checksums; fetch it from `url` if not.

    `url` may be http://, https:// or file://. `retries` is the number of attempts in
    all (at least one); attempt k waits `backoff * 2**(k-1)` seconds first. Without
    sha256 or md5 the file is not verified. Returns `dest`.
    """
    dest = Path(dest)
    checks = _checks(sha256, md5)

    # Already there and verified: no network at all. A file that fails the check is
    # fetched again (it is only replaced once the new copy has passed).
    if dest.is_file() and _verify(dest, checks) is None:
        return dest

    dest.parent.mkdir(parents=True, exist_ok=True)
    # The download goes to .part and is renamed only once verified, so a killed
    # process leaves a .part to resume, never a truncated file under the final name.
    part = dest.with_name(f"{dest.name}.part")
    scheme = urlsplit(url).scheme.lower()
    if scheme == "file":
        _copy_local(url, part, dest)
    elif scheme in ("http", "https"):
        _download(url, part, dest, retries=retries, backoff=backoff, timeout=timeout,
                  progress=progress)
    else:
        raise InputError(f"{url}: unsupported URL scheme {scheme!r} (use http, https or file)")

    mismatch = _verify(part, checks)
    if mismatch is not None:
        # Resuming a bad .part would only reproduce the same bad file.
        part.unlink(missing_ok=True)
        raise DownloadError(f"{dest.name}: {mismatch} (downloaded from {url}); "
                            f"the partial file was deleted")
    os.replace(part, dest)  # atomic on one file system
    return dest


def _manual_hint(dest: Path) -> str:
    # The exact place `fetch` looks first, so a copy put there is used with no network.
    return f"download it by hand and place it at {dest.absolute()}"


def _copy_local(url: str, part: Path, dest: Path) -> None:
    source = Path(urllib.request.url2pathname(urlsplit(url).path))
    try:
        shutil.copyfile(source, part)
    except OSError as e:
        part.unlink(missing_ok=True)
        raise DownloadError(f"could not copy {dest.name} from {url} ({e}); "
                            f"{_manual_hint(dest)}") from e


def _download(url: str, part: Path, dest: Path, *, retries: int, backoff: float,
              timeout: float, progress: bool) -> None:
    attempts = max(1, retries)
    error: Exception | None = None
    for attempt in range(attempts):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            _download_once(url, part, dest.name, timeout=timeout, progress=progress)
            return
        except urllib.error.HTTPError as e:
            error = e
            if e.code not in _TRANSIENT_STATUS:
                break
        except _TRANSIENT_ERRORS as e:
            error = e  # keep the .part: the next attempt resumes from it
    tried = f"{attempt + 1} attempt{'s' if attempt else ''}"
    raise DownloadError(f"could not download {dest.name} from {url} after {tried} ({error}); "
                        f"{_manual_hint(dest)}") from error


def _download_once(url: str, part: Path, label: str, *, timeout: float, progress: bool) -> None:
    """One request, appending to `part` from where it stops; raises on a short body."""
    # Imported here: har.models imports this module, and the GPU check (benchmarks/gpu.py)
    # runs models on machines that have torch but not tqdm.
    from tqdm import tqdm

    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "har-download"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:
            # Nothing left after byte `have`: the .part is already whole (the hash check decides).
            return
        raise
    with response:
        if response.status == 206:
            start = _range_start(response.headers.get("Content-Range", ""))
            if start != have:
                part.unlink(missing_ok=True)
                raise http.client.HTTPException(
                    f"asked for bytes from {have}, server sent from {start}; restarting")
            mode = "ab"
        else:
            # 200: the server ignored the Range header and sends the whole file.
            have, mode = 0, "wb"
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None else None
        received = 0
        with open(part, mode) as f, tqdm(total=None if expected is None else have + expected,
                                         initial=have, unit="B", unit_scale=True,
                                         unit_divisor=1024, desc=label,
                                         disable=not progress) as bar:
            while chunk := response.read(_CHUNK):
                f.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    # http.client returns b"" rather than raising when the peer hangs up early.
    if expected is not None and received < expected:
        raise http.client.IncompleteRead(b"", expected - received)


def _range_start(content_range: str) -> int | None:
    match = re.fullmatch(r"\s*bytes\s+(\d+)-\d+/(?:\d+|\*)\s*", content_range)
    return int(match.group(1)) if match else None
