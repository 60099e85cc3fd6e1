"""Benchmark: what DVC itself costs: a no-op `dvc repro`, a full one from a clean clone, and
`dvc status` / no-op `dvc repro` at UCF101's scale of frames files.

What is measured (DVC from this environment: `python -m dvc`, stage commands run with this
environment's `python` first on PATH):

  project      `dvc status` in the project root, and, only when it reports the pipeline
               up to date, a no-op `dvc repro` there, as the user runs it (it changes
               nothing). When the pipeline is not up to date the no-op figure is skipped
               rather than starting a real reproduction. The listing stage always shows as
               changed (always_changed: it lists a folder dataset) and does not count.
               The note gives the number of stages DVC checks. Target: no-op repro <= 2 s.
  full repro   only with --full-repro (~10 min on 2 cores): `git clone` of the project's
               HEAD (committed files only) into a temporary folder (or --clone-dir, kept),
               then `dvc repro` there, timed once; then a no-op `dvc repro` in the clone.
               Target: <= 15 min on 2 cores.
  UCF101 scale a scratch git + DVC repository whose one stage writes 13,320 frames files
               (UCF101's video count) of our format (har.frames.save_frames, tiny frames:
               DVC's cost is per file, not per byte): the first `dvc repro` (hashing and
               caching every file), then `dvc status` and a no-op `dvc repro`, timed
               `--repeats` times. Target: no-op repro <= 3 s.

  grid         only with --grid (~15 min on 2 cores): the tiny profile's whole grid
               (`har preset apply tiny` in a clone of HEAD) by one `dvc repro`, against
               scripts/grid.sh: the grid's runs in 3 slices run as 3 processes at once in 3
               clones pushing to one local remote, then `grid.sh assemble` in a fourth; the
               wall time of each, and the time the slices spent in `dvc pull` and `dvc push`
               (the round trips the fan-out adds). Reported, no target: on 2 cores, 3
               processes cannot beat one machine; the figure is the overhead.

    python -m benchmarks.dvc_overhead [--quick] [--repeats N] [--files N]
                                      [--full-repro [--clone-dir DIR]] [--grid] [--json PATH]
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

from benchmarks.common import (
    OtherLoad, benchmark_parser, figure, figures_table, machine_info, report, resolve_config)
from har.frames import save_frames

ROOT = Path(__file__).resolve().parents[1]
NAME = "dvc_overhead"
DEFAULTS = {"files": 13_320, "full_repro": False, "clone_dir": None, "grid": False}
QUICK = {"files": 200}
DEFAULT_REPEATS = 3
QUICK_REPEATS = 1
NOOP_TARGET_S = 2.0
FULL_TARGET_S = 15 * 60.0
CLASSES = 101


def _env(pythonpath: Path | None = None) -> dict:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1",
           # The stages' `python` is this environment's.
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    if pythonpath is not None:  # a clone's own har package, before the editable install's
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def dvc(args: list[str], cwd: Path, env: dict | None = None, check: bool = True
        ) -> tuple[float, subprocess.CompletedProcess]:
    """(wall seconds, completed process) of `python -m dvc ARGS` in `cwd`."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=env or _env(),
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if check and done.returncode != 0:
        raise RuntimeError(f"dvc {' '.join(args)} in {cwd} failed ({done.returncode}):\n"
                           f"{(done.stderr or done.stdout)[-2000:]}")
    return seconds, done


def _status(cwd: Path, env: dict | None = None) -> tuple[float, dict]:
    seconds, done = dvc(["status", "--json"], cwd, env)
    text = done.stdout.strip()
    return seconds, json.loads(text[text.index("{"):]) if "{" in text else {}


def stage_count(root: Path) -> int:
    """How many stages dvc.yaml expands to for params.yaml's models and seeds."""
    import yaml

    from har.config import load_params
    from har.lockfile import pipeline_stages

    params = load_params(root / "params.yaml")
    return len(pipeline_stages(list(params.models), params.train.seeds,
                               yaml.safe_load((root / "dvc.yaml").read_text())))


