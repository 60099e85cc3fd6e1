"""The grid on many machines (scripts/grid.sh): slices run in separate clones push to one DVC
remote, two of them at once; a fresh clone assembles without training what they pushed, and
its results equal one machine's run of the whole grid (the tiny_repo fixture) bit for bit. A
run no slice pushed is trained by the assembler, which says so.

Minutes (three clones train, one assembles). Marked slow.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from commands import popen
from scratch_repo import run

pytestmark = pytest.mark.slow

# The tiny profile's ten runs in three slices; frozen_tsn seed 1 is in none (a failed job).
SLICES = {"a": ["cnn3d", "0", "cnn3d", "1", "crnn", "0"],
          "b": ["crnn", "1", "td_scratch_gru", "0", "td_scratch_gru", "1", "frame_avg", "0"],
          "c": ["frame_avg", "1", "frozen_tsn", "0"]}
NEVER_RUN = {"train@frozen_tsn-1", "evaluate@frozen_tsn-1"}
# ...and what only that run needs: its seed's cache of the frozen encoder's features.
NEVER_RUN_NEEDS = {"features@frozen_tsn-1"}


def clone(source: Path, dest: Path, remote: Path) -> Path:
    run(["git", "clone", "-q", str(source), str(dest)], source.parent)
    run(["dvc", "remote", "add", "--local", "-d", "grid", str(remote)], dest)
    return dest


def grid(repo: Path, *args: str) -> subprocess.Popen:
    log = open(repo.parent / f"{repo.name}.log", "w")
    return popen([repo / "scripts" / "grid.sh", *args], repo, stdout=log, stderr=subprocess.STDOUT,
                 text=True)


def finish(proc: subprocess.Popen, repo: Path) -> str:
    proc.wait(timeout=1800)
    out = (repo.parent / f"{repo.name}.log").read_text()
    assert proc.returncode == 0, f"grid.sh in {repo.name} failed:\n{out[-4000:]}"
    return out


def ran(out: str) -> set[str]:
    return set(re.findall(r"^Running stage '([^']+)'", out, re.M))


def outputs(repo: Path) -> dict[str, str]:
    """path -> md5 of every output dvc.lock records, the timings-free record of a run."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    return {o["path"]: o["md5"] for stage in lock.values() for o in stage.get("outs", [])}


@pytest.fixture(scope="module")
def fanned_out(tiny_repo, tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("grid")
    remote = base / "remote"
    remote.mkdir()
    repos = {name: clone(tiny_repo, base / name, remote) for name in ("a", "b", "c", "d")}
    logs = {"a": finish(grid(repos["a"], "run", *SLICES["a"]), repos["a"])}  # the data too
    # Two slices at once, pushing to the one remote concurrently.
    procs = {name: grid(repos[name], "run", *SLICES[name]) for name in ("b", "c")}
    logs.update({name: finish(proc, repos[name]) for name, proc in procs.items()})
    logs["d"] = finish(grid(repos["d"], "assemble"), repos["d"])
    return {"reference": tiny_repo, "repos": repos, "logs": logs, "remote": remote}


def test_each_slice_trained_only_its_runs_and_reused_the_data(fanned_out):
    logs = fanned_out["logs"]
    for name, args in SLICES.items():
        runs = {f"{stage}@{m}-{s}" for m, s in zip(args[::2], args[1::2])
                for stage in ("train", "evaluate")}
        trained = {s for s in ran(logs[name]) if s.split("@")[0] in ("train", "evaluate")}
        assert trained == runs, name
    # b and c restored the frames and splits that a pushed instead of making them again. The
    # download stage is not run-cached (its archives are `persist`ed, so a params change never
    # downloads them again): where the commit's dvc.lock does not record it, as here (the
    # tiny preset over the default profile's lock), each slice generates the videos itself,
    # the same bytes (else extract below would not be restored).
    for name in ("b", "c"):
        assert not ran(logs[name]) & {"extract", "split"}, name
        assert "Stage 'extract' is cached - skipping run" in logs[name]
        assert "Stage 'split' is cached - skipping run" in logs[name]


def test_the_assembler_trains_only_what_no_slice_pushed_and_says_so(fanned_out):
    out = fanned_out["logs"]["d"]
    trained = {s for s in ran(out) if s.split("@")[0] in ("train", "evaluate", "features")}
    assert trained == NEVER_RUN | NEVER_RUN_NEEDS
    assert re.search(r"not on the remote, so run here: .*train@frozen_tsn-1", out)
    restored = set(re.findall(r"^Stage '((?:train|evaluate)@[^']+)' is cached", out, re.M))
    assert len(restored) == 18  # the other nine runs, each trained and evaluated elsewhere


def test_assembled_results_equal_one_machines_bit_for_bit(fanned_out):
    reference, assembled = fanned_out["reference"], fanned_out["repos"]["d"]
    for rel in ["reports/results.md", *sorted(str(p.relative_to(reference))
                                              for p in (reference / "metrics").rglob("*")
                                              if p.is_file())]:
        assert (assembled / rel).read_bytes() == (reference / rel).read_bytes(), rel
    # Every output hash dvc.lock records: models, curves, test metrics, frames, splits.
    assert outputs(assembled) == outputs(reference)


def test_concurrent_pushes_lost_nothing(fanned_out, tmp_path):
    # A fresh clone restores every run b and c pushed at the same time from the remote alone:
    # nothing is missing, and no run-cache entry names an object the remote lacks.
    fresh = clone(fanned_out["reference"], tmp_path / "fresh", fanned_out["remote"])
    targets = [f"{stage}@{m}-{s}" for name in ("b", "c")
               for m, s in zip(SLICES[name][::2], SLICES[name][1::2])
               for stage in ("train", "evaluate")]
    run(["dvc", "pull", "--run-cache", "--allow-missing"], fresh)
    out = run(["dvc", "repro", "--pull", *targets], fresh).stdout
    assert not {s for s in ran(out) if s.split("@")[0] in ("train", "evaluate")}, out
    assert set(re.findall(r"^Stage '((?:train|evaluate)@[^']+)' is cached", out, re.M)) == set(targets)
    entries = list((fanned_out["remote"] / "runs").rglob("*"))
    assert entries and not [p for p in entries if p.name.endswith(".tmp")]
