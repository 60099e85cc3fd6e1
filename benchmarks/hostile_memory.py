"""Peak memory (RSS) of extracting and predicting one video: hostile frame sizes beside a normal clip.

Each measurement is a fresh process (the extract stage's per-video code, `extract_one`,
or the `har predict` command), its peak RSS read from the kernel when it exits (wait4),
so nothing from another measurement counts. Inputs, built here with PyAV:

  normal      the UCF101 fixture clip, 320x240 MPEG-4: the baseline
  thin        4096x2 H.264 (the issue's 2.4 KB file): refused by the pixel budget (aspect)
  huge        8000x8000 H.264: refused by the pixel budget (pixels)
  worst_ok    4096x2160 H.264 with 16 reference frames: the largest frames the budget
              accepts, with the most frames an H.264 decoder may hold; the bound for any input

Then the server: `har serve --model M` (params.yaml's serve section) as its own process,
its RSS read after loading (the baseline) and after one valid upload, then a fuzz of bad
uploads sent by `--fuzz-threads` client threads at once, `--fuzz-rounds` rounds of the kinds
in `fuzz_uploads` (the inputs above, truncated and corrupted files, random bytes with video
extensions, empty files, a valid clip with a wrong extension, an upload over max_upload_mb),
shuffled, in two passes: its RSS (VmRSS) after each pass and its peak (VmHWM) at the end.
Every answer must be JSON, 4xx naming the upload (a 413 cannot: the body is refused by its
length, unread) or 200 with a prediction; a 5xx, anything else, or no answer is a failure.

Usage: python -m benchmarks.hostile_memory [--quick] [--json out.json]
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from benchmarks.common import benchmark_parser, machine_info, report, resolve_config

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared" / "fixtures" / "videos" / "mmaction2__tests_data__test.avi"
NAME = "hostile_memory"
# worst_frames: the 4096x2160 clip, a second at 25 fps. fuzz_rounds x 19 bad uploads.
DEFAULTS = {"worst_frames": 25, "huge_frames": 2, "fuzz_rounds": 16, "fuzz_threads": 8}
QUICK = {"worst_frames": 2, "huge_frames": 1, "fuzz_rounds": 2, "fuzz_threads": 8}
DEFAULT_REPEATS = 1  # peak memory does not vary between runs of one input
QUICK_REPEATS = 1

# The child reports its own VmHWM: getrusage's ru_maxrss survives exec, so it would count the
# memory of this (forked) process too; VmHWM belongs to the new program's memory alone.
CHILD = """
import sys
from pathlib import Path
code = 0
try:
    if sys.argv[1] == "extract":
        from har.config import load_params
        from har.extract import ExtractSettings, extract_one
        e = load_params(sys.argv[4]).extract
        video = Path(sys.argv[2])
        row = extract_one(video, video.parent, Path(sys.argv[3]),
                          ExtractSettings(e.frames, e.short_side, e.jpeg_quality, 1.0, 1))
        print("STATUS", row["status"], row["error"], sep="\\t")
    else:
        from har.cli import main
        code = main(sys.argv[2:])
finally:
    status = Path("/proc/self/status").read_text().splitlines()
    print("VMHWM", next(l.split()[1] for l in status if l.startswith("VmHWM:")), file=sys.stderr)
sys.exit(code)
"""


def write_h264(path: Path, width: int, height: int, frames: int, refs: int = 1) -> Path:
    """`frames` frames of moving noise (so every reference frame is really used)."""
    rng = np.random.default_rng(0)
    tile = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "x264-params": f"ref={refs}"}
        for i in range(frames):
            reps = (-(-height // 64), -(-width // 64), 1)
            rgb = np.roll(np.tile(tile, reps)[:height, :width], 4 * i, axis=1)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def peak_rss(args: list[str]) -> tuple[float, int, list[str]]:
    """(peak RSS in MB, exit status, output lines) of CHILD run with `args`."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    proc = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True,
                          env=env, cwd=ROOT)
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    kb = next(int(line.split()[1]) for line in lines if line.startswith("VMHWM"))
    return kb / 1024, proc.returncode, [line for line in lines if not line.startswith("VMHWM")]


