"""Benchmark: `har predict` and `har serve` with the same model as .pt on torch and as .onnx
on ONNX Runtime, side by side (the .pt figures are each .onnx figure's baseline).

On the UCF101 fixture clip (../shared/fixtures/videos/mmaction2__tests_data__test.avi,
320x240 XviD AVI, 164 frames), for each kind of model file:

  cli        wall time of a whole `har predict CLIP --model M` process (Python start,
             imports, model load, decode, inference: what a user waits for), and its CPU
             time (user + system), which other processes disturb far less than the wall time;
  load       Predictor(M) in a running process whose imports are done;
  predict    Predictor.predict_file(CLIP) with the model loaded: decode, eval.clips clips,
             inference (the first call is a warm-up);
  inference  one clip through the model, with one thread (as `har predict` and `har serve`
             run): the forward pass only, median of `--clip-runs` runs;
  api        `har serve --model M` as its own process (waitress, params.yaml's serve section),
             `--clients` threads each POSTing the clip `--requests` times: p50 and p95 latency;
  rss        that server's peak resident memory (VmHWM) after loading, and after the load test.

With `--runtime-python PY` (the python of a venv made from requirements-runtime.txt and
the package, README "Prediction and serving"), `cli` of the .onnx file is also measured
with that interpreter: the deployment's own install, without the dev venv's 6 GB.

The .onnx file is written by `har export` from the .pt in this run. Model: --model, else
models/cnn3d/seed0/model.pt from `dvc repro`, else an untrained cnn3d with params.yaml's options
(the same work: weights do not change it). --quick uses a small untrained cnn3d and few requests.
Targets (issue 15): whole-process .onnx predict <= 0.6 s, serve RSS <= 200 MB with one model,
inference per clip no slower than torch (ratio <= 1).

`--architectures [NAME ...]` instead exports every registered architecture (or those named)
at its smallest input with random weights, and reports the export time, the file size and
ONNX Runtime's largest logit difference from torch, or why it was refused.

    python -m benchmarks.predict                  # ~2 min on 2 cores
    python -m benchmarks.predict --quick          # checks that it runs
    python -m benchmarks.predict --runtime-python /tmp/slim/bin/python
    python -m benchmarks.predict --architectures  # ~15 min on 2 cores (mvit_v2_s: 5)
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import torch

from benchmarks.common import (
    OtherLoad, benchmark_parser, cpu_busy, figure, figures_table, report, resolve_config,
    torch_threads)

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared" / "fixtures" / "videos" / "mmaction2__tests_data__test.avi"
TRAINED = ROOT / "models" / "cnn3d" / "seed0" / "model.pt"
NAME = "predict"
DEFAULTS = {"clients": 8, "requests": 25, "clip_runs": 50}  # requests per client
QUICK = {"clients": 8, "requests": 2, "clip_runs": 5}
DEFAULT_REPEATS = 5
QUICK_REPEATS = 2
KINDS = (("torch", ".pt on torch"), ("onnx", ".onnx on ONNX Runtime"))
TARGET_CLI_S, TARGET_RSS_MB = 0.6, 200


def peak_rss_mb(pid: int, field: str = "VmHWM") -> float | None:
    """VmHWM (peak RSS) of a process in MB, or another /proc/<pid>/status field such as
    VmRSS (Linux); None elsewhere."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def untrained_checkpoint(folder: Path, small: bool) -> Path:
    """A cnn3d checkpoint in the train stage's format, random weights, params.yaml's preprocessing."""
    from har.checkpoint import write_checkpoint
    from har.config import load_params
    from har.data import Preprocessing
    from har.models import create_model

    params = load_params(ROOT / "params.yaml")
    prep = Preprocessing.for_model(params, "cnn3d")
    config = {"channels": [8, 16], "fc": [32, 32]} if small else params.model("cnn3d").model
    classes = [f"class{i}" for i in range(8)]
    model = create_model("cnn3d", len(classes), prep.frames, prep.crop, **config)
    path = folder / "cnn3d" / "model.pt"
    path.parent.mkdir(parents=True)
    write_checkpoint(path, model_name="cnn3d", arch="cnn3d", model_config=config,
                     class_names=classes, preprocessing=prep, weights=model)
    return path


def _stats(times: list[float]) -> dict:
    ordered = sorted(times)
    return {"n": len(times), "median_s": statistics.median(times), "min_s": ordered[0],
            "max_s": ordered[-1], "p95_s": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]}