def project(repeats: int) -> tuple[list[dict], dict]:
    """dvc status in the project and, when up to date, a no-op dvc repro."""
    status_s, repro_s = [], []
    with OtherLoad() as busy:
        for _ in range(repeats):
            seconds, status = _status(ROOT)
            status_s.append(seconds)
        # The listing stage is always changed by design (listing/dvc.yaml).
        status = {k: v for k, v in status.items() if v != ["always changed"]}
        if not status:
            for _ in range(repeats):
                seconds, _ = dvc(["repro"], ROOT)
                repro_s.append(seconds)
    changed = sorted(status)
    skipped = (None if not status else
               f"pipeline not up to date ({len(changed)} stages changed)")
    figures = [
        figure("dvc status, project", "s", status_s, higher_is_better=False, busy=busy.value,
               note="reported, no target"),
        figure("no-op dvc repro, project", "s", repro_s, higher_is_better=False, busy=busy.value,
               target={"of": "value", "op": "<=", "value": NOOP_TARGET_S, "unit": "s"},
               skipped=skipped, note=f"{stage_count(ROOT)} stages"),
    ]
    return figures, {"up_to_date": not status, "changed_stages": changed[:20]}


def full_repro(clone_dir: Path | None, repeats: int) -> tuple[list[dict], dict]:
    """git clone of HEAD, dvc repro there (timed once), then a no-op dvc repro there."""
    keep = clone_dir is not None
    tmp = None if keep else tempfile.TemporaryDirectory(prefix="har-bench-clone-")
    target = Path(clone_dir) if keep else Path(tmp.name) / "har"
    try:
        if target.exists() and any(target.iterdir()):
            raise FileExistsError(f"{target}: --clone-dir must be new or empty")
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        start = time.perf_counter()
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True)
        clone_s = time.perf_counter() - start
        env = _env(pythonpath=target)
        with OtherLoad() as busy:
            full_s, _ = dvc(["repro"], target, env)
            noop = [dvc(["repro"], target, env)[0] for _ in range(repeats)]
        figures = [
            figure("full dvc repro, clean clone", "s", [full_s], higher_is_better=False,
                   busy=busy.value, note=f"commit {head[:10]}, git clone took {clone_s:.1f} s",
                   target={"of": "value", "op": "<=", "value": FULL_TARGET_S, "unit": "s"}),
            figure("no-op dvc repro, clean clone", "s", noop, higher_is_better=False, busy=busy.value,
                   target={"of": "value", "op": "<=", "value": NOOP_TARGET_S, "unit": "s"},
                   note=f"{stage_count(target)} stages"),
        ]
        return figures, {"commit": head, "clone_dir": str(target) if keep else None,
                         "clone_s": clone_s}
    finally:
        if tmp is not None:
            tmp.cleanup()


def _timed(cmd: list[str], cwd: Path, env: dict) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} in {cwd} failed ({done.returncode}):\n"
                           f"{(done.stdout + done.stderr)[-3000:]}")
    return time.perf_counter() - start, done.stdout + done.stderr


def _step_seconds(log: str, what: str) -> float:
    """The seconds grid.sh reported for its `dvc <what>` steps, added up."""
    return sum(float(m) for m in re.findall(rf"^grid step: ([0-9.]+) s: dvc {what}$", log, re.M))


