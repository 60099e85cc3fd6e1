"""Run a benchmark the way benchmarks/README.md says to: `python -m benchmarks.<name> ARGS` from
the project root, in a fresh interpreter whose environment has no PYTHONPATH (so `-m` alone
makes `benchmarks` importable; the tests never put the project root on sys.path)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def environment() -> dict[str, str]:
    """This process's environment without PYTHONPATH."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def python(*args: str, timeout: float | None = 600) -> subprocess.CompletedProcess:
    """`python ARGS` in the project root (the test's interpreter), output captured as text."""
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=environment(),
                          capture_output=True, text=True, timeout=timeout)


def run_benchmark(name: str, *args: str, check: bool = True,
                  timeout: float | None = 600) -> subprocess.CompletedProcess:
    """`python -m benchmarks.<name> ARGS`; with `check`, a failure shows the end of its output."""
    done = python("-m", f"benchmarks.{name}", *map(str, args), timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"python -m benchmarks.{name} exited {done.returncode}:\n"
                             f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done
