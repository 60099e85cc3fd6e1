"""Benchmark: training clips per second of every model params.yaml trains, at its configured size,
and what pinning the CPU kernels (har/cpu_kernels.py) costs in it.

What is measured: for each entry of params.yaml's `models:`, the model built as the train
stage builds it (its arch, options, frames, crop, batch size and Adam), and
har.engine.train_one_epoch over in-memory random clips of its input shape: the training step
alone (forward, loss, backward, optimiser step). One warm-up batch, then `--repeats` epochs of
`--batches` batches; clips/s = clips / epoch time. On CPU; with CUDA also with AMP and
channels_last, and the GPU utilisation ("no GPU" otherwise). A model with a fully frozen
encoder trains on the feature cache in the pipeline; here it is timed on pixels and marked.
No target (issue 7 asks for the figures).

`--kernels`: the same, run twice per repeat in fresh processes (the kernels are chosen as
torch loads), alternating: pinned (HAR_CPU_ISA=avx2, the default: the same bits on any
x86-64 CPU) and HAR_CPU_ISA=native (AVX-512 where the CPU has it), both at the pinned thread
count. Ratio = pinned / native clips/s; below 1 is what the same bits everywhere cost.

    python -m benchmarks.training [--quick] [--repeats N] [--batches N] [--models A,B] [--kernels] [--json PATH]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import TensorDataset

from benchmarks.common import (
    OtherLoad, benchmark_parser, figure, figures_table, machine_info, report, resolve_config)
from har.config import load_params
from har.cpu_kernels import threads, without_kernel_choices
from har.data import Preprocessing
from har.engine import make_adam, make_loader, to_channels_last, train_one_epoch
from har.models import count_parameters, create_model
from har.models.features import frozen_encoder

NAME = "training"
ROOT = Path(__file__).resolve().parents[1]
KERNELS = ("avx2", "native")
DEFAULTS = {"batches": 2, "classes": 101, "seed": 0}
QUICK = {"batches": 1}
DEFAULT_REPEATS = 3
QUICK_REPEATS = 1


def _crop_hw(crop) -> tuple[int, int]:
    return (crop, crop) if isinstance(crop, int) else (int(crop[0]), int(crop[1]))


def input_shape(prep: Preprocessing) -> list[int]:
    h, w = _crop_hw(prep.crop)
    if prep.layout == "NCTHW":
        return [3, prep.frames, h, w]
    return [prep.frames, 3, h, w]


def _time_model(name: str, params, cfg: dict, repeats: int, device: torch.device,
                amp: bool, channels_last: bool) -> dict:
    spec, train = params.model(name), params.train_config(name)
    prep = Preprocessing.for_model(params, name)
    batch = min(train.batch_size, 4) if cfg.get("quick") else train.batch_size
    torch.manual_seed(cfg["seed"])
    model = create_model(spec.arch, cfg["classes"], train.frames, train.crop, **spec.model)
    frozen = frozen_encoder(model) is not None
    total, trainable = count_parameters(model)
    model.to(device)
    if channels_last:
        to_channels_last(model)
    shape = input_shape(prep)
    n = batch * cfg["batches"]
    data = TensorDataset(torch.randn(n, *shape), torch.randint(0, cfg["classes"], (n,)), torch.arange(n))
    loader = make_loader(data, batch, True, 0, cfg["seed"])
    warm = make_loader(TensorDataset(*(t[:batch] for t in data.tensors)), batch, False, 0, cfg["seed"])
    optimizer = make_adam(model.parameters(), train.lr, train.weight_decay)
    use_scaler = amp and device.type == "cuda" and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler(device.type, enabled=use_scaler)
    train_one_epoch(model, warm, optimizer, device, scaler, amp)  # warm-up: allocations, kernels
    seconds, utilisation = [], []
    with OtherLoad() as busy:
        for _ in range(repeats):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            train_one_epoch(model, loader, optimizer, device, scaler, amp)
            if device.type == "cuda":
                torch.cuda.synchronize()
                try:
                    utilisation.append(float(torch.cuda.utilization(device)))
                except Exception:  # noqa: BLE001 - needs pynvml; not measured without it
                    pass
            seconds.append(time.perf_counter() - start)
    return {"model": name, "arch": spec.arch, "batch_size": batch, "input": shape,
            "params": total, "trainable_params": trainable, "frozen_encoder": frozen,
            "clips_per_s": [n / s for s in seconds], "seconds": seconds, "busy": busy.value,
            "gpu_utilisation": utilisation}


def run(quick: bool = False, repeats: int | None = None, **options) -> dict:
    """Run the benchmark; options override DEFAULTS (batches, classes, seed) and `models`
    (a list of params.yaml model names; default all)."""
    models = options.pop("models", None)
    cfg, repeats = resolve_config(options, DEFAULTS, QUICK, DEFAULT_REPEATS, QUICK_REPEATS, quick, repeats)
    cfg["quick"] = quick
    machine = machine_info()
    params = load_params()
    # --quick: the first model only, a batch of at most 4: it only has to run.
    names = list(models or (list(params.models)[:1] if quick else params.models))
    cuda = torch.cuda.is_available()
    cpu_runs, gpu_runs, figures = [], [], []
    for name in names:
        r = _time_model(name, params, cfg, repeats, torch.device("cpu"), False, False)
        cpu_runs.append(r)
        note = (f"batch {r['batch_size']}, input {r['input']}, {r['params']:,} params"
                + (" (frozen encoder: the pipeline trains it on the feature cache)" if r["frozen_encoder"] else ""))
        figures.append(figure(f"train {name} (CPU)", "clips/s", r["clips_per_s"], busy=r["busy"], note=note))
    for name in names:
        if not cuda:
            figures.append(figure(f"train {name} (GPU, AMP, channels_last)", "clips/s", None,
                                  skipped="no GPU"))
            continue
        r = _time_model(name, params, cfg, repeats, torch.device("cuda"), True, True)
        gpu_runs.append(r)
        figures.append(figure(f"train {name} (GPU, AMP, channels_last)", "clips/s", r["clips_per_s"],
                              busy=r["busy"]))
        figures.append(figure(f"GPU utilisation, {name}", "%", r["gpu_utilisation"] or None,
                              skipped=None if r["gpu_utilisation"] else "torch.cuda.utilization unavailable"))
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
    lines = [f"training benchmark{' (quick)' if result['quick'] else ''}: {len(c['models'])} models "
             f"from params.yaml, {c['batches']} batches per epoch, {c['repeats']} epoch(s), torch "
             f"threads {c['torch_threads']}{'' if c['cuda'] else ', no GPU'}", ""]
    lines.append(figures_table(result["figures"]))
    lines.append("")
    for r in result["cpu"]:
        lines.append(f"  {r['model']}: {r['arch']}, batch {r['batch_size']}, input {r['input']}, "
                     f"{r['params']:,} params ({r['trainable_params']:,} trainable)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(NAME, __doc__,
                              "the first model, a batch of at most 4: checks that it runs",
                              f"epochs timed, default {DEFAULT_REPEATS}, "
                              f"quick {QUICK_REPEATS}")
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
