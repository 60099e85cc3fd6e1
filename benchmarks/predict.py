"""Benchmark: `har predict` and `har serve` with the same model as .pt on torch and as .onnx
on ONNX Runtime (written by `har export` in the run), each .onnx figure beside its .pt
baseline, on the UCF101 fixture clip (../shared/fixtures/videos/mmaction2__tests_data__test.avi):
a whole `har predict` process (wall time, and CPU time, which other processes disturb far
less), the model's load and predict_file in a running process, one clip's forward pass on one
thread (as `har predict` and `har serve` run), and `har serve` as its own process under
`--clients` concurrent uploads (p50, p95, its peak RSS loaded and after the load).

`--runtime-python PY` (a venv of requirements-runtime.txt) also times the .onnx `har predict`
with that interpreter: the deployment's own install. Model: --model, else
models/cnn3d/seed0/model.pt from `dvc repro`, else an untrained cnn3d (the same work);
--quick: a small untrained one. Targets (issue 15): whole-process .onnx predict <= 0.6 s,
serve RSS <= 200 MB, inference no slower than torch. `--architectures [NAME ...]` instead
exports every registered architecture (or those named) at its smallest input.

    python -m benchmarks.predict                  # ~2 min on 2 cores
    python -m benchmarks.predict --architectures  # ~15 min on 2 cores (mvit_v2_s: 5)
"""

from __future__ import annotations

import json
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path

from benchmarks.common import (
    OtherLoad, benchmark_parser, figure, figures_table, machine_info, report, resolve_config,
    torch_threads)

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared" / "fixtures" / "videos" / "mmaction2__tests_data__test.avi"
TRAINED = ROOT / "models" / "cnn3d" / "seed0" / "model.pt"
NAME = "predict"
DEFAULTS = {"clients": 8, "requests": 25, "clip_runs": 50}  # requests per client
QUICK = {"clients": 8, "requests": 1, "clip_runs": 5}
DEFAULT_REPEATS, QUICK_REPEATS = 5, 1
BASELINE = ".pt on torch"
TARGET_CLI_S, TARGET_RSS_MB = 0.6, 200


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM (peak RSS) of a process in MB (Linux); None elsewhere."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def checkpoint(path: Path, arch: str, config: dict, prep, classes: list[str]) -> Path:
    """A checkpoint in the train stage's format (har.checkpoint), with random weights."""
    from har.checkpoint import write_checkpoint
    from har.models import create_model

    model = create_model(arch, len(classes), prep.frames, prep.crop, **config)
    path.parent.mkdir(parents=True)
    write_checkpoint(path, model_name=arch, arch=arch, model_config=config, class_names=classes,
                     preprocessing=prep, weights=model)
    return path


def untrained_cnn3d(folder: Path, small: bool) -> Path:
    """cnn3d with params.yaml's preprocessing and options (small: tiny layers), random weights."""
    from har.config import load_params
    from har.data import Preprocessing

    params = load_params(ROOT / "params.yaml")
    config = {"channels": [8, 16], "fc": [32, 32]} if small else params.model("cnn3d").model
    return checkpoint(folder / "cnn3d" / "model.pt", "cnn3d", config,
                      Preprocessing.for_model(params, "cnn3d"), [f"class{i}" for i in range(8)])


def _stats(times: list[float]) -> dict:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"n": len(times), "median_s": statistics.median(times), "min_s": ordered[0],
            "max_s": ordered[-1], "p95_s": p95}


def _seconds(call, n: int) -> list[float]:
    """Wall seconds of each of n calls of call()."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def _post(url: str, data: bytes) -> float:
    """Seconds until /api/predict answers `data` uploaded as a browser uploads a file."""
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="clip.avi"'
            f"\r\nContent-Type: video/x-msvideo\r\n\r\n").encode() + data \
        + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, data=body, headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        json.loads(response.read())
    return time.perf_counter() - start


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_api(model: Path, clients: int, requests: int) -> dict:
    """`har serve --model M` (params.yaml's serve section) as its own process: the seconds until
    it answers /healthz, `clients` threads each POSTing the clip `requests` times, its peak
    RSS; stopped with SIGTERM (its upload folder goes with it)."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "har.cli", "serve", "--model", str(model),
                               "--port", str(port), "--params", str(ROOT / "params.yaml")],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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
        startup_s = time.perf_counter() - started
        rss_loaded = peak_rss_mb(server.pid)
        data = CLIP.read_bytes()
        _post(f"{base}/api/predict", data)  # warm-up
        wall = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:  # `clients` requests in flight at any time
            latencies = list(pool.map(lambda _: _post(f"{base}/api/predict", data),
                                      range(clients * requests)))
        wall = time.perf_counter() - wall
        return {"startup_s": startup_s, "latency": _stats(latencies),
                "requests_per_s": len(latencies) / wall, "clients": clients,
                "requests_per_client": requests, "rss_loaded_mb": rss_loaded,
                "rss_peak_mb": peak_rss_mb(server.pid)}
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stderr.close()


