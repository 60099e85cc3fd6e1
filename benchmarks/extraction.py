"""Benchmark: extraction throughput against the decode-only limit and the naive ffmpeg->JPEG pipeline.

What is measured, on the same generated UCF-like clips in one run (320x240 MPEG-4 Part 2
in AVI, 25 fps, 5-10 s each, simple moving shapes over a gradient, made with PyAV):

  ours         har.extract.extract_all with params.yaml's extract settings (24 frames,
               short side extract.short_side, extract.jpeg_quality, extract.workers; 0 = one per
               core): videos per second, one frames file per video written;
  decode-only  PyAV decoding every frame in-process and discarding it, single-threaded
               decoder, in a ThreadPoolExecutor of the same number of workers (extract_all
               uses threads): the limit of any extraction that decodes every frame;
  naive        the ffmpeg command line writing every frame as a JPEG at full size (one
               process per video, default quality, as public CNN+LSTM code does:
               `ffmpeg -i video.avi out/%05d.jpg`), then listing the folder and sampling 24
               frames uniformly; the same number of videos at once.

Each path is timed `--repeats` times, alternating (ours, decode, naive, ours, ...).
Storage per video: our frames file against the same 24 JPEGs (the very bytes our file
holds) as 24 separate files, in apparent bytes and in disk blocks, and against the
naive pipeline's full folder of JPEGs.

Targets (issue 7): ours >= 0.5x decode-only and >= 3x naive; one file per video; bytes
per video at most those of 24 JPEG frames at the same size and quality.

    python -m benchmarks.extraction [--quick] [--repeats N] [--clips N] [--json PATH]

`run(quick, repeats, **options) -> dict` is the entry point for benchmarks.run;
`format_table(result)` renders the table the script prints.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import numpy as np

# benchmarks.common first: it sets TQDM_DISABLE before har.extract imports tqdm (the progress
# bar would garble the table).
from benchmarks.common import (
    OtherLoad, benchmark_parser, disk_usage, figure, figures_table, machine_info, report,
    resolve_config, synthetic_frames, write_avi)
from har.config import load_params
from har.extract import ExtractSettings, extract_all
from har.video import ffmpeg_exe, sample_indices

NAME = "extraction"
DEFAULTS = {"clips": 100, "min_seconds": 5.0, "max_seconds": 10.0, "seed": 0}
QUICK = {"clips": 4, "min_seconds": 1.0, "max_seconds": 1.0}
DEFAULT_REPEATS = 3
QUICK_REPEATS = 1
WIDTH, HEIGHT, FPS = 320, 240, 25
CLASSES = 10

_CLIPS: dict[tuple, Path] = {}  # generated clip folders, kept for the whole run (see clips())
_TMP: list[tempfile.TemporaryDirectory] = []


def make_clip(path: Path, frames: int, seed: int) -> None:
    """One 320x240 MPEG-4 Part 2 AVI of `frames` frames (benchmarks.common.synthetic_frames)."""
    write_avi(path, synthetic_frames(frames, (WIDTH, HEIGHT), seed), (WIDTH, HEIGHT), FPS)


def clips(count: int, min_seconds: float, max_seconds: float, seed: int) -> Path:
    """A folder of `count` UCF-like clips, <Class>/v_<Class>_gNN_cNN.avi, generated once per
    run (per process) and shared by the sections that need them (extraction, scaling)."""
    key = (count, min_seconds, max_seconds, seed)
    if key not in _CLIPS:
        tmp = tempfile.TemporaryDirectory(prefix="har-bench-clips-")
        _TMP.append(tmp)  # removed at interpreter exit
        root = Path(tmp.name) / "videos"
        rng = np.random.default_rng(seed)
        lengths = rng.integers(round(min_seconds * FPS), round(max_seconds * FPS) + 1, count)
        jobs = []
        for i, frames in enumerate(lengths):
            cls = f"Action{i % CLASSES:02d}"
            group, clip = divmod(i // CLASSES, 7)
            jobs.append((root / cls / f"v_{cls}_g{group + 1:02d}_c{clip + 1:02d}.avi", int(frames),
                         seed * 100_003 + i))
        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            list(pool.map(lambda job: make_clip(*job), jobs))
        _CLIPS[key] = root
    return _CLIPS[key]


def videos_in(root: Path) -> list[Path]:
    return sorted(root.rglob("*.avi"))


def extract_settings(workers: int | None = None) -> ExtractSettings:
    cfg = load_params().extract
    return ExtractSettings(cfg.frames, cfg.short_side, cfg.jpeg_quality, cfg.max_failed_fraction,
                           cfg.workers if workers is None else workers)


def resolved_workers(settings: ExtractSettings) -> int:
    return settings.workers or os.cpu_count() or 1  # as extract_all resolves it


def time_ours(root: Path, out: Path, settings: ExtractSettings) -> float:
    """Seconds for extract_all over every video under root into a fresh `out`."""
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    rows = extract_all(root, out / "frames", out / "manifest.csv", settings)
    seconds = time.perf_counter() - start
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        raise RuntimeError(f"extract_all failed on {len(failed)} generated clip(s): {failed[0]['error']}")
    return seconds


def decode_only(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1  # as har.video decodes for extraction
        return sum(1 for _ in container.decode(stream))


def time_decode(videos: list[Path], workers: int) -> tuple[float, int]:
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        frames = sum(pool.map(decode_only, videos))
    return time.perf_counter() - start, frames


def naive_one(video: Path, out: Path, frames: int) -> list[Path]:
    """Public code's way: every frame to a JPEG with the ffmpeg CLI, then sample from the folder."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(video),
                    str(out / "%05d.jpg")], check=True)
    names = sorted(os.listdir(out))
    return [out / names[i] for i in sample_indices(len(names), frames)]