def measure(name: str, video: Path, model: Path, work: Path) -> dict:
    rss, code, lines = peak_rss(["extract", str(video), str(work / "frames"),
                                 str(ROOT / "params.yaml")])
    row = next((line.split("\t") for line in lines if line.startswith("STATUS")), None)
    extract = {"peak_rss_mb": round(rss, 1), "status": row[1] if row else f"crashed ({code})",
               "error": row[2][-300:] if row else "\n".join(lines[-5:])}
    rss, code, lines = peak_rss(["predict", "predict", str(video), "--model", str(model)])
    predict = {"peak_rss_mb": round(rss, 1), "exit": code,
               "traceback": any("Traceback" in line for line in lines),
               "message": lines[-1][-300:] if lines else ""}
    return {"input": name, "bytes": video.stat().st_size, "extract": extract, "predict": predict}


def fuzz_uploads(inputs: dict[str, Path], max_upload_mb: float, rounds: int,
                 seed: int = 0) -> list[tuple[str, bytes]]:
    """(file name, bytes) of `rounds` rounds of bad uploads, shuffled; the random kinds differ
    between rounds. The file name an upload is sent as names its kind in the results."""
    rng = random.Random(seed)
    normal, thin, huge, worst = (inputs[k].read_bytes() for k in ("normal", "thin", "huge", "worst_ok"))
    oversize = os.urandom(int(max_upload_mb * 1024 * 1024) + 1024 * 1024)  # 1 MB over the limit
    uploads = []
    for _ in range(rounds):
        noise = rng.randbytes
        flipped = bytearray(normal)
        for i in rng.sample(range(len(normal) // 8, len(normal)), 200):
            flipped[i] = rng.randrange(256)
        kinds = {
            "thin.mp4": thin,  # 4096x2 H.264: refused by its aspect ratio
            "huge.mp4": huge,  # 8000x8000 H.264: refused by the pixel budget
            "worst_ok.mp4": worst,  # 4096x2160, 16 references: accepted, the costliest decode
            "cut_clip.avi": normal[:len(normal) // 3],  # truncated files
            "cut_header.avi": normal[:4096],
            "cut_worst.mp4": worst[:len(worst) // 2],
            "cut_thin.mp4": thin[:600],
            "garbage.avi": noise(64 * 1024),  # random bytes with video extensions
            "garbage.mp4": noise(1024 * 1024),
            "garbage.mkv": noise(4096),
            "garbage.mov": noise(256 * 1024),
            "worst_head_noise.mp4": worst[:2048] + noise(2 * 1024 * 1024),  # a valid header, then noise
            "flipped.avi": bytes(flipped),  # 200 bytes of a valid clip changed
            "empty.avi": b"",
            "empty.mp4": b"",
            "clip.txt": normal,  # a valid clip with a wrong extension: predicted (decoded, not named)
            "clip.jpg": normal,
            "no_extension": normal[: len(normal) // 2],
            "oversize.mp4": oversize,  # over max_upload_mb: 413
        }
        uploads += kinds.items()
    rng.shuffle(uploads)
    return uploads


def answer(url: str, filename: str, data: bytes) -> dict:
    """POST one upload; its status, whether the answer was JSON and what it says."""
    from benchmarks.predict import upload_request

    request = upload_request(url, data, filename, "application/octet-stream")
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            status, body, kind = response.status, response.read(), response.headers.get_content_type()
    except urllib.error.HTTPError as e:
        status, body, kind = e.code, e.read(), e.headers.get_content_type()
    except OSError as e:  # no answer at all: a crash, a reset connection, a timeout
        return {"status": None, "json": False, "ok": False, "problem": f"no answer: {e!r}"[:300]}
    try:
        text = json.loads(body) if kind == "application/json" else None
    except ValueError:
        text = None
    row = {"status": status, "json": isinstance(text, dict)}
    if not row["json"]:
        problem = f"{status} {kind}, not JSON: {body[:200]!r}"
    elif status == 200:
        problem = None if text.get("topk") else f"200 without a prediction: {str(text)[:200]}"
    elif 400 <= status < 500:
        message = str(text.get("error", ""))
        row["error"] = message[:300]
        named = filename in message or status == 413  # a 413 is refused unread: no name to give
        problem = None if named else f"{status} does not name {filename}: {message[:200]}"
    else:
        problem = f"{status}: {str(text)[:200]}"
    return {**row, "ok": problem is None, "problem": problem}


def bench_server(model: Path, inputs: dict[str, Path], rounds: int, threads: int) -> dict:
    """`har serve`'s RSS after loading, after one valid upload and after each of two passes of
    the fuzz (VmRSS), its peak (VmHWM), and every answer judged by `answer`."""
    from benchmarks.predict import har_serve, peak_rss_mb

    from har.config import load_params

    settings = load_params(ROOT / "params.yaml").serve
    uploads = fuzz_uploads(inputs, settings.max_upload_mb, rounds)
    half = len(uploads) // 2 if rounds > 1 else len(uploads)
    passes = [uploads[:half], uploads[half:]] if half < len(uploads) else [uploads]
    with har_serve(model) as (server, base, startup_s):
        url = f"{base}/api/predict"
        rss = {"loaded": peak_rss_mb(server.pid, "VmRSS")}
        first = answer(url, "warmup.avi", inputs["normal"].read_bytes())
        if not first["ok"]:
            raise RuntimeError(f"har serve refused a valid clip: {first['problem']}")
        rss["after_valid"] = peak_rss_mb(server.pid, "VmRSS")
        answers: list[tuple[str, dict]] = []
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            for i, sent in enumerate(passes, 1):
                answers += zip([name for name, _ in sent],
                               pool.map(lambda upload: answer(url, *upload), sent))
                rss[f"after_pass{i}"] = peak_rss_mb(server.pid, "VmRSS")
        wall = time.perf_counter() - started
        rss["after_fuzz"] = rss[f"after_pass{len(passes)}"]
        rss["peak"] = peak_rss_mb(server.pid, "VmHWM")
        alive = server.poll() is None
    kinds: dict[str, dict] = {}
    for kind, a in answers:
        k = kinds.setdefault(kind, {"sent": 0, "statuses": Counter(), "failures": 0, "error": None})
        k["sent"] += 1
        k["error"] = k["error"] or a.get("error")  # the first refusal's message, for the JSON
        k["statuses"][str(a["status"])] += 1
        k["failures"] += not a["ok"]
    problems = [f"{kind}: {a['problem']}" for kind, a in answers if not a["ok"]]
    return {"requests": len(answers), "client_threads": threads, "server_threads": settings.threads,
            "max_upload_mb": settings.max_upload_mb, "decode_timeout_s": settings.decode_timeout_s,
            "startup_s": round(startup_s, 2), "fuzz_s": round(wall, 1), "passes": len(passes),
            "rss_mb": {k: None if v is None else round(v, 1) for k, v in rss.items()},
            "server_5xx": sum(1 for _, a in answers if (a["status"] or 0) >= 500),
            "no_answer": sum(1 for _, a in answers if a["status"] is None),
            "not_json": sum(1 for _, a in answers if a["status"] is not None and not a["json"]),
            "failures": len(problems), "problems": problems[:50], "server_alive": alive,
            "kinds": {k: {**v, "statuses": dict(sorted(v["statuses"].items()))}
                      for k, v in sorted(kinds.items())}}


def run(quick: bool = False, repeats: int | None = None, **options) -> dict:
    from benchmarks.predict import untrained_checkpoint  # params.yaml's cnn3d

    from har.video import MAX_ASPECT, MAX_PIXELS

    cfg, _ = resolve_config(options, DEFAULTS, QUICK, DEFAULT_REPEATS, QUICK_REPEATS, quick, repeats)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = untrained_checkpoint(tmp / "models", small=False)
        inputs = {"normal": CLIP,
                  "thin": write_h264(tmp / "thin.mp4", 4096, 2, 25),
                  "huge": write_h264(tmp / "huge.mp4", 8000, 8000, cfg["huge_frames"]),
                  "worst_ok": write_h264(tmp / "worst_ok.mp4", 4096, 2160, cfg["worst_frames"],
                                         refs=16)}
        rows = [measure(name, path, model, tmp / name) for name, path in inputs.items()]
        server = bench_server(model, inputs, cfg["fuzz_rounds"], cfg["fuzz_threads"])
    return {"benchmark": NAME, "quick": quick, "config": cfg, "machine": machine_info(),
            "budget": {"max_pixels": MAX_PIXELS, "max_aspect": MAX_ASPECT}, "rows": rows,
            "server": server}


def format_table(result: dict) -> str:
    base = result["rows"][0]
    lines = [f"Peak RSS of one video, fresh process each (pixel budget {result['budget']['max_pixels']:,} "
             f"pixels, aspect up to {result['budget']['max_aspect']:g}:1)",
             "| input | bytes | extract MB | x normal | extract | predict MB | x normal | predict exit |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        e, p = r["extract"], r["predict"]
        lines.append(f"| {r['input']} | {r['bytes']:,} | {e['peak_rss_mb']:.0f} | "
                     f"{e['peak_rss_mb'] / base['extract']['peak_rss_mb']:.2f} | {e['status']} | "
                     f"{p['peak_rss_mb']:.0f} | {p['peak_rss_mb'] / base['predict']['peak_rss_mb']:.2f} | "
                     f"{p['exit']}{' (traceback!)' if p['traceback'] else ''} |")
    return "\n".join(lines + [""] + server_table(result))


def server_table(result: dict) -> list[str]:
    s = result.get("server")
    if not s:
        return []
    rss = s["rss_mb"]
    base = rss["loaded"]
    rows = {r["input"]: r["extract"]["peak_rss_mb"] for r in result["rows"]}
    # What the costliest input's decode adds to a process (the table above), times the requests
    # the server handles at once.
    costliest = max(rows, key=rows.get)
    per_decode = rows[costliest] - rows["normal"]
    lines = [f"har serve (untrained default cnn3d) under {s['requests']} bad uploads, "
             f"{s['client_threads']} client threads, {s['server_threads']} server threads, "
             f"{s['fuzz_s']:.0f} s",
             "| upload | sent | answers (status x count) | failures |", "|---|---|---|---|"]
    for kind, k in s["kinds"].items():
        answers = ", ".join(f"{status} x{n}" for status, n in k["statuses"].items())
        lines.append(f"| {kind} | {k['sent']} | {answers} | {k['failures']} |")
    lines += ["", "| server RSS | MB | vs after load |", "|---|---|---|"]
    labels = {"loaded": "after load (baseline)", "after_valid": "after one valid upload",
              "after_pass1": "after the fuzz's first half", "after_pass2": "after the fuzz",
              "peak": "peak (VmHWM)"}
    if s["passes"] == 1:
        labels["after_pass1"] = "after the fuzz"
    for key, label in labels.items():
        if rss.get(key) is not None:
            lines.append(f"| {label} | {rss[key]:.0f} | {rss[key] - base:+.0f} |")
    lines.append(f"expected peak: after load + {s['server_threads']} server threads x "
                 f"{per_decode:.0f} MB ({costliest} - normal, extract above) = "
                 f"{base + s['server_threads'] * per_decode:.0f} MB")
    lines.append(f"failures (5xx, not JSON, no answer, a 4xx not naming the upload): {s['failures']}"
                 f" ({s['server_5xx']} 5xx); server {'alive' if s['server_alive'] else 'DEAD'} after")
    lines += [f"  FAILED {p}" for p in s["problems"]]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(NAME, __doc__,
                              "2 frames of 4096x2160 instead of 25, 1 of 8000x8000",
                              "ignored: peak memory is measured once per input")
    parser.add_argument("--worst-frames", type=int, help="frames of the 4096x2160 clip")
    parser.add_argument("--huge-frames", type=int, help="frames of the 8000x8000 clip")
    parser.add_argument("--fuzz-rounds", type=int,
                        help=f"rounds of bad uploads sent to har serve (default "
                             f"{DEFAULTS['fuzz_rounds']}, quick {QUICK['fuzz_rounds']})")
    parser.add_argument("--fuzz-threads", type=int,
                        help=f"uploads sent at once (default {DEFAULTS['fuzz_threads']})")
    args = parser.parse_args(argv)
    return report(run(args.quick, args.repeats, worst_frames=args.worst_frames,
                      huge_frames=args.huge_frames, fuzz_rounds=args.fuzz_rounds,
                      fuzz_threads=args.fuzz_threads),
                  format_table, args.json)


if __name__ == "__main__":
    sys.exit(main())
