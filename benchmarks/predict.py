"""Benchmark: `har predict` latency, `har serve` latency under 8 concurrent clients, and its peak RSS.

What is measured, on the UCF101 fixture clip (../shared/fixtures/videos/
mmaction2__tests_data__test.avi, 320x240 XviD AVI, 164 frames):

  cli        wall time of a whole `har predict CLIP --model M` process: Python start,
             imports, checkpoint load, decode, inference (what a user waits for);
  load       Predictor(M) in a running process: checkpoint read and model rebuilt;
  predict    Predictor.predict_file(CLIP) with the model loaded: decode, JPEG round
             trip, eval.clips clips, inference (the first call is a warm-up, not timed);
  api        `har serve --model M` started as its own process (waitress, params.yaml's
             serve section), then `--clients` threads each POST the clip `--requests`
             times to /api/predict: p50 / p95 / max latency and requests per second;
  rss        the server's peak resident memory (VmHWM) after loading, and after the load test.

Model: --model, else models/cnn3d/seed0/model.pt from `dvc repro`, else an untrained cnn3d
with params.yaml's options (the same latency: weights do not change the work). --quick
always uses a small untrained cnn3d and few requests: it checks that the script runs.

Run (from the project root, with the dev venv):

    python -m benchmarks.predict                  # ~1 min on 2 cores
    python -m benchmarks.predict --quick          # checks that it runs
    python -m benchmarks.predict --json out.json  # also write the result as JSON

`run(quick, repeats, **options) -> dict` is the entry point for a runner of all benchmarks.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
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
    BUSY_CPU, benchmark_parser, cpu_busy, report, resolve_config, torch_threads)

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared" / "fixtures" / "videos" / "mmaction2__tests_data__test.avi"
TRAINED = ROOT / "models" / "cnn3d" / "seed0" / "model.pt"
NAME = "predict"
DEFAULTS = {"clients": 8, "requests": 25}  # requests per client
QUICK = {"clients": 8, "requests": 2}
DEFAULT_REPEATS = 5
QUICK_REPEATS = 2


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
    """Run the benchmark; options: clients, requests (per client), model (a checkpoint path)."""
    model = options.pop("model", None)
    cfg, repeats = resolve_config(options, DEFAULTS, QUICK, DEFAULT_REPEATS, QUICK_REPEATS, quick, repeats)
    if not CLIP.is_file():
        raise FileNotFoundError(f"{CLIP}: the benchmark needs ../shared/fixtures beside the project")
    with tempfile.TemporaryDirectory() as tmp:
        if model is None:
            trained = TRAINED.is_file() and not quick
            model = TRAINED if trained else untrained_checkpoint(Path(tmp), small=quick)
            model_note = "trained (dvc repro)" if trained else "untrained" + (", small" if quick else "")
        else:
            model, model_note = Path(model), "given"
        return _run(quick, repeats, cfg, Path(model), model_note)


def _run(quick: bool, repeats: int, cfg: dict, model: Path, model_note: str) -> dict:
    machine = {"cpu_busy_before": cpu_busy(), "cores": os.cpu_count(), "torch": torch.__version__,
               "python": platform.python_version(),
               "loadavg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}
    cli = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "har.cli", "predict", str(CLIP), "--model", str(model)],
                       cwd=ROOT, check=True, capture_output=True)
        cli.append(time.perf_counter() - start)
    loads, predicts = [], []
    with torch_threads(1):  # as `har predict` (--threads 1) and `har serve` run
        predictor, prediction = _in_process(model, repeats, loads, predicts)
    return {"benchmark": NAME, "quick": quick, "machine": machine,
            "config": {**cfg, "repeats": repeats, "model": str(model), "model_note": model_note,
                       "arch": predictor.arch, "clips": predictor.clips,
                       "frames_used": prediction.frames_used, "clip": CLIP.name, "torch_threads": 1},
            "cli": _stats(cli), "load": _stats(loads), "predict": _stats(predicts),
            "api": bench_api(model, cfg["clients"], cfg["requests"])}


def _in_process(model: Path, repeats: int, loads: list[float], predicts: list[float]):
    from har.predict import Predictor

    for _ in range(repeats):
        start = time.perf_counter()
        predictor = Predictor(model)
        loads.append(time.perf_counter() - start)
    predictor.predict_file(CLIP)  # warm-up: first-call allocations, file cache
    for _ in range(repeats):
        start = time.perf_counter()
        prediction = predictor.predict_file(CLIP)
        predicts.append(time.perf_counter() - start)
    return predictor, prediction


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:.0f} ms"


def format_table(result: dict) -> str:
    c, m, api = result["config"], result["machine"], result["api"]
    busy = m["cpu_busy_before"]
    lines = [
        f"predict benchmark{' (quick)' if result['quick'] else ''}: {c['arch']} ({c['model_note']}), "
        f"{c['clip']}, {c['clips']} clips, {c['frames_used']} frames, {c['repeats']} repeats",
        f"machine: {m['cores']} cores, torch {m['torch']}, CPU "
        f"{'?' if busy is None else f'{100 * busy:.0f}%'} busy just before the run",
    ]
    if busy is not None and busy >= BUSY_CPU:
        lines.append("WARNING: other processes were using the CPU: the timings are not reliable")
    lines += ["", f"{'':<40}{'median':>10}{'min':>10}{'max':>10}"]
    for key, label in (("cli", "har predict, whole process"), ("load", "checkpoint load (in process)"),
                       ("predict", "predict, model loaded")):
        s = result[key]
        lines.append(f"{label:<40}{_ms(s['median_s']):>10}{_ms(s['min_s']):>10}{_ms(s['max_s']):>10}")
    lat = api["latency"]
    lines += [
        "",
        f"har serve, {api['clients']} clients x {api['requests_per_client']} uploads: "
        f"p50 {_ms(lat['median_s'])}, p95 {_ms(lat['p95_s'])}, max {_ms(lat['max_s'])}, "
        f"{api['requests_per_s']:.1f} requests/s (start-up {api['startup_s']:.1f} s)",
        f"har serve peak RSS: {api['rss_loaded_mb']:.0f} MB loaded, {api['rss_peak_mb']:.0f} MB "
        "after the load test" if api["rss_peak_mb"] is not None else "peak RSS: not available here",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(NAME, __doc__, "small model, few requests: checks that it runs",
                              f"default {DEFAULT_REPEATS}, quick {QUICK_REPEATS}")
    parser.add_argument("--model", type=Path, help="a checkpoint (default: models/cnn3d/seed0/model.pt)")
    parser.add_argument("--clients", type=int, help=f"default {DEFAULTS['clients']}")
    parser.add_argument("--requests", type=int, help=f"per client, default {DEFAULTS['requests']} "
                                                     f"(quick {QUICK['requests']})")
    args = parser.parse_args(argv)
    result = run(args.quick, args.repeats, model=args.model, clients=args.clients,
                 requests=args.requests)
    return report(result, format_table, args.json)


if __name__ == "__main__":
    sys.exit(main())
