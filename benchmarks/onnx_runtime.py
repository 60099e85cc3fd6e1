"""Benchmark: the same model as .pt on torch and as .onnx on ONNX Runtime, side by side.

On the UCF101 fixture clip (../shared/fixtures/videos/mmaction2__tests_data__test.avi),
for each kind of model file:

  cli        wall time of a whole `har predict CLIP --model M` process (Python start,
             imports, model load, decode, inference), and its CPU time (user + system),
             which other processes on the machine disturb far less than the wall time;
  load       Predictor(M) in a running process whose imports are done (the first
             load, which imports torch or onnxruntime, is a warm-up);
  inference  one clip through the model, with one thread (as `har predict` and `har serve`
             run): the forward pass only, median of `--clip-runs` runs;
  api        `har serve --model M` as its own process, `--clients` threads each POSTing the
             clip `--requests` times: p50 and p95 latency (benchmarks.predict's bench_api);
  rss        that server's peak resident memory after loading, and after the load test.

With `--runtime-python PY` (the python of a venv made from requirements-runtime.txt and
the package, README "Prediction and serving"), `cli` of the .onnx file is also measured
with that interpreter: the deployment's own install, without the dev venv's 6 GB.

The .onnx file is written by `har export` from the .pt in this run. Model: --model, else
models/cnn3d/seed0/model.pt from `dvc repro`, else an untrained cnn3d with params.yaml's options
(the same work: weights do not change it). --quick uses a small untrained cnn3d.
Targets (issue 15): whole-process predict <= 0.6 s, serve RSS <= 200 MB with one model,
inference per clip no slower than torch (ratio <= 1).

`--architectures [NAME ...]` instead exports every registered architecture (or those named)
at its smallest input with random weights, and reports the export time, the file size and
ONNX Runtime's largest logit difference from torch, or why it was refused.

    python -m benchmarks.onnx_runtime                  # ~2 min on 2 cores
    python -m benchmarks.onnx_runtime --quick          # checks that it runs
    python -m benchmarks.onnx_runtime --runtime-python /tmp/slim/bin/python
    python -m benchmarks.onnx_runtime --architectures  # ~15 min on 2 cores (mvit_v2_s: 5)
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks import predict  # the clip, the server load test
from benchmarks.common import (
    OtherLoad, benchmark_parser, cpu_busy, figure, figures_table, report, resolve_config,
    torch_threads)

ROOT = Path(__file__).resolve().parents[1]
NAME = "onnx_runtime"
DEFAULTS = {"clients": 8, "requests": 25, "clip_runs": 50}
QUICK = {"clients": 8, "requests": 2, "clip_runs": 5}
DEFAULT_REPEATS = 5
QUICK_REPEATS = 2
KINDS = (("torch", ".pt on torch"), ("onnx", ".onnx on ONNX Runtime"))
TARGET_CLI_S, TARGET_RSS_MB = 0.6, 200


def run(quick: bool = False, repeats: int | None = None, **options) -> dict:
    """options: clients, requests (per client), clip_runs, model (a .pt checkpoint),
    runtime_python (an interpreter of the slim install, for a second whole-process figure)."""
    model = options.pop("model", None)
    runtime_python = options.pop("runtime_python", None)
    cfg, repeats = resolve_config(options, DEFAULTS, QUICK, DEFAULT_REPEATS, QUICK_REPEATS, quick, repeats)
    if not predict.CLIP.is_file():
        raise FileNotFoundError(f"{predict.CLIP}: the benchmark needs ../shared/fixtures beside the project")
    with tempfile.TemporaryDirectory() as tmp:
        if model is None:
            trained = predict.TRAINED.is_file() and not quick
            model = predict.TRAINED if trained else predict.untrained_checkpoint(Path(tmp), small=quick)
            note = "trained (dvc repro)" if trained else "untrained" + (", small" if quick else "")
        else:
            note = "given"
        from har.onnx_export import export_onnx

        exported = export_onnx(model, Path(tmp) / "model.onnx")
        files = {"torch": Path(model), "onnx": exported.path}
        machine = {"cpu_busy_before": cpu_busy(), "cores": os.cpu_count(), "torch": torch.__version__,
                   "onnxruntime": _version("onnxruntime"), "python": platform.python_version()}
        kinds = {kind: _measure(files[kind], repeats, cfg) for kind, _ in KINDS}
        if runtime_python:
            with OtherLoad() as busy:
                kinds["onnx"]["cli_runtime_s"], kinds["onnx"]["cli_runtime_cpu_s"] = _cli(
                    Path(runtime_python), files["onnx"], repeats, predict.CLIP)
            kinds["onnx"]["busy"]["cli_runtime"] = busy.value
    result = {"benchmark": NAME, "quick": quick, "machine": machine,
              "config": {**cfg, "repeats": repeats, "model": str(model), "model_note": note,
                         "runtime_python": str(runtime_python) if runtime_python else None,
                         "onnx_bytes": exported.bytes, "onnx_max_difference": exported.max_difference,
                         "clip": predict.CLIP.name, "threads": 1},
              "kinds": kinds}
    result["figures"] = figures(result)
    return result


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _cli(python: Path, model: Path, repeats: int, clip: Path) -> tuple[list[float], list[float]]:
    """(wall, CPU) seconds of whole `har predict CLIP --model MODEL` processes run by `python`."""
    walls, cpus = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([str(python), "-m", "har.cli", "predict", str(clip), "--model", str(model)],
                       cwd=ROOT, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return walls, cpus


def _measure(path: Path, repeats: int, cfg: dict) -> dict:
    with OtherLoad() as busy_cli:
        cli, cli_cpu = _cli(Path(sys.executable), path, repeats, predict.CLIP)
    from har.predict import Predictor
    from har.video import read_frames

    with torch_threads(1), OtherLoad() as busy_model:
        Predictor(path)  # warm-up: the imports, first-use allocations
        loads = []
        for _ in range(repeats):
            start = time.perf_counter()
            predictor = Predictor(path, threads=1)
            loads.append(time.perf_counter() - start)
        frames = read_frames(predict.CLIP, predictor.prep.source_frames, predictor.prep.short_side)
        clip = predictor.clip_batch(frames.array)[:1]
        predictor.model.logits(clip)  # warm-up
        inference = []
        for _ in range(cfg["clip_runs"]):
            start = time.perf_counter()
            predictor.model.logits(clip)
            inference.append(time.perf_counter() - start)
    with OtherLoad() as busy_api:
        api = predict.bench_api(path, cfg["clients"], cfg["requests"])
    return {"file": path.name, "arch": predictor.arch, "clip_shape": list(clip.shape[1:]),
            "cli_s": cli, "cli_cpu_s": cli_cpu, "load_s": loads, "inference_s": inference, "api": api,
            "busy": {"cli": busy_cli.value, "model": busy_model.value, "api": busy_api.value}}


def figures(result: dict) -> list[dict]:
    """The .onnx figures, each beside the .pt one (baseline) of the same run."""
    pt, onnx = result["kinds"]["torch"], result["kinds"]["onnx"]
    base = KINDS[0][1]
    out = [
        figure("har predict, whole process", "s", onnx["cli_s"], higher_is_better=False,
               baseline={"name": base, "values": pt["cli_s"]}, busy=onnx["busy"]["cli"],
               target={"of": "value", "op": "<=", "value": TARGET_CLI_S, "unit": "s"}),
        figure("har predict, whole process, CPU time", "s", onnx["cli_cpu_s"],
               higher_is_better=False, baseline={"name": base, "values": pt["cli_cpu_s"]},
               busy=onnx["busy"]["cli"], note="user + system: the work, whatever else runs"),
        figure("model load (imports done)", "s", onnx["load_s"], higher_is_better=False,
               baseline={"name": base, "values": pt["load_s"]}, busy=onnx["busy"]["model"]),
        figure("inference, one clip, 1 thread", "ms", [1000 * t for t in onnx["inference_s"]],
               higher_is_better=False, busy=onnx["busy"]["model"],
               baseline={"name": base, "values": [1000 * t for t in pt["inference_s"]]},
               target={"of": "ratio", "op": "<=", "value": 1.0}),
    ]
    if "cli_runtime_s" in onnx:
        out.insert(2, figure("har predict, whole process, slim venv", "s", onnx["cli_runtime_s"],
                             higher_is_better=False, busy=onnx["busy"]["cli_runtime"],
                             baseline={"name": base, "values": pt["cli_s"]},
                             target={"of": "value", "op": "<=", "value": TARGET_CLI_S, "unit": "s"},
                             note="requirements-runtime.txt only"))
        out.insert(3, figure("har predict, whole process, slim venv, CPU", "s",
                             onnx["cli_runtime_cpu_s"], higher_is_better=False,
                             busy=onnx["busy"]["cli_runtime"],
                             baseline={"name": base, "values": pt["cli_cpu_s"]}))
    lat_onnx, lat_pt = onnx["api"]["latency"], pt["api"]["latency"]
    clients = onnx["api"]["clients"]
    for key, label in (("median_s", "p50"), ("p95_s", "p95")):
        out.append(figure(f"har serve {label}, {clients} clients", "ms", [1000 * lat_onnx[key]],
                          higher_is_better=False, busy=onnx["busy"]["api"],
                          baseline={"name": base, "values": [1000 * lat_pt[key]]}))
    for key, label, target in (("rss_loaded_mb", "har serve RSS, model loaded", TARGET_RSS_MB),
                               ("rss_peak_mb", "har serve peak RSS, after the load", None)):
        if onnx["api"][key] is None:
            out.append(figure(label, "MB", None, skipped="no /proc here"))
            continue
        out.append(figure(label, "MB", [onnx["api"][key]], higher_is_better=False,
                          baseline={"name": base, "values": [pt["api"][key]]},
                          target=target and {"of": "value", "op": "<=", "value": target, "unit": "MB"}))
    return out


def format_table(result: dict) -> str:
    c, m = result["config"], result["machine"]
    busy = m["cpu_busy_before"]
    head = [f"onnx_runtime benchmark{' (quick)' if result['quick'] else ''}: "
            f"{result['kinds']['torch']['arch']} ({c['model_note']}), {c['clip']}, {c['repeats']} "
            f"repeats, {c['clip_runs']} inference runs; .onnx {c['onnx_bytes'] / 1e6:.2f} MB, "
            f"largest logit difference {c['onnx_max_difference']:.1g}",
            f"machine: {m['cores']} cores, torch {m['torch']}, onnxruntime {m['onnxruntime']}, CPU "
            f"{'?' if busy is None else f'{100 * busy:.0f}%'} busy just before the run",
            "figures: .onnx on ONNX Runtime; baseline: the same model as .pt on torch", ""]
    return "\n".join(head) + figures_table(result["figures"])


def survey(names: list[str] | None = None) -> dict:
    """Export each registered architecture at its smallest input, random weights."""
    from har.checkpoint import write_checkpoint
    from har.data import Preprocessing
    from har.models import create_model, get_entry, list_models
    from har.onnx_export import export_onnx

    rows = []
    with tempfile.TemporaryDirectory() as tmp, torch_threads(1):
        for name in names or list_models():
            entry = get_entry(name)
            frames, side = entry.fixed_input or entry.min_input
            model = create_model(name, 5, frames, side)
            prep = Preprocessing(frames, side, frames, side, entry.mean, entry.std, entry.layout, False)
            path = Path(tmp) / name / "model.pt"
            path.parent.mkdir()
            write_checkpoint(path, model_name=name, arch=name, model_config={},
                             class_names=list("abcde"), preprocessing=prep, weights=model)
            start = time.perf_counter()
            try:
                done = export_onnx(path, Path(tmp) / f"{name}.onnx")
                rows.append({"arch": name, "exported": True, "input": list(done.input_shape),
                             "seconds": time.perf_counter() - start, "mb": done.bytes / 1e6,
                             "max_difference": done.max_difference})
            except ValueError as e:
                rows.append({"arch": name, "exported": False, "seconds": time.perf_counter() - start,
                             "why": str(e).split(": ", 1)[-1]})
            print(_survey_line(rows[-1]), flush=True)
    return {"benchmark": f"{NAME}_architectures", "architectures": rows,
            "exported": sum(r["exported"] for r in rows), "total": len(rows)}


def _survey_line(r: dict) -> str:
    if not r["exported"]:
        return f"{r['arch']:<20} refused ({r['seconds']:.0f} s): {r['why']}"
    return (f"{r['arch']:<20} {'x'.join(map(str, r['input'])):<18} {r['seconds']:6.1f} s "
            f"{r['mb']:7.1f} MB  max |ORT - torch| {r['max_difference']:.1g}")


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(NAME, __doc__, "small model, few requests: checks that it runs",
                              f"default {DEFAULT_REPEATS}, quick {QUICK_REPEATS}")
    parser.add_argument("--model", type=Path, help="a .pt checkpoint (default: models/cnn3d/seed0/model.pt)")
    parser.add_argument("--clients", type=int, help=f"default {DEFAULTS['clients']}")
    parser.add_argument("--requests", type=int, help=f"per client, default {DEFAULTS['requests']}")
    parser.add_argument("--clip-runs", type=int, help=f"default {DEFAULTS['clip_runs']}")
    parser.add_argument("--runtime-python", type=Path,
                        help="python of a venv from requirements-runtime.txt: also time the "
                             ".onnx whole process with it")
    parser.add_argument("--architectures", nargs="*", metavar="NAME",
                        help="export every registered architecture (or those named) instead")
    args = parser.parse_args(argv)
    if args.architectures is not None:
        result = survey(args.architectures)
        return report(result, lambda r: f"{r['exported']} of {r['total']} architectures exported",
                      args.json)
    result = run(args.quick, args.repeats, model=args.model, clients=args.clients,
                 requests=args.requests, clip_runs=args.clip_runs,
                 runtime_python=args.runtime_python)
    return report(result, format_table, args.json)


if __name__ == "__main__":
    sys.exit(main())
