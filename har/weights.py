"""torchvision's pretrained weight files: which URL, where they live, how they are loaded.

The `weights@<model>` stage fetches the file a model needs into
models/pretrained/<model>/ (a DVC output, so `dvc push` shares it) with
har/weights_fetch.py; training then runs offline and never imports the downloader, so an
edit to the download code re-runs no training. Files keep torchvision's names, which carry the first hex digits of
their sha256, and are verified against them.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from har.fileio import file_digest, url_file_name
from har.errors import HarError, InputError

PRETRAINED_DIR = Path("models/pretrained")

# Short keys -> torchvision model names. The URLs (and so the hashes in the file
# names) come from torchvision itself, so they follow whatever version is installed.
KINETICS_KEYS = ("r3d_18", "mc3_18", "r2plus1d_18", "s3d", "mvit_v2_s", "swin3d_t")
IMAGENET_KEYS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "mobilenet_v2")
WEIGHT_KEYS = KINETICS_KEYS + IMAGENET_KEYS

# torch.hub's check_hash rule: `<name>-<hex>.<ext>` where hex starts the file's sha256.
# We ask for 8+ digits so a stray "-" in a name is not taken for a (trivially matching) hash.
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,})\.")


class WeightsError(HarError, RuntimeError):
    """A weight file is missing, or could not be fetched, verified or read."""


@functools.cache
def _weight_urls() -> dict[str, str]:
    # Imported here: torchvision takes a second or two to import, and a user of this
    # module that never asks for a URL (tests) should not pay for it.
    from torchvision.models import get_model_weights

    return {key: get_model_weights(key).DEFAULT.url for key in WEIGHT_KEYS}


def weight_url(key: str) -> str:
    """torchvision's official URL for the default weights of `key` (e.g. "r3d_18")."""
    if key not in WEIGHT_KEYS:
        raise InputError(f"unknown pretrained weights {key!r}; known: {', '.join(WEIGHT_KEYS)}")
    return _weight_urls()[key]


def expected_hash_prefix(filename: str) -> str | None:
    """The sha256 prefix a torchvision-style name carries (`resnet18-f37072fd.pth` -> "f37072fd")."""
    match = _HASH_IN_NAME.search(filename)
    return match.group(1) if match else None


def weight_file_name(key: str) -> str:
    return url_file_name(weight_url(key))


def torch_hub_copy(key: str) -> Path:
    """Where torchvision itself caches the file; users who ran torchvision may have it."""
    import torch  # heavy; only needed here

    return Path(torch.hub.get_dir()) / "checkpoints" / weight_file_name(key)


def find_weights(key: str) -> Path:
    """The local weight file for `key`: under models/pretrained/ (the weights stage), or torch's cache."""
    name = weight_file_name(key)
    found = sorted(PRETRAINED_DIR.glob(f"*/{name}")) + [p for p in [torch_hub_copy(key)] if p.is_file()]
    if not found:
        raise WeightsError(
            f"pretrained weights {name} not found: run `dvc repro` (stage weights@<model> fetches "
            f"them from {weight_url(key)}, or from $HAR_WEIGHTS_MIRROR), or download that URL by "
            f"hand and place the file in {PRETRAINED_DIR}/<model>/ or {torch_hub_copy(key).parent}/")
    path = found[0]
    prefix = expected_hash_prefix(name)
    if prefix and not file_digest(path).startswith(prefix):
        raise WeightsError(f"{path}: sha256 does not start with {prefix} as its name says; "
                           f"delete it and run `dvc repro` to fetch it again")
    return path


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