def run(quick: bool = False, repeats: int | None = None, **options) -> dict:
    """options: clients, requests (per client), clip_runs, model (a .pt checkpoint),
    runtime_python (an interpreter of the slim install, for a second whole-process figure)."""
    model = options.pop("model", None)
    runtime_python = options.pop("runtime_python", None)
    cfg, repeats = resolve_config(options, DEFAULTS, QUICK, DEFAULT_REPEATS, QUICK_REPEATS, quick,
                                  repeats)
    if not CLIP.is_file():
        raise FileNotFoundError(f"{CLIP}: the benchmark needs ../shared/fixtures beside the project")
    with tempfile.TemporaryDirectory() as tmp:
        if model is None:
            trained = TRAINED.is_file() and not quick
            model = TRAINED if trained else untrained_cnn3d(Path(tmp), small=quick)
            note = "trained (dvc repro)" if trained else "untrained" + (", small" if quick else "")
        else:
            note = "given"
        from har.onnx_export import export_onnx

        exported = export_onnx(model, Path(tmp) / "model.onnx")
        files = {"torch": Path(model), "onnx": exported.path}
        machine = {**machine_info(), "onnxruntime": version("onnxruntime")}
        kinds = {kind: _measure(path, repeats, cfg) for kind, path in files.items()}
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
        loads = _seconds(lambda: Predictor(path, threads=1), repeats)
        predictor = Predictor(path, threads=1)
        predictor.predict_file(CLIP)  # warm-up: first-call allocations, file cache
        predicts = _seconds(lambda: predictor.predict_file(CLIP), repeats)
        frames = read_frames(CLIP, predictor.prep.source_frames, predictor.prep.short_side)
        clip = predictor.clip_batch(frames.array)[:1]
        predictor.model.logits(clip)  # warm-up
        inference = _seconds(lambda: predictor.model.logits(clip), cfg["clip_runs"])
    with OtherLoad() as busy_api:
        api = bench_api(path, cfg["clients"], cfg["requests"])
    return {"file": path.name, "arch": predictor.arch, "clip_shape": list(clip.shape[1:]),
            "cli_s": cli, "cli_cpu_s": cli_cpu, "load_s": loads, "predict_s": predicts,
            "inference_s": inference, "api": api,
            "busy": {"cli": busy_cli.value, "model": busy_model.value, "api": busy_api.value}}


def figures(result: dict) -> list[dict]:
    """The .onnx figures, each beside the .pt one (baseline) of the same run."""
    pt, onnx = result["kinds"]["torch"], result["kinds"]["onnx"]

    def vs(name, unit, ours, theirs, busy=None, scale=1, **kw):
        return figure(name, unit, [scale * v for v in ours], higher_is_better=False,
                      busy=busy and onnx["busy"][busy],
                      baseline={"name": BASELINE, "values": [scale * v for v in theirs]}, **kw)

    cli_target = {"of": "value", "op": "<=", "value": TARGET_CLI_S, "unit": "s"}
    out = [vs("har predict, whole process", "s", onnx["cli_s"], pt["cli_s"], "cli",
              target=cli_target),
           vs("har predict, whole process, CPU time", "s", onnx["cli_cpu_s"], pt["cli_cpu_s"],
              "cli", note="user + system: the work, whatever else runs")]
    if "cli_runtime_s" in onnx:
        out += [vs("har predict, whole process, slim venv", "s", onnx["cli_runtime_s"],
                   pt["cli_s"], "cli_runtime", target=cli_target,
                   note="requirements-runtime.txt only"),
                vs("har predict, whole process, slim venv, CPU", "s", onnx["cli_runtime_cpu_s"],
                   pt["cli_cpu_s"], "cli_runtime")]
    out += [vs("model load (imports done)", "s", onnx["load_s"], pt["load_s"], "model"),
            vs("predict, model loaded", "s", onnx["predict_s"], pt["predict_s"], "model"),
            vs("inference, one clip, 1 thread", "ms", onnx["inference_s"], pt["inference_s"],
               "model", scale=1000, target={"of": "ratio", "op": "<=", "value": 1.0})]
    api, pt_api = onnx["api"], pt["api"]
    for key, label in (("median_s", "p50"), ("p95_s", "p95")):
        out.append(vs(f"har serve {label}, {api['clients']} clients", "ms",
                      [api["latency"][key]], [pt_api["latency"][key]], "api", scale=1000))
    rss_target = {"of": "value", "op": "<=", "value": TARGET_RSS_MB, "unit": "MB"}
    for key, label, target in (("rss_loaded_mb", "har serve RSS, model loaded", rss_target),
                               ("rss_peak_mb", "har serve peak RSS, after the load", None)):
        out.append(figure(label, "MB", None, skipped="no /proc here") if api[key] is None
                   else vs(label, "MB", [api[key]], [pt_api[key]], target=target))
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
    from har.data import Preprocessing
    from har.models import get_entry, list_models
    from har.onnx_export import export_onnx

    rows = []
    with tempfile.TemporaryDirectory() as tmp, torch_threads(1):
        for name in names or list_models():
            entry = get_entry(name)
            frames, side = entry.fixed_input or entry.min_input
            prep = Preprocessing(frames, side, frames, side, entry.mean, entry.std, entry.layout,
                                 False)
            path = checkpoint(Path(tmp) / name / "model.pt", name, {}, prep, list("abcde"))
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
    parser.add_argument("--model", type=Path,
                        help="a .pt checkpoint (default: models/cnn3d/seed0/model.pt)")
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
