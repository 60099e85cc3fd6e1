"""Benchmark: what DVC itself costs (`python -m dvc` of this environment, whose `python` runs
the stages), in seconds:

  project      `dvc status` and, only when the pipeline is up to date (the always-changed
               listing stage aside), a no-op `dvc repro`; else that figure is skipped rather
               than start a real reproduction. Target <= 2 s.
  full repro   --full-repro (~10 min on 2 cores): `dvc repro` in a fresh `git clone` of
               HEAD, timed once, then a no-op one there. Target <= 15 min.
  UCF101 scale a scratch repository whose one stage writes 13,320 frames files (tiny ones:
               DVC's cost is per file): the first `dvc repro`, `dvc status`, a no-op
               `dvc repro`. Target: no-op <= 3 s.
  grid         --grid (~15 min on 2 cores): the tiny profile's grid by one `dvc repro`,
               against scripts/grid.sh's 3 slices at once pushing to one local remote, then
               `grid.sh assemble`; the slices' `dvc pull` and `dvc push`. No target.

    python -m benchmarks.dvc_overhead [--quick] [--repeats N] [--files N] [--full-repro]
                                      [--grid] [--json PATH]
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
DEFAULTS = {"files": 13_320, "full_repro": False, "grid": False}
QUICK = {"files": 200}
DEFAULT_REPEATS, QUICK_REPEATS = 3, 1
NOOP_TARGET = {"of": "value", "op": "<=", "value": 2.0, "unit": "s"}  # the project's (issue 23)
UCF_NOOP_TARGET = {**NOOP_TARGET, "value": 3.0}
FULL_TARGET = {"of": "value", "op": "<=", "value": 15 * 60.0, "unit": "s"}
CLASSES = 101


def _env(pythonpath: Path | None = None) -> dict:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1",
           # The stages' `python` is this environment's.
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    if pythonpath is not None:  # a clone's own har package, before the editable install's
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    return env


def timed(cmd: list, cwd: Path, env: dict | None = None) -> tuple[float, str]:
    """(wall seconds, stdout + stderr) of `cmd` in `cwd`; a failure raises with its output."""
    start = time.perf_counter()
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env or _env(), capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} in {cwd} failed ({done.returncode}):\n"
                           f"{(done.stdout + done.stderr)[-3000:]}")
    return time.perf_counter() - start, done.stdout + done.stderr


def dvc(args: list[str], cwd: Path, env: dict | None = None) -> tuple[float, str]:
    """(wall seconds, output) of `python -m dvc ARGS` in `cwd`."""
    return timed([sys.executable, "-m", "dvc", *args], cwd, env)


def _status(cwd: Path) -> tuple[float, dict]:
    seconds, text = dvc(["status", "--json"], cwd)
    # The first JSON value: what follows it is stderr (warnings), if anything.
    return seconds, json.JSONDecoder().raw_decode(text, text.index("{"))[0] if "{" in text else {}


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
    with OtherLoad() as busy:
        statuses = [_status(ROOT) for _ in range(repeats)]
        # The listing stage is always changed by design (listing/dvc.yaml).
        status = {k: v for k, v in statuses[-1][1].items() if v != ["always changed"]}
        repro_s = [] if status else [dvc(["repro"], ROOT)[0] for _ in range(repeats)]
    changed = sorted(status)
    skipped = f"pipeline not up to date ({len(changed)} stages changed)" if status else None
    figures = [
        figure("dvc status, project", "s", [seconds for seconds, _ in statuses],
               higher_is_better=False, busy=busy.value, note="reported, no target"),
        figure("no-op dvc repro, project", "s", repro_s, higher_is_better=False, busy=busy.value,
               target=NOOP_TARGET, skipped=skipped, note=f"{stage_count(ROOT)} stages"),
    ]
    return figures, {"up_to_date": not status, "changed_stages": changed[:20]}


def full_repro(repeats: int) -> tuple[list[dict], dict]:
    """git clone of HEAD, dvc repro there (timed once), then a no-op dvc repro there."""
    with tempfile.TemporaryDirectory(prefix="har-bench-clone-") as tmp:
        target = Path(tmp) / "har"
        head = timed(["git", "rev-parse", "HEAD"], ROOT)[1].strip()
        clone_s, _ = timed(["git", "clone", "--quiet", ROOT, target], ROOT)
        env = _env(pythonpath=target)
        with OtherLoad() as busy:
            full_s, _ = dvc(["repro"], target, env)
            noop = [dvc(["repro"], target, env)[0] for _ in range(repeats)]
        stages = stage_count(target)
    figures = [
        figure("full dvc repro, clean clone", "s", [full_s], higher_is_better=False,
               busy=busy.value, note=f"commit {head[:10]}, git clone took {clone_s:.1f} s",
               target=FULL_TARGET),
        figure("no-op dvc repro, clean clone", "s", noop, higher_is_better=False, busy=busy.value,
               target=NOOP_TARGET, note=f"{stages} stages"),
    ]
    return figures, {"commit": head, "clone_s": clone_s}


def _step_seconds(log: str, what: str) -> float:
    """The seconds grid.sh reported for its `dvc <what>` steps, added up."""
    return sum(float(m) for m in re.findall(rf"^grid step: ([0-9.]+) s: dvc {what}$", log, re.M))


def fan_out() -> tuple[list[dict], dict]:
    """The tiny grid on one machine, then as 3 slices at once plus an assembly (scripts/grid.sh)."""
    with tempfile.TemporaryDirectory(prefix="har-bench-grid-") as tmp:
        base = Path(tmp)
        source, remote = base / "source", base / "remote"
        timed(["git", "clone", "-q", ROOT, source], base)
        env = _env(pythonpath=source)
        timed([sys.executable, "-m", "har.cli", "preset", "apply", "tiny"], source, env)
        timed(["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qam", "tiny"],
              source)
        grid = subprocess.run([sys.executable, "-m", "har.grid"], cwd=source, env=env,
                              capture_output=True, text=True, check=True).stdout.split()
        runs = [grid[i:i + 2] for i in range(0, len(grid), 2)]
        slices = [sum(runs[i::3], []) for i in range(3)]
        remote.mkdir()
        clones = {name: base / name for name in ("one", "a", "b", "c", "assembler")}
        envs = {name: _env(pythonpath=clone) for name, clone in clones.items()}
        for name, clone in clones.items():
            timed(["git", "clone", "-q", source, clone], base)
            dvc(["remote", "add", "--local", "-d", "grid", str(remote)], clone, envs[name])
        with OtherLoad() as busy:
            one_s, _ = dvc(["repro"], clones["one"], envs["one"])
            start = time.perf_counter()
            procs = {}
            for name, args in zip("abc", slices):
                with open(base / f"{name}.log", "w") as log:  # the child keeps its own copy
                    procs[name] = subprocess.Popen(
                        [clones[name] / "scripts" / "grid.sh", "run", *args], cwd=clones[name],
                        env=envs[name], stdout=log, stderr=subprocess.STDOUT)
            logs = []
            for name, proc in procs.items():
                code = proc.wait()
                logs.append((base / f"{name}.log").read_text())
                if code != 0:
                    raise RuntimeError(f"grid.sh run in {name} failed:\n{logs[-1][-3000:]}")
            slices_s = time.perf_counter() - start
            assemble_s, assembled = timed([clones["assembler"] / "scripts" / "grid.sh",
                                           "assemble"], clones["assembler"], envs["assembler"])
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
        timed(["git", "init", "-q"], repo)
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
               target=UCF_NOOP_TARGET),
    ]
    return figures, {"files": written, "file_bytes": file_bytes, "classes": CLASSES}


def run(quick: bool = False, repeats: int | None = None, **options) -> dict:
    """Run the benchmark; options: files (UCF101-scale count), full_repro, grid (bools)."""
    cfg, repeats = resolve_config(options, DEFAULTS, QUICK, DEFAULT_REPEATS, QUICK_REPEATS, quick,
                                  repeats)
    machine = machine_info()
    version = dvc(["--version"], ROOT)[1].strip()
    figures, details = project(repeats)
    result = {"project": details}
    if cfg["full_repro"]:
        more, result["full_repro"] = full_repro(repeats)
        figures += more
    else:
        figures.append(figure("full dvc repro, clean clone", "s", None,
                              skipped="not run (--full-repro)", target=FULL_TARGET))
    more, result["ucf_scale"] = ucf_scale(cfg["files"], repeats)
    figures += more
    if cfg["grid"]:
        more, result["grid"] = fan_out()
        figures += more
    return {"benchmark": NAME, "quick": quick, "machine": machine,
            "config": {**cfg, "repeats": repeats, "dvc": version},
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
    parser.add_argument("--grid", action="store_true",
                        help="also the tiny grid on one machine against 3 slices + assembly "
                             "(scripts/grid.sh, ~15 min on 2 cores)")
    args = parser.parse_args(argv)
    result = run(args.quick, args.repeats, files=args.files, full_repro=args.full_repro or None,
                 grid=args.grid or None)
    return report(result, format_table, args.json)


if __name__ == "__main__":
    sys.exit(main())