def upload_request(url: str, data: bytes, filename: str = "clip.avi",
                   content_type: str = "video/x-msvideo") -> urllib.request.Request:
    """A POST of `data` as the multipart form field 'file', as a browser sends an upload."""
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return urllib.request.Request(url, data=body, headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"})


def _post(url: str, data: bytes) -> float:
    request = upload_request(url, data)
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        json.loads(response.read())
    return time.perf_counter() - start


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def har_serve(model: Path, env: dict | None = None):
    """`har serve --model M` (params.yaml's serve section) as its own process, answering
    /healthz: yields (the process, its base URL, seconds it took to start); stopped with
    SIGTERM on leaving. `env`: its environment (default: this process's)."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "har.cli", "serve", "--model", str(model),
                               "--port", str(port), "--params", str(ROOT / "params.yaml")],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        started = time.perf_counter()
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"har serve exited: {server.stderr.read().decode()[-2000:]}")
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2).close()
                break
            except OSError:
                if time.perf_counter() - started > 180:
                    raise RuntimeError("har serve did not answer /healthz within 180 s")
                time.sleep(0.2)
        yield server, base, time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stderr.close()


def bench_api(model: Path, clients: int, requests: int) -> dict:
    """Start `har serve` as a process, load it with `clients` threads, read its peak RSS."""
    with har_serve(model) as (server, base, startup_s):
        rss_loaded = peak_rss_mb(server.pid)
        data = CLIP.read_bytes()
        _post(f"{base}/api/predict", data)  # warm-up
        latencies: list[float] = []
        lock = threading.Lock()

        def client():
            for _ in range(requests):
                seconds = _post(f"{base}/api/predict", data)
                with lock:
                    latencies.append(seconds)

        threads = [threading.Thread(target=client) for _ in range(clients)]
        wall = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - wall
        return {"startup_s": startup_s, "latency": _stats(latencies),
                "requests_per_s": len(latencies) / wall, "clients": clients,
                "requests_per_client": requests, "rss_loaded_mb": rss_loaded,
                "rss_peak_mb": peak_rss_mb(server.pid)}


def run(quick: bool = False, repeats: int | None = None, **options) -> dict:
    """options: clients, requests (per client), clip_runs, model (a .pt checkpoint),
    runtime_python (an interpreter of the slim install, for a second whole-process figure)."""
    model = options.pop("model", None)
    runtime_python = options.pop("runtime_python", None)
    cfg, repeats = resolve_config(options, DEFAULTS, QUICK, DEFAULT_REPEATS, QUICK_REPEATS, quick, repeats)
    if not CLIP.is_file():
        raise FileNotFoundError(f"{CLIP}: the benchmark needs ../shared/fixtures beside the project")
    with tempfile.TemporaryDirectory() as tmp:
        if model is None:
            trained = TRAINED.is_file() and not quick
            model = TRAINED if trained else untrained_checkpoint(Path(tmp), small=quick)
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
                    Path(runtime_python), files["onnx"], repeats, CLIP)
            kinds["onnx"]["busy"]["cli_runtime"] = busy.value
    result = {"benchmark": NAME, "quick": quick, "machine": machine,
              "config": {**cfg, "repeats": repeats, "model": str(model), "model_note": note,
                         "runtime_python": str(runtime_python) if runtime_python else None,
                         "onnx_bytes": exported.bytes, "onnx_max_difference": exported.max_difference,
                         "clip": CLIP.name, "threads": 1},
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
        cli, cli_cpu = _cli(Path(sys.executable), path, repeats, CLIP)
    from har.predict import Predictor
    from har.video import read_frames

    with torch_threads(1), OtherLoad() as busy_model:
        Predictor(path)  # warm-up: the imports, first-use allocations
        loads = []
        for _ in range(repeats):
            start = time.perf_counter()
            predictor = Predictor(path, threads=1)
            loads.append(time.perf_counter() - start)
        predictor.predict_file(CLIP)  # warm-up: first-call allocations, file cache
        predicts = []
        for _ in range(repeats):
            start = time.perf_counter()
            predictor.predict_file(CLIP)
            predicts.append(time.perf_counter() - start)
        frames = read_frames(CLIP, predictor.prep.source_frames, predictor.prep.short_side)
        clip = predictor.clip_batch(frames.array)[:1]
        predictor.model.logits(clip)  # warm-up
        inference = []
        for _ in range(cfg["clip_runs"]):
            start = time.perf_counter()
            predictor.model.logits(clip)
            inference.append(time.perf_counter() - start)
    with OtherLoad() as busy_api:
        api = bench_api(path, cfg["clients"], cfg["requests"])
    return {"file": path.name, "arch": predictor.arch, "clip_shape": list(clip.shape[1:]),
            "cli_s": cli, "cli_cpu_s": cli_cpu, "load_s": loads, "predict_s": predicts,
            "inference_s": inference, "api": api,
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
        figure("predict, model loaded", "s", onnx["predict_s"], higher_is_better=False,
               baseline={"name": base, "values": pt["predict_s"]}, busy=onnx["busy"]["model"]),
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
    head = [f"predict benchmark{' (quick)' if result['quick'] else ''}: "
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
