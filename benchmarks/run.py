"""Run every benchmark, print one table, and record it in benchmarks/results.json.

Sections (one module each, see benchmarks/README.md): training, predict, dvc_overhead.
Every figure is the median, min and max over repeats, beside the baseline measured in
the same run on the same inputs, their ratio, the target and whether it is met, and
whether other processes were using the CPU while it ran (then the timing is not reliable).

results.json keeps the latest result of each section under "sections" (a run with --only
replaces just those) and appends a summary of every run to "history", never erasing it,
so the figures before and after an optimisation stay side by side (label them --note).

    python -m benchmarks.run                    # all sections
    python -m benchmarks.run --quick            # tiny sizes: checks that everything runs
    python -m benchmarks.run --only training,predict
    python -m benchmarks.run --full-repro       # also a full `dvc repro` of a clean clone (+~10 min)

Run from the project root: `-m` puts the root on sys.path, so `benchmarks` and `har` import.
Each section runs in this process: `run()` and `format_table()` of its module,
benchmarks.<name>, imported once.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

from benchmarks.common import (
    OtherLoad, command, cpu_busy, cpu_model, figures_table, write_json)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results.json"
SECTIONS = ["training", "predict", "dvc_overhead"]
SCHEMA = 1


def run_section(name: str, quick: bool, repeats: int | None, options: dict) -> dict:
    """One section's result (with "figures"), or its error; never raises."""
    module = importlib.import_module(f"benchmarks.{name}")
    start = time.perf_counter()
    try:
        with OtherLoad() as busy:
            if name == "predict" and quick:
                result = module.run(quick, repeats or 1, requests=1)
            elif name == "dvc_overhead":
                result = module.run(quick, repeats, **options)
            else:
                result = module.run(quick, repeats)
        for f in result["figures"]:
            if f["cpu_busy_other"] is None and busy.value is not None:
                f["cpu_busy_other"] = busy.value
                f["busy"] = busy.value >= 0.2
        result["table"] = module.format_table(result)
    except Exception as e:  # noqa: BLE001 - one broken section must not lose the others
        result = {"benchmark": name, "quick": quick, "figures": [],
                  "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
    result["seconds"] = time.perf_counter() - start
    return result


def git_state() -> dict:
    def git(*args):
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(status) if status is not None else None}


def machine() -> dict:
    import torch

    return {"cpu": cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available(),
            "python": sys.version.split()[0], "cpu_busy_before": cpu_busy()}


def history_entry(results: dict, meta: dict) -> dict:
    keep = ("name", "unit", "median", "min", "max", "ratio", "target", "met", "busy",
            "cpu_busy_other", "skipped")
    sections = {}
    for name, r in results.items():
        sections[name] = {"seconds": r["seconds"], "error": r.get("error"),
                          "figures": [{**{k: f[k] for k in keep},
                                       "baseline_median": f["baseline"]["median"] if f["baseline"] else None}
                                      for f in r["figures"]]}
    return {**meta, "sections": sections}


def record(path: Path, results: dict, meta: dict) -> dict:
    """Merge this run into results.json: latest sections replaced, a history entry appended."""
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise SystemExit(f"{path}: not valid JSON ({e}); move it away rather than lose its history")
    else:
        data = {}
    data["schema"] = SCHEMA
    data["updated"] = meta["time"]
    data["machine"] = meta["machine"]
    sections = data.setdefault("sections", {})
    for name, r in results.items():
        sections[name] = {**r, "measured_at": meta["time"], "git": meta["git"], "quick": meta["quick"]}
    data.setdefault("history", []).append(history_entry(results, meta))
    write_json(path, data)
    return data


def combined_table(results: dict) -> str:
    rows = []
    for name, r in results.items():
        rows += [{**f, "section": name} for f in r["figures"]]
    lines = [figures_table(rows)]
    notes = []
    for name, r in results.items():
        if r.get("error"):
            notes.append(f"  {name}: FAILED: {r['error']}")
        for f in r["figures"]:
            bits = []
            if f["baseline"]:
                bits.append(f"baseline: {f['baseline']['name']}")
            if f["note"]:
                bits.append(f["note"])
            if bits:
                notes.append(f"  {name} / {f['name']}: {'; '.join(bits)}")
    if notes:
        lines += ["", "notes:"] + notes
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=command("run"), description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat: checks that it runs")
    parser.add_argument("--only", help=f"comma-separated sections: {','.join(SECTIONS)}")
    parser.add_argument("--repeats", type=int, help="override every section's repeats")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"default {RESULTS.relative_to(ROOT)}")
    parser.add_argument("--full-repro", action="store_true",
                        help="dvc_overhead: also a full dvc repro of a clean clone (~10 min more)")
    parser.add_argument("--clone-dir", type=Path, help="with --full-repro: clone there and keep it")
    parser.add_argument("--note", default="", help="a label for this run's history entry "
                                                   "(e.g. 'before: ...', 'after: ...')")
    args = parser.parse_args(argv)
    sections = SECTIONS
    if args.only:
        sections = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = sorted(set(sections) - set(SECTIONS))
        if unknown:
            parser.error(f"unknown section(s): {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    if args.clone_dir and not args.full_repro:
        parser.error("--clone-dir needs --full-repro")
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")

    started = time.perf_counter()
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    info = machine()
    before = info["cpu_busy_before"]
    print(f"benchmarks{' (quick)' if args.quick else ''}: {', '.join(sections)}\n"
          f"machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']} "
          f"({info['torch_threads']} threads), {'CUDA' if info['cuda'] else 'no GPU'}; CPU "
          f"{'?' if before is None else format(before, '.0%')} "
          "busy just before the run", flush=True)
    results = {}
    for name in sections:
        options = {"full_repro": args.full_repro or None, "clone_dir": args.clone_dir}
        print(f"\n== {name} ...", flush=True)
        results[name] = run_section(name, args.quick, args.repeats, options)
        r = results[name]
        print(r.get("table") or f"FAILED: {r['error']}\n{r['traceback']}", flush=True)
        print(f"({name}: {r['seconds']:.0f} s)", flush=True)
    total = time.perf_counter() - started
    meta = {"time": now, "git": git_state(), "argv": sys.argv[1:] if argv is None else argv,
            "quick": args.quick, "note": args.note, "machine": info, "total_s": total}
    print(f"\n== all figures ({info['cpu']}, {info['cores']} cores)\n")
    print(combined_table(results))
    busy = sum(f.get("busy", False) for r in results.values() for f in r["figures"])
    if busy:
        print(f"\nWARNING: other processes used the CPU during {busy} figure(s) (busy!): "
              "those timings are not reliable; ratios suffer less than absolute times.")
    print(f"\ntotal runtime: {total:.0f} s ({total / 60:.1f} min)")
    record(args.output, results, {**meta, "total_s": time.perf_counter() - started})
    failed = [n for n, r in results.items() if r.get("error")]
    if failed:
        print(f"FAILED sections: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
