"""A scratch copy of the repository for end-to-end `dvc` runs, and a command runner."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

import commands
from commands import ROOT


def run(cmd: list[str], cwd: Path, check: bool = True, threads: int | None = None
        ) -> subprocess.CompletedProcess:
    # The default thread count (har/cpu_kernels.py), unless a test asks for another: the tiny
    # profile's numbers are compared bit for bit with presets/tiny.metrics/, made with it.
    proc = commands.run(cmd, cwd, env=threads_env(threads), timeout=None)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                    f"{proc.stderr[-3000:]}")
    return proc


def threads_env(threads: int | None) -> dict[str, str]:
    """What a command's environment adds to a person's for `threads` (none: the default)."""
    return {} if threads is None else {"HAR_CPU_THREADS": str(threads)}


def copy_repo(dst: Path, params: dict) -> Path:
    """The project's files as git sees them, with `params` as params.yaml, committed."""
    files = run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], ROOT
                ).stdout.split("\0")
    for rel in filter(None, files):
        if (ROOT / rel).is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dst / rel)
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], dst)
    if not (dst / ".dvc" / "config").exists():
        run(["dvc", "init", "-q"], dst)
    run(["git", "add", "-A"], dst)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "scratch"], dst)
    return dst


TINY = yaml.safe_load((ROOT / "presets" / "tiny.yaml").read_text())


def tiny_folder_params(models: dict) -> dict:
    """params.yaml for a folder dataset at `videos/` with the tiny preset's extract, train and
    eval sections, one seed (0), and `models`."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for section in ("extract", "train", "eval"):
        params[section].update(TINY[section])
    params["train"]["seeds"] = [0]
    params["dataset"].update({"name": "folder", "split": 1})
    params["dataset"]["folder"].update({"root": "videos", "test_fraction": 0.3, "seed": 0})
    params["models"] = models
    return params


def tiny_repro(dst: Path) -> Path:
    """A scratch copy with the tiny preset applied and committed, after one `dvc repro`."""
    copy_repo(dst, yaml.safe_load((ROOT / "params.yaml").read_text()))
    run(["har", "preset", "apply", "tiny"], dst)
    run(["git", "add", "-A"], dst)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tiny"], dst)
    run(["dvc", "repro"], dst)
    return dst


def set_params(repo: Path, **sections) -> None:
    """Merge `sections` into the scratch repository's params.yaml (mappings merge)."""
    from har.config import deep_merge

    path = repo / "params.yaml"
    path.write_text(yaml.safe_dump(deep_merge(yaml.safe_load(path.read_text()), sections),
                                   sort_keys=False))
