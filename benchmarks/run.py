"""Run every benchmark, print one table, and record it in benchmarks/results.json.

Sections: training, predict, dvc_overhead (benchmarks/README.md), each run in this process by
its module's `run()` and `format_table()`. results.json keeps each section's latest result
(--only replaces just those) and appends every run to "history", never erasing it, so the
figures before and after an optimisation stay side by side (label them --note).

    python -m benchmarks.run [--quick] [--only training,predict] [--full-repro] [--note TEXT]
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import subprocess
import sys
import time
import traceback
from pathlib import Path

from benchmarks.common import BUSY_CPU, OtherLoad, figures_table, machine_info, write_json

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results.json"
SECTIONS = ["training", "predict", "dvc_overhead"]
SCHEMA = 1
HISTORY_KEYS = ("name", "unit", "median", "min", "max", "ratio", "target", "met", "busy",
                "cpu_busy_other", "skipped")


def run_section(name: str, quick: bool, repeats: int | None, options: dict) -> dict:
    """One section's result (with "figures"), or its error; never raises."""
    module = importlib.import_module(f"benchmarks.{name}")
    start = time.perf_counter()
    try:
        with OtherLoad() as busy:
            result = module.run(quick, repeats, **(options if name == "dvc_overhead" else {}))
        for f in result["figures"]:
            if f["cpu_busy_other"] is None and busy.value is not None:
                f["cpu_busy_other"], f["busy"] = busy.value, busy.value >= BUSY_CPU
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
    return {"commit": git("rev-parse", "HEAD"),
            "dirty": bool(status) if status is not None else None}


def record(path: Path, results: dict, meta: dict) -> dict:
    """Merge this run into results.json: latest sections replaced, a history entry appended."""
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
    except json.JSONDecodeError as e:
        raise SystemExit(f"{path}: not valid JSON ({e}); move it away rather than lose its history")
    data.update({"schema": SCHEMA, "updated": meta["time"], "machine": meta["machine"]})
    sections = data.setdefault("sections", {})
    history = {}
    for name, r in results.items():
        sections[name] = {**r, "measured_at": meta["time"], "git": meta["git"],
                          "quick": meta["quick"]}
        history[name] = {"seconds": r["seconds"], "error": r.get("error"), "figures": [
            {**{k: f[k] for k in HISTORY_KEYS},
             "baseline_median": f["baseline"]["median"] if f["baseline"] else None}
            for f in r["figures"]]}
    data.setdefault("history", []).append({**meta, "sections": history})
    write_json(path, data)
    return data


def combined_table(results: dict) -> str:
    rows = [{**f, "section": name} for name, r in results.items() for f in r["figures"]]
    notes = []
    for name, r in results.items():
        if r.get("error"):
            notes.append(f"  {name}: FAILED: {r['error']}")
        for f in r["figures"]:
            bits = ([f"baseline: {f['baseline']['name']}"] if f["baseline"] else []) + \
                ([f["note"]] if f["note"] else [])
            if bits:
                notes.append(f"  {name} / {f['name']}: {'; '.join(bits)}")
    return "\n".join([figures_table(rows)] + (["", "notes:"] + notes if notes else []))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run",
                                     description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, one repeat: checks that it runs")
    parser.add_argument("--only", help=f"comma-separated sections: {','.join(SECTIONS)}")
    parser.add_argument("--repeats", type=int, help="override every section's repeats")
    parser.add_argument("--output", type=Path, default=RESULTS,
                        help=f"default {RESULTS.relative_to(ROOT)}")
    parser.add_argument("--full-repro", action="store_true",
                        help="dvc_overhead: also a full dvc repro of a clean clone (~10 min more)")
    parser.add_argument("--note", default="", help="a label for this run's history entry "
                                                   "(e.g. 'before: ...', 'after: ...')")
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else SECTIONS
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")

    started = time.perf_counter()
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    info = machine_info()
    before = info["cpu_busy_before"]
    print(f"benchmarks{' (quick)' if args.quick else ''}: {', '.join(sections)}\n"
          f"machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']} "
          f"({info['threads']} threads), {'CUDA' if info['cuda'] else 'no GPU'}; CPU "
          f"{'?' if before is None else format(before, '.0%')} busy just before the run",
          flush=True)
    results = {}
    options = {"full_repro": args.full_repro or None}
    for name in sections:
        print(f"\n== {name} ...", flush=True)
        r = results[name] = run_section(name, args.quick, args.repeats, options)
        print(r.get("table") or f"FAILED: {r['error']}\n{r['traceback']}", flush=True)
        print(f"({name}: {r['seconds']:.0f} s)", flush=True)
    print(f"\n== all figures ({info['cpu']}, {info['cores']} cores)\n")
    print(combined_table(results))
    busy = sum(f.get("busy", False) for r in results.values() for f in r["figures"])
    if busy:
        print(f"\nWARNING: other processes used the CPU during {busy} figure(s) (busy!): "
              "those timings are not reliable; ratios suffer less than absolute times.")
    total = time.perf_counter() - started
    print(f"\ntotal runtime: {total:.0f} s ({total / 60:.1f} min)")
    record(args.output, results, {"time": now, "git": git_state(),
                                  "argv": sys.argv[1:] if argv is None else argv,
                                  "quick": args.quick, "note": args.note, "machine": info,
                                  "total_s": total})
    failed = [n for n, r in results.items() if r.get("error")]
    if failed:
        print(f"FAILED sections: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
