"""Benchmark: training clips/s of every model params.yaml trains, at its configured size, and
what pinning the CPU kernels (har/cpu_kernels.py) costs in it.

Each model is set up as the train stage sets it up (benchmarks.common.Setup) and timed in
har.engine.train_one_epoch over in-memory random clips through the stage's DataLoader: the
training step alone. On the CPU; with CUDA also with AMP and channels_last, and the GPU
utilisation. A model with a frozen encoder (the pipeline trains it on the feature cache) is
timed on pixels, and marked. `--kernels`: the same in fresh processes (the kernels are chosen
as torch loads), alternating pinned (HAR_CPU_ISA=avx2, the default: the same bits on any
x86-64 CPU) and native (AVX-512 where the CPU has it); ratio below 1: what that costs.

    python -m benchmarks.training [--quick] [--repeats N] [--batches N] [--models A,B]
                                  [--kernels] [--json PATH]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from benchmarks.common import (
    CLASSES, OtherLoad, Setup, benchmark_parser, figure, figures_table, machine_info, report,
    resolve_config, timed_epochs)
from har.config import load_params
from har.cpu_kernels import threads, without_kernel_choices
from har.engine import make_loader
from har.models.features import frozen_encoder

NAME = "training"
ROOT = Path(__file__).resolve().parents[1]
KERNELS = ("avx2", "native")
DEFAULTS = {"batches": 2}
QUICK = {"batches": 1}
DEFAULT_REPEATS, QUICK_REPEATS = 3, 1
SEED = 0


def _time_model(name: str, params, cfg: dict, repeats: int, device: torch.device,
                amp_channels_last: bool, quick: bool) -> dict:
    flags = (amp_channels_last, amp_channels_last, False)  # amp, channels_last, no compile
    setup = Setup(params, name, flags, device, quick, SEED)
    n = setup.batch * cfg["batches"]
    data = TensorDataset(torch.randn(n, *setup.input), torch.randint(0, CLASSES, (n,)),
                         torch.arange(n))
    setup.epoch(setup.random_batches(1))  # warm-up: allocations, kernels
    with OtherLoad() as busy:
        rates, _ = timed_epochs(setup, make_loader(data, setup.batch, True, 0, SEED), repeats, n)
    utilisation = []
    if device.type == "cuda":
        try:
            utilisation.append(float(torch.cuda.utilization(device)))
        except Exception:  # noqa: BLE001 - needs pynvml; not measured without it
            pass
    return {"model": name, "arch": params.model(name).arch, "batch_size": setup.batch,
            "input": setup.input, "params": setup.params_total,
            "trainable_params": setup.params_trainable,
            "frozen_encoder": frozen_encoder(setup.model) is not None, "clips_per_s": rates,
            "seconds": [n / r for r in rates], "busy": busy.value, "gpu_utilisation": utilisation}


def run(quick: bool = False, repeats: int | None = None, **options) -> dict:
    """Run the benchmark; options override DEFAULTS (batches) and `models` (a list of
    params.yaml model names; default all)."""
    models = options.pop("models", None)
    cfg, repeats = resolve_config(options, DEFAULTS, QUICK, DEFAULT_REPEATS, QUICK_REPEATS, quick,
                                  repeats)
    machine = machine_info()
    params = load_params()
    # --quick: the first model only, a batch of at most 2: it only has to run.
    names = list(models or (list(params.models)[:1] if quick else params.models))
    cuda = torch.cuda.is_available()
    cpu_runs, gpu_runs, figures = [], [], []
    for name in names:
        r = _time_model(name, params, cfg, repeats, torch.device("cpu"), False, quick)
        cpu_runs.append(r)
        frozen = " (frozen encoder: the pipeline trains it on the feature cache)"
        note = (f"batch {r['batch_size']}, input {r['input']}, {r['params']:,} params"
                + (frozen if r["frozen_encoder"] else ""))
        figures.append(figure(f"train {name} (CPU)", "clips/s", r["clips_per_s"], busy=r["busy"],
                              note=note))
    for name in names:
        label = f"train {name} (GPU, AMP, channels_last)"
        if not cuda:
            figures.append(figure(label, "clips/s", None, skipped="no GPU"))
            continue
        r = _time_model(name, params, cfg, repeats, torch.device("cuda"), True, quick)
        gpu_runs.append(r)
        figures.append(figure(label, "clips/s", r["clips_per_s"], busy=r["busy"]))
        figures.append(figure(f"GPU utilisation, {name}", "%", r["gpu_utilisation"] or None,
                              skipped=None if r["gpu_utilisation"]
                              else "torch.cuda.utilization unavailable"))
    if not cuda:
        figures.append(figure("GPU utilisation", "%", None, skipped="no GPU"))
    return {"benchmark": NAME, "quick": quick, "machine": machine,
            "config": {**cfg, "repeats": repeats, "models": names, "device": "cpu",
                       "torch_threads": torch.get_num_threads(), "cuda": cuda},
            "cpu": cpu_runs, "gpu": gpu_runs, "figures": figures}


def _in_fresh_process(kernels: str, quick: bool, batches: int | None) -> dict:
    # From an environment without kernel choices: this process's own (`import har` pinned it
    # to AVX2) would otherwise make the "native" child run AVX2 as well. Threads stay pinned.
    env = {**without_kernel_choices(os.environ), "HAR_CPU_ISA": kernels,
           "HAR_CPU_THREADS": str(threads())}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "training.json"
        argv = [sys.executable, "-m", "benchmarks.training", "--repeats", "1", "--json", str(out)]
        argv += (["--quick"] if quick else []) + (["--batches", str(batches)] if batches else [])
        subprocess.run(argv, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        return json.loads(out.read_text())


def run_kernels(quick: bool = False, repeats: int | None = None, batches: int | None = None) -> dict:
    """Pinned against native kernels, alternating fresh processes (see the module's doc)."""
    repeats = repeats or (QUICK_REPEATS if quick else DEFAULT_REPEATS)
    clips: dict[str, dict[str, list[float]]] = {k: {} for k in KERNELS}
    capability = {}
    for _ in range(repeats):
        for kernels in KERNELS:
            result = _in_fresh_process(kernels, quick, batches)
            capability[kernels] = result["machine"]["cpu_capability"]
            for r in result["cpu"]:
                clips[kernels].setdefault(r["model"], []).extend(r["clips_per_s"])
    figures = [figure(f"train {model}, pinned to {capability['avx2']}", "clips/s",
                      clips["avx2"][model], baseline={"name": f"native {capability['native']}",
                                                      "values": clips["native"][model]})
               for model in clips["avx2"]]
    return {"benchmark": NAME, "kernels": True, "quick": quick, "machine": machine_info(),
            "config": {"repeats": repeats, "batches": batches, "kernels": capability},
            "clips_per_s": clips, "figures": figures}


def format_table(result: dict) -> str:
    c = result["config"]
    if result.get("kernels"):
        return (f"training, CPU kernels{' (quick)' if result['quick'] else ''}: pinned "
                f"({c['kernels']['avx2']}) against native ({c['kernels']['native']}), "
                f"{c['repeats']} alternating repeat(s), fresh processes\n\n"
                + figures_table(result["figures"]))
    lines = [f"training benchmark{' (quick)' if result['quick'] else ''}: {len(c['models'])} "
             f"models from params.yaml, {c['batches']} batches per epoch, {c['repeats']} "
             f"epoch(s), torch threads {c['torch_threads']}{'' if c['cuda'] else ', no GPU'}",
             "", figures_table(result["figures"]), ""]
    lines += [f"  {r['model']}: {r['arch']}, batch {r['batch_size']}, input {r['input']}, "
              f"{r['params']:,} params ({r['trainable_params']:,} trainable)"
              for r in result["cpu"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(NAME, __doc__,
                              "the first model, a batch of at most 2: checks that it runs",
                              f"epochs timed, default {DEFAULT_REPEATS}, quick {QUICK_REPEATS}")
    parser.add_argument("--batches", type=int, help=f"per epoch, default {DEFAULTS['batches']}")
    parser.add_argument("--models", help="comma-separated params.yaml model names (default: all)")
    parser.add_argument("--kernels", action="store_true",
                        help="pinned against native CPU kernels, in fresh processes")
    args = parser.parse_args(argv)
    if args.kernels:
        return report(run_kernels(args.quick, args.repeats, args.batches), format_table, args.json)
    result = run(args.quick, args.repeats, batches=args.batches,
                 models=args.models.split(",") if args.models else None)
    return report(result, format_table, args.json)


if __name__ == "__main__":
    sys.exit(main())
