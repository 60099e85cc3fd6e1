"""Entry point shared by the scripts in stages/: expected errors become one clear line."""

from __future__ import annotations

import sys
from typing import Callable

from har.errors import HarError


def run(name: str, main: Callable[..., None], *args: str) -> None:
    try:
        main(*args)
    except HarError as e:  # bad input or params: the message names the file or key
        sys.exit(f"{name}: {e}")
    # anything else is a bug in har and keeps its traceback


def model_arg(stage: str) -> str:
    """The model name argument of the per-model stages (weights, features, aggregate)."""
    if len(sys.argv) != 2:
        sys.exit(f"usage: python stages/{stage}.py <model name from params.yaml>")
    return sys.argv[1]


def model_seed_args(stage: str) -> tuple[str, int]:
    """The model name and seed arguments of the per-run stages (train, evaluate)."""
    if len(sys.argv) != 3 or not sys.argv[2].isdigit():
        sys.exit(f"usage: python stages/{stage}.py <model name from params.yaml> "
                 "<seed from train.seeds>")
    return sys.argv[1], int(sys.argv[2])
