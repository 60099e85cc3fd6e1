"""Fetch torchvision's pretrained weight files: the `weights@<model>` stage's work, and no
other stage's (training and evaluation read the files with har/weights.py, offline).

A file is fetched once per machine into torch's own cache (torch.hub's checkpoints folder,
where torchvision keeps it too), then copied into the stage's output: re-running the stage
after another option of the model changed copies the file instead of downloading it again.
"""

from __future__ import annotations

import os
from pathlib import Path

from har.download import DownloadError, fetch
from har.weights import (WeightsError, expected_hash_prefix, torch_hub_copy, weight_file_name,
                         weight_url)

# A mirror of https://download.pytorch.org/models/ (same file names), for networks
# that cannot reach it; an http(s):// or file:// base URL.
MIRROR_ENV = "HAR_WEIGHTS_MIRROR"


def source_url(key: str) -> str:
    """Where to fetch `key` from: torchvision's URL, or the same file name under $HAR_WEIGHTS_MIRROR."""
    mirror = os.environ.get(MIRROR_ENV)
    if mirror:
        return f"{mirror.rstrip('/')}/{weight_file_name(key)}"
    return weight_url(key)


def fetch_weights(key: str, dest_dir: Path, progress: bool = True) -> Path:
    """Put the verified weight file for `key` in `dest_dir`: copied from torch's cache, where
    the network's copy is first saved (so the next run of the stage downloads nothing)."""
    name = weight_file_name(key)
    dest = Path(dest_dir) / name
    prefix = expected_hash_prefix(name)
    cached = torch_hub_copy(key)
    if cached.is_file():
        try:  # fetch() copies and verifies in one pass, or returns a dest already verified
            return fetch(cached.as_uri(), dest, sha256=prefix, progress=False)
        except DownloadError:
            pass  # a damaged copy in torch's cache: take the network's instead
    url = source_url(key)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        into_cache = os.access(cached.parent, os.W_OK)
    except OSError:  # a read-only home: straight into the output, downloaded again next time
        into_cache = False
    try:
        fetched = fetch(url, cached if into_cache else dest, sha256=prefix, progress=progress)
    except DownloadError as e:
        raise WeightsError(f"{e}. Or put a copy at {cached} (torch's cache), where it is "
                           f"picked up next time") from e
    if not into_cache:
        return fetched
    return fetch(cached.as_uri(), dest, sha256=prefix, progress=False)
