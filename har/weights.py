"""Download torchvision's pretrained weight files into models/pretrained/, resumably and verified.

Only the standard library (urllib, http.client, hashlib, shutil) plus tqdm and torch:
the download runs once per machine, so it has to cope with flaky networks, killed
processes and people who already have the file, without pulling in `requests`.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import os
import re
import shutil
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from tqdm import tqdm

PRETRAINED_DIR = Path("models/pretrained")

# Short keys -> torchvision model names. The URLs (and so the hashes in the file
# names) come from torchvision itself, so they follow whatever version is installed.
KINETICS_KEYS = ("r3d_18", "mc3_18", "r2plus1d_18", "s3d", "mvit_v2_s", "swin3d_t")
IMAGENET_KEYS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "mobilenet_v2")
WEIGHT_KEYS = KINETICS_KEYS + IMAGENET_KEYS

# torch.hub's check_hash rule: `<name>-<hex>.<ext>` where hex starts the file's sha256.
# We ask for 8+ digits so a stray "-" in a name is not taken for a (trivially matching) hash.
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,})\.")

# HTTP statuses worth retrying; anything else (404, 403, ...) will not change by waiting.
_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}

# Network failures worth retrying. Socket errors arrive as ConnectionError / TimeoutError
# (OSError subclasses) while reading, or wrapped in URLError while connecting.
# HTTPException covers IncompleteRead and a server that hangs up before answering.
_TRANSIENT_ERRORS = (urllib.error.URLError, http.client.HTTPException,
                     ConnectionError, TimeoutError, ssl.SSLError)

_CHUNK = 1 << 16


class WeightsError(RuntimeError):
    """A weight file could not be fetched, verified or read."""


@functools.cache
def _weight_urls() -> dict[str, str]:
    # Imported here: torchvision takes a second or two to import, and most users of
    # this module (tests, `fetch` with an explicit URL) never need it.
    from torchvision.models import get_model_weights

    return {key: get_model_weights(key).DEFAULT.url for key in WEIGHT_KEYS}


def __getattr__(name: str):
    # `har.weights.WEIGHT_URLS` is built on first access, for the same reason.
    if name == "WEIGHT_URLS":
        return _weight_urls()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def weight_url(key: str) -> str:
    """torchvision's official URL for the default weights of `key` (e.g. "r3d_18")."""
    if key not in WEIGHT_KEYS:
        raise ValueError(f"unknown pretrained weights {key!r}; known: {', '.join(WEIGHT_KEYS)}")
    return _weight_urls()[key]


def expected_hash_prefix(filename: str) -> str | None:
    """The sha256 prefix a torchvision-style name carries (`resnet18-f37072fd.pth` -> "f37072fd")."""
    match = _HASH_IN_NAME.search(filename)
    return match.group(1) if match else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_name(url: str) -> str:
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    if not name:
        raise ValueError(f"{url}: URL does not end in a file name")
    return name


def fetch(url: str, dest_dir: Path = PRETRAINED_DIR, *, sha256_prefix: str | None = None,
          retries: int = 5, backoff: float = 0.5, timeout: float = 30,
          progress: bool = True) -> Path:
    """Make sure `dest_dir/<last URL component>` exists and is verified; return its path.

    `url` may be http://, https:// or file://. `retries` is the number of attempts in
    all (at least one); attempt k waits `backoff * 2**(k-1)` seconds first. The hash
    checked is `sha256_prefix`, else the one in the file name; with neither, the file
    is not verified.
    """
    name = _file_name(url)
    dest_dir = Path(dest_dir)
    dest = dest_dir / name
    expected = (sha256_prefix or expected_hash_prefix(name) or "").lower() or None

    # Already fetched: no network at all. A file that fails the check is fetched again
    # (it is only replaced once the new copy has passed).
    if dest.is_file() and (expected is None or _sha256(dest).startswith(expected)):
        return dest

    dest_dir.mkdir(parents=True, exist_ok=True)
    # The download goes to .part and is renamed only once verified, so a killed
    # process leaves a .part to resume, never a truncated file under the final name.
    part = dest_dir / f"{name}.part"
    scheme = urlsplit(url).scheme.lower()
    if scheme == "file":
        _copy_local(url, part, dest)
    elif scheme in ("http", "https"):
        _download(url, part, dest, retries=retries, backoff=backoff, timeout=timeout,
                  progress=progress)
    else:
        raise ValueError(f"{url}: unsupported URL scheme {scheme!r} (use http, https or file)")

    if expected is not None:
        actual = _sha256(part)
        if not actual.startswith(expected):
            # Resuming a bad .part would only reproduce the same bad file.
            part.unlink(missing_ok=True)
            raise WeightsError(f"{name}: sha256 mismatch, expected {expected}..., got {actual} "
                               f"(downloaded from {url}); the partial file was deleted")
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
        raise WeightsError(f"could not copy {dest.name} from {url} ({e}); "
                           f"{_manual_hint(dest)}") from e


def _download(url: str, part: Path, dest: Path, *, retries: int, backoff: float,
              timeout: float, progress: bool) -> None:
    attempts = max(1, retries)
    error: Exception | None = None
    for attempt in range(attempts):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            _download_once(url, part, timeout=timeout, progress=progress)
            return
        except urllib.error.HTTPError as e:
            error = e
            if e.code not in _TRANSIENT_STATUS:
                break
        except _TRANSIENT_ERRORS as e:
            error = e  # keep the .part: the next attempt resumes from it
    tried = f"{attempt + 1} attempt{'s' if attempt else ''}"
    raise WeightsError(f"could not download {dest.name} from {url} after {tried} ({error}); "
                       f"{_manual_hint(dest)}") from error


def _download_once(url: str, part: Path, *, timeout: float, progress: bool) -> None:
    """One request, appending to `part` from where it stops; raises on a short body."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "har-weights"})
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
                                         unit_divisor=1024, desc=part.name[:-len(".part")],
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


def load_state_dict(path: Path | str) -> dict:
    """The tensors in a downloaded weight file (never executes code from it)."""
    import torch  # heavy; only needed here

    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # torch raises several unrelated types for a bad file
        reason = f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}"
        raise WeightsError(f"{path}: not a readable weight file ({reason}); "
                           f"delete it and fetch again") from e
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: expected a state dict, found {type(state).__name__}")
    return state
