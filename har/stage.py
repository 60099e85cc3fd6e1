"""Entry point shared by the scripts in stages/: expected errors become one clear line."""

from __future__ import annotations

import sys
from typing import Callable

from har.download import DownloadError
from har.extract import ExtractionError
from har.video import VideoError
from har.weights import WeightsError

# Bad input or params: the message names the file or key, so a traceback adds nothing.
# Anything else is a bug and keeps its traceback.
EXPECTED_ERRORS = (ValueError, FileNotFoundError, VideoError, ExtractionError, DownloadError,
                   WeightsError)


def run(name: str, main: Callable[..., None], *args: str) -> None:
    try:
        main(*args)
    except EXPECTED_ERRORS as e:
        sys.exit(f"{name}: {e}")


def model_arg(stage: str) -> str:
    """The model name argument of the per-model stages (weights, features, train, evaluate)."""
    if len(sys.argv) != 2:
        sys.exit(f"usage: python stages/{stage}.py <model name from params.yaml>")
    return sys.argv[1]