def time_naive(videos: list[Path], out: Path, workers: int, frames: int) -> float:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda iv: naive_one(iv[1], out / f"{iv[0]:05d}", frames), enumerate(videos)))
    return time.perf_counter() - start


def run(quick: bool = False, repeats: int | None = None, **options) -> dict:
    """Run the benchmark; options override DEFAULTS (clips, min_seconds, max_seconds, seed)."""
    cfg, repeats = resolve_config(options, DEFAULTS, QUICK, DEFAULT_REPEATS, QUICK_REPEATS, quick, repeats)
    machine = machine_info()
    start = time.perf_counter()
    root = clips(cfg["clips"], cfg["min_seconds"], cfg["max_seconds"], cfg["seed"])
    generate_s = time.perf_counter() - start
    videos = videos_in(root)
    settings = extract_settings()
    workers = resolved_workers(settings)

    ours, decode, naive = [], [], []
    with tempfile.TemporaryDirectory(prefix="har-bench-extract-") as tmp:
        tmp = Path(tmp)
        with OtherLoad() as load:
            for _ in range(repeats):
                ours.append(time_ours(root, tmp / "ours", settings))
                seconds, decoded = time_decode(videos, workers)
                decode.append(seconds)
                naive.append(time_naive(videos, tmp / "naive", workers, settings.frames))
        # Storage, from the last pass of each path.
        ours_files = sorted((tmp / "ours" / "frames").rglob("*.npz"))
        ours_apparent, ours_disk = disk_usage(ours_files)
        jpeg_dir = tmp / "jpeg24"
        jpeg_files = []
        for i, f in enumerate(ours_files):  # the very JPEGs our file holds, one file each
            with np.load(f) as z:
                jpeg, offsets = z["jpeg"], z["offsets"]
            for k in range(len(offsets) - 1):
                p = jpeg_dir / f"{i:05d}" / f"{k:05d}.jpg"
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(jpeg[offsets[k]:offsets[k + 1]].tobytes())
                jpeg_files.append(p)
        jpeg_apparent, jpeg_disk = disk_usage(jpeg_files)
        naive_files = [p for p in (tmp / "naive").rglob("*.jpg")]
        naive_apparent, naive_disk = disk_usage(naive_files)
        with np.load(ours_files[0]) as z:
            stored_shape = [int(v) for v in z["shape"]]

    n = len(videos)
    rate = lambda seconds: [n / s for s in seconds]  # noqa: E731
    busy = load.value
    per_video = lambda x: x / n  # noqa: E731
    figures = [
        figure("extract vs decode-only limit", "videos/s", rate(ours), busy=busy,
               baseline={"name": "decode-only (PyAV, every frame)", "values": rate(decode)},
               target={"of": "ratio", "op": ">=", "value": 0.5}),
        figure("extract vs naive ffmpeg->JPEG", "videos/s", rate(ours), busy=busy,
               baseline={"name": "naive (ffmpeg CLI, every frame to JPEG, sample 24)",
                         "values": rate(naive)},
               target={"of": "ratio", "op": ">=", "value": 3.0}),
        figure("files per video", "files", [len(ours_files) / n], higher_is_better=False,
               baseline={"name": "naive: one JPEG per frame", "values": [len(naive_files) / n]},
               target={"of": "value", "op": "<=", "value": 1, "unit": "file"}),
        figure("bytes per video vs 24 JPEG files", "bytes", [per_video(ours_apparent)],
               higher_is_better=False,
               baseline={"name": "the same 24 JPEGs as files", "values": [per_video(jpeg_apparent)]},
               target={"of": "ratio", "op": "<=", "value": 1.0},
               note="apparent size: our frames file holds exactly these JPEGs plus the npz "
                    "container (zip headers, offsets, shape)"),
        figure("disk per video vs 24 JPEG files", "bytes", [per_video(ours_disk)],
               higher_is_better=False,
               baseline={"name": "the same 24 JPEGs as files", "values": [per_video(jpeg_disk)]},
               target={"of": "ratio", "op": "<=", "value": 1.0},
               note="allocated filesystem blocks (du): each small file rounds up to a block"),
        figure("disk per video vs naive JPEG set", "bytes", [per_video(ours_disk)],
               higher_is_better=False,
               baseline={"name": "naive: every frame, full size", "values": [per_video(naive_disk)]},
               note="reported, no target"),
    ]
    return {
        "benchmark": NAME, "quick": quick, "machine": machine,
        "config": {**cfg, "repeats": repeats, "workers": workers, "frames": settings.frames,
                   "short_side": settings.short_side, "jpeg_quality": settings.jpeg_quality,
                   "video": f"{WIDTH}x{HEIGHT} mpeg4 AVI {FPS} fps", "ffmpeg": ffmpeg_exe()},
        "inputs": {"videos": n, "frames": decoded, "generate_s": generate_s,
                   "video_bytes": sum(v.stat().st_size for v in videos),
                   "stored_shape": stored_shape},
        "seconds": {"ours": ours, "decode_only": decode, "naive": naive},
        "storage": {"ours_apparent": ours_apparent, "ours_disk": ours_disk,
                    "jpeg24_apparent": jpeg_apparent, "jpeg24_disk": jpeg_disk,
                    "naive_apparent": naive_apparent, "naive_disk": naive_disk,
                    "naive_files": len(naive_files)},
        "figures": figures,
    }


def format_table(result: dict) -> str:
    c, i, m = result["config"], result["inputs"], result["machine"]
    lines = [f"extraction benchmark{' (quick)' if result['quick'] else ''}: {i['videos']} clips "
             f"({c['video']}, {i['frames']} frames in all, {i['video_bytes'] / 1e6:.1f} MB), "
             f"{c['frames']} frames at short side {c.get('short_side', c.get('size'))}, JPEG quality {c['jpeg_quality']}, "
             f"{c['workers']} workers, {c['repeats']} repeat(s)",
             f"machine: {m['cpu']}, {m['cores']} cores", "",
             figures_table(result["figures"])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(NAME, __doc__, "4 clips of 1 s: checks that it runs",
                              f"default {DEFAULT_REPEATS}, quick {QUICK_REPEATS}")
    parser.add_argument("--clips", type=int, help=f"default {DEFAULTS['clips']}")
    args = parser.parse_args(argv)
    result = run(args.quick, args.repeats, clips=args.clips)
    return report(result, format_table, args.json)


if __name__ == "__main__":
    sys.exit(main())
