"""Benchmark: what pinning the CPU kernels to AVX2 (har/cpu_kernels.py) costs in training time.

What is measured: benchmarks.training (each params.yaml model's training step at its
configured size, on in-memory clips) run twice per repeat, in fresh processes, because
the kernels are chosen when torch loads: once pinned (the default: HAR_CPU_ISA=avx2, the
same bits on any x86-64 CPU) and once with HAR_CPU_ISA=native (the CPU's widest kernels,
AVX-512 where it has them). The two alternate, so a busy spell hits both alike. Both use
the pinned thread count (HAR_CPU_THREADS, default 2). Ratio = native clips/s / pinned
clips/s: how much faster the unpinned run would train; on a CPU without AVX-512 both are
the same kernels and the ratio is 1.

    python -m benchmarks.cpu_kernels [--quick] [--repeats N] [--json PATH]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import benchmark_parser, figure, figures_table, machine_info, report
from har.cpu_kernels import threads, without_kernel_choices

NAME = "cpu_kernels"
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REPEATS, QUICK_REPEATS = 3, 1
KERNELS = ("avx2", "native")


def _training(kernels: str, quick: bool, batches: int | None) -> dict:
    # From an environment without kernel choices: this process's own (`import har` pinned it to
    # AVX2, and a caller's may too) would otherwise make the "native" child run AVX2 as well.
    # The thread count stays the pinned one, this process's.
    env = {**without_kernel_choices(os.environ), "HAR_CPU_ISA": kernels,
           "HAR_CPU_THREADS": str(threads())}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "training.json"
        # From the project root, `-m` puts it on sys.path: benchmarks and har import.
        argv = [sys.executable, "-m", "benchmarks.training", "--repeats", "1", "--json", str(out)]
        argv += ["--quick"] if quick else []
        argv += ["--batches", str(batches)] if batches else []
        subprocess.run(argv, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        return json.loads(out.read_text())


def run(quick: bool = False, repeats: int | None = None, batches: int | None = None) -> dict:
    repeats = repeats or (QUICK_REPEATS if quick else DEFAULT_REPEATS)
    clips: dict[str, dict[str, list[float]]] = {k: {} for k in KERNELS}
    capability = {}
    for _ in range(repeats):
        for kernels in KERNELS:
            result = _training(kernels, quick, batches)
            capability[kernels] = result["machine"]["cpu_capability"]
            for r in result["cpu"]:
                clips[kernels].setdefault(r["model"], []).extend(r["clips_per_s"])
    # Ratio: pinned clips/s over native clips/s; below 1 is what pinning costs.
    figures = [figure(f"train {model}, pinned to {capability['avx2']}", "clips/s",
                      clips["avx2"][model],
                      baseline={"name": f"native {capability['native']}",
                                "values": clips["native"][model]})
               for model in clips["avx2"]]
    return {"benchmark": NAME, "quick": quick, "machine": machine_info(),
            "config": {"repeats": repeats, "batches": batches, "kernels": capability},
            "clips_per_s": clips, "figures": figures}


def format_table(result: dict) -> str:
    k = result["config"]["kernels"]
    return (f"CPU kernels benchmark{' (quick)' if result['quick'] else ''}: pinned "
            f"({k['avx2']}) against native ({k['native']}), {result['config']['repeats']} "
            "alternating repeat(s), fresh processes\n\n" + figures_table(result["figures"]))


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(NAME, __doc__,
                              "the first model, a tiny batch, one repeat: checks it runs",
                              f"alternating pairs of runs, default {DEFAULT_REPEATS}")
    parser.add_argument("--batches", type=int, help="per epoch (benchmarks.training's default)")
    args = parser.parse_args(argv)
    return report(run(args.quick, args.repeats, args.batches), format_table, args.json)


if __name__ == "__main__":
    sys.exit(main())
