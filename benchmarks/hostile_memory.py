"""Peak memory (RSS) of extracting and predicting one video: hostile frame sizes beside a normal clip.

Each measurement is a fresh process (the extract stage's per-video code, `extract_one`,
or the `har predict` command), its peak RSS read from the kernel when it exits (wait4),
so nothing from another measurement counts. Inputs, built here with PyAV:

  normal      the UCF101 fixture clip, 320x240 MPEG-4: the baseline
  thin        4096x2 H.264 (the issue's 2.4 KB file): refused by the pixel budget (aspect)
  huge        8000x8000 H.264: refused by the pixel budget (pixels)
  worst_ok    4096x2160 H.264 with 16 reference frames: the largest frames the budget
              accepts, with the most frames an H.264 decoder may hold; the bound for any input

Usage: python benchmarks/hostile_memory.py [--quick] [--json out.json]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/common.py
from common import benchmark_parser, machine_info, report, resolve_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared" / "fixtures" / "videos" / "mmaction2__tests_data__test.avi"
NAME = "hostile_memory"
DEFAULTS = {"worst_frames": 25, "huge_frames": 2}  # the 4096x2160 clip: a second at 25 fps
QUICK = {"worst_frames": 2, "huge_frames": 1}
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


def run(quick: bool = False, repeats: int | None = None, **options) -> dict:
    from predict import untrained_checkpoint  # benchmarks/predict.py: params.yaml's cnn3d

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
    return {"benchmark": NAME, "quick": quick, "config": cfg, "machine": machine_info(),
            "budget": {"max_pixels": MAX_PIXELS, "max_aspect": MAX_ASPECT}, "rows": rows}


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
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(__doc__, "2 frames of 4096x2160 instead of 25, 1 of 8000x8000",
                              "ignored: peak memory is measured once per input")
    parser.add_argument("--worst-frames", type=int, help="frames of the 4096x2160 clip")
    parser.add_argument("--huge-frames", type=int, help="frames of the 8000x8000 clip")
    args = parser.parse_args(argv)
    return report(run(args.quick, args.repeats, worst_frames=args.worst_frames,
                      huge_frames=args.huge_frames),
                  format_table, args.json)


if __name__ == "__main__":
    sys.exit(main())