def fan_out() -> tuple[list[dict], dict]:
    """The tiny grid on one machine, then as 3 slices at once plus an assembly (scripts/grid.sh)."""
    with tempfile.TemporaryDirectory(prefix="har-bench-grid-") as tmp:
        base = Path(tmp)
        source = base / "source"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(source)], check=True)
        env = _env(pythonpath=source)
        subprocess.run([sys.executable, "-m", "har.cli", "preset", "apply", "tiny"], cwd=source,
                       env=env, check=True, capture_output=True)
        subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qam",
                        "tiny"], cwd=source, check=True)
        grid = subprocess.run([sys.executable, "-m", "har.grid"], cwd=source, env=env,
                              capture_output=True, text=True, check=True).stdout.split()
        runs = [grid[i:i + 2] for i in range(0, len(grid), 2)]
        slices = [sum(runs[i::3], []) for i in range(3)]
        remote = base / "remote"
        remote.mkdir()
        clones = {}
        for name in ("one", "a", "b", "c", "assembler"):
            clones[name] = base / name
            subprocess.run(["git", "clone", "-q", str(source), str(clones[name])], check=True)
            dvc(["remote", "add", "--local", "-d", "grid", str(remote)], clones[name],
                _env(pythonpath=clones[name]))
        with OtherLoad() as busy:
            one_s, _ = _timed([sys.executable, "-m", "dvc", "repro"], clones["one"],
                              _env(pythonpath=clones["one"]))
            start = time.perf_counter()
            procs = []
            for name, args in zip("abc", slices):
                log = open(base / f"{name}.log", "w")
                procs.append((name, log, subprocess.Popen(
                    [str(clones[name] / "scripts" / "grid.sh"), "run", *args], cwd=clones[name],
                    env=_env(pythonpath=clones[name]), stdout=log, stderr=subprocess.STDOUT)))
            for name, log, proc in procs:
                if proc.wait() != 0:
                    raise RuntimeError(f"grid.sh run in {name} failed:\n"
                                       f"{(base / f'{name}.log').read_text()[-3000:]}")
                log.close()
            slices_s = time.perf_counter() - start
            assemble_s, assembled = _timed([str(clones["assembler"] / "scripts" / "grid.sh"),
                                            "assemble"], clones["assembler"],
                                           _env(pythonpath=clones["assembler"]))
        logs = [(base / f"{name}.log").read_text() for name in "abc"]
        pull_s = sum(_step_seconds(log, "pull") for log in logs)
        push_s = sum(_step_seconds(log, "push") for log in logs)
        trained_here = re.findall(r"^Running stage '(train@[^']+)'", assembled, re.M)
    runs_note = f"{len(runs)} runs in 3 slices of {', '.join(str(len(s) // 2) for s in slices)}"
    figures = [
        figure("tiny grid, one machine (dvc repro)", "s", [one_s], higher_is_better=False,
               busy=busy.value, note=f"{len(runs)} runs; reported, no target"),
        figure("tiny grid, 3 slices at once + assembly", "s", [slices_s + assemble_s],
               higher_is_better=False, busy=busy.value,
               baseline={"name": "one machine", "values": [one_s]},
               note=f"{runs_note}: slices {slices_s:.0f} s, assembly {assemble_s:.0f} s "
                    f"(trained there: {len(trained_here)}); 3 processes on this machine's cores"),
        figure("tiny grid, dvc pull + push in the slices", "s", [pull_s + push_s],
               higher_is_better=False, busy=busy.value,
               note=f"summed over the 3 slices: pull {pull_s:.1f} s, push {push_s:.1f} s"),
    ]
    return figures, {"runs": len(runs), "slices_s": slices_s, "assemble_s": assemble_s,
                     "one_machine_s": one_s, "pull_s": pull_s, "push_s": push_s,
                     "trained_by_assembler": trained_here}


MAKE = textwrap.dedent("""\
    import shutil, sys
    from pathlib import Path
    count, classes = int(sys.argv[1]), int(sys.argv[2])
    out = Path("frames")
    shutil.rmtree(out, ignore_errors=True)
    for i in range(count):
        path = out / f"c{i % classes:03d}" / f"v{i:05d}.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile("one.npz", path)
    """)


def ucf_scale(files: int, repeats: int) -> tuple[list[dict], dict]:
    with tempfile.TemporaryDirectory(prefix="har-bench-dvc-") as tmp:
        repo = Path(tmp)
        rng = np.random.default_rng(0)
        save_frames(repo / "one.npz", rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8))
        (repo / "make.py").write_text(MAKE)
        (repo / "dvc.yaml").write_text(textwrap.dedent(f"""\
            stages:
              extract:
                cmd: python make.py {files} {CLASSES}
                deps: [make.py, one.npz]
                outs: [frames]
            """))
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        dvc(["init", "-q"], repo)
        dvc(["config", "core.analytics", "false"], repo)
        with OtherLoad() as busy:
            first_s, _ = dvc(["repro"], repo)
            status_s, noop_s = [], []
            for _ in range(repeats):
                seconds, status = _status(repo)
                if status:
                    raise RuntimeError(f"scratch pipeline not up to date after dvc repro: {status}")
                status_s.append(seconds)
                noop_s.append(dvc(["repro"], repo)[0])
        written = sum(1 for _ in (repo / "frames").rglob("*.npz"))
        file_bytes = (repo / "one.npz").stat().st_size
    label = f"{files:,} frames files"
    figures = [
        figure(f"first dvc repro, {label}", "s", [first_s], higher_is_better=False, busy=busy.value,
               note="runs the stage, hashes and caches every file; reported, no target"),
        figure(f"dvc status, {label}", "s", status_s, higher_is_better=False, busy=busy.value,
               note="reported, no target"),
        figure(f"no-op dvc repro, {label}", "s", noop_s, higher_is_better=False, busy=busy.value,
               target={"of": "value", "op": "<=", "value": NOOP_TARGET_S, "unit": "s"}),
    ]
    return figures, {"files": written, "file_bytes": file_bytes, "classes": CLASSES}


def run(quick: bool = False, repeats: int | None = None, **options) -> dict:
    """Run the benchmark; options: files (UCF101-scale count), full_repro (bool), clone_dir."""
    cfg, repeats = resolve_config(options, DEFAULTS, QUICK, DEFAULT_REPEATS, QUICK_REPEATS, quick, repeats)
    if cfg["clone_dir"] is not None and not cfg["full_repro"]:
        raise ValueError("clone_dir needs full_repro")
    machine = machine_info()
    version = subprocess.run([sys.executable, "-m", "dvc", "--version"], capture_output=True,
                             text=True, env=_env()).stdout.strip()
    figures, details = project(repeats)
    result = {"project": details}
    if cfg["full_repro"]:
        more, result["full_repro"] = full_repro(cfg["clone_dir"], repeats)
        figures += more
    else:
        figures += [figure("full dvc repro, clean clone", "s", None, skipped="not run (--full-repro)",
                           target={"of": "value", "op": "<=", "value": FULL_TARGET_S, "unit": "s"})]
    more, result["ucf_scale"] = ucf_scale(cfg["files"], repeats)
    figures += more
    if cfg["grid"]:
        more, result["grid"] = fan_out()
        figures += more
    return {"benchmark": NAME, "quick": quick, "machine": machine,
            "config": {**cfg, "clone_dir": str(cfg["clone_dir"]) if cfg["clone_dir"] else None,
                       "repeats": repeats, "dvc": version},
            **result, "figures": figures}


def format_table(result: dict) -> str:
    c = result["config"]
    return "\n".join([
        f"DVC overhead benchmark{' (quick)' if result['quick'] else ''}: dvc {c['dvc']}, "
        f"{c['repeats']} repeat(s), {c['files']:,} files at UCF101 scale", "",
        figures_table(result["figures"])])


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(NAME, __doc__, "200 files: checks that it runs",
                              f"default {DEFAULT_REPEATS}, quick {QUICK_REPEATS}")
    parser.add_argument("--files", type=int, help=f"default {DEFAULTS['files']:,} (UCF101's videos)")
    parser.add_argument("--full-repro", action="store_true",
                        help="also time a full dvc repro from a clean clone (~10 min on 2 cores)")
    parser.add_argument("--clone-dir", type=Path, help="clone there and keep it (with --full-repro)")
    parser.add_argument("--grid", action="store_true",
                        help="also the tiny grid on one machine against 3 slices + assembly "
                             "(scripts/grid.sh, ~15 min on 2 cores)")
    args = parser.parse_args(argv)
    result = run(args.quick, args.repeats, files=args.files, full_repro=args.full_repro or None,
                 clone_dir=args.clone_dir, grid=args.grid or None)
    return report(result, format_table, args.json)


if __name__ == "__main__":
    sys.exit(main())
