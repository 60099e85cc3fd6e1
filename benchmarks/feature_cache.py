"""Benchmark: training epoch time with a fully frozen encoder, live versus from the feature cache.

What is measured, on the same generated videos in one run:

  live    the time of one `train_one_epoch` of the full model over ClipDataset
          (frames file -> JPEG decode -> crop/normalise -> frozen ResNet -> head),
          i.e. the frozen encoder recomputed every epoch, as public CNN+LSTM code does;
  cached  the time of one `train_one_epoch` of FeatureHead(model) over
          FeatureClipDataset on the cache (the same head, fed stored encoder outputs);
  build   the one-time cost of `write_cache` over every stored frame of every train
          video (what the features@<model> stage does for the train split);
  break-even  the smallest whole number of epochs E with build + E * cached <= E * live.

Each epoch's wall time is reported as median, min and max over `--repeats` epochs,
with the median CPU time of the process beside it (all its threads; with
--workers 0 it counts the data loading too, and it is less disturbed than wall
time when other processes share the cores, most of all with --threads 1).
Each path trains its own copy of the same initial model with its own Adam, and
their epochs alternate (live, cached, live, cached, ...), so a slow spell of the
machine hits both. The speed-up is median(live) / median(cached).

Target (issue 3, the frozen-backbone feature cache): a speed-up of at least 10x per
epoch at the default size. The script reports whether it is met; it never fails on it.
The ratio depends on the crop: the encoder's cost grows with crop**2, the cached
epoch is the head alone (project + LSTM 512 x 3 + Adam over its ~8M parameters),
whatever the crop. So at params.yaml's crop 56 expect a few x, not 10x (--crop 56).

Inputs are generated in a temporary directory: `--videos` frames files (har.frames
format) of 24 stored frames each, short side crop + crop // 7 (128 for crop 112),
4:3, smooth moving colour fields plus mild noise (so JPEG sizes and decode cost are
those of natural frames, not of white noise), a pure function of `--seed`.
Model: resnet_crnn, freeze="backbone", pretrained=False, the constructor's other
defaults (LSTM 512 x 3 layers), 8 frames per clip, on CPU.

Run (from the project root, with the dev venv):

    python -m benchmarks.feature_cache                 # default size, ~1-2 min on 2 cores
    python -m benchmarks.feature_cache --quick         # a few seconds: checks that it runs
    python -m benchmarks.feature_cache --json out.json # also write the result as JSON

JSON is written only when --json is given. `run(quick, repeats, **options) -> dict`
is the entry point for benchmarks.run, the runner of all benchmarks;
`format_table(result)` renders the same table the script prints.
"""

from __future__ import annotations

import copy
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import (
    BUSY_CPU, benchmark_parser, machine_info, report, resolve_config, torch_threads)
from har.data import ClipDataset, Preprocessing
from har.engine import make_adam, make_loader, train_one_epoch
from har.features import INFO, FeatureClipDataset, load_cache, write_cache
from har.frames import save_frames
from har.models import count_parameters, create_model, get_entry
from har.models.features import FeatureHead, frozen_encoder

NAME = "feature_cache"
TARGET_SPEEDUP = 10.0
ARCH = "resnet_crnn"
STORED_FRAMES = 24  # extract.frames

DEFAULTS = {"videos": 96, "classes": 8, "frames": 8, "crop": 112, "depth": 18, "batch_size": 16,
            "workers": 0, "threads": 0, "seed": 0}  # threads 0: torch's default
QUICK = {"videos": 8, "crop": 64}
DEFAULT_REPEATS = 3
QUICK_REPEATS = 2


def make_videos(root: Path, count: int, classes: int, short_side: int, seed: int) -> list[dict]:
    """`count` frames files under root and their split rows (id, frames, frames_stored, label)."""
    rng = np.random.default_rng(seed)
    h, w = short_side, short_side * 4 // 3
    t = np.arange(STORED_FRAMES, dtype=np.float32)[:, None, None]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    rows = []
    for i in range(count):
        label = i % classes
        # A few drifting colour blobs over a gradient: smooth, like natural frames.
        img = np.broadcast_to(rng.uniform(0, 255, 3).astype(np.float32) + (xx / w * 60)[..., None],
                              (STORED_FRAMES, h, w, 3)).copy()
        for _ in range(4):
            cx, cy, vx, vy = rng.uniform(0, w), rng.uniform(0, h), *rng.uniform(-3, 3, 2)
            r, colour = rng.uniform(h / 8, h / 3), rng.uniform(-120, 120, 3).astype(np.float32)
            d2 = (xx - cx - vx * t) ** 2 + (yy - cy - vy * t) ** 2
            img += np.exp(-d2 / (2 * r * r))[..., None] * colour
        img += rng.normal(0, 4, img.shape).astype(np.float32)
        rel = f"c{label}/v{i:04d}.npz"
        save_frames(root / rel, np.clip(img, 0, 255).astype(np.uint8))
        rows.append({"id": rel[:-4], "frames": rel, "frames_stored": str(STORED_FRAMES),
                     "label": str(label)})
    return rows


def _stats(times: list[tuple[float, float]]) -> dict:
    wall, cpu = [w for w, _ in times], [c for _, c in times]
    return {"epochs_s": wall, "median_s": statistics.median(wall), "min_s": min(wall),
            "max_s": max(wall), "cpu_epochs_s": cpu, "cpu_median_s": statistics.median(cpu)}


def _timed_epoch(model, loader, optimizer) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads) of one training epoch."""
    wall, cpu = time.perf_counter(), time.process_time()
    train_one_epoch(model, loader, optimizer, torch.device("cpu"))
    return time.perf_counter() - wall, time.process_time() - cpu


def _adam(model) -> torch.optim.Adam:
    return make_adam(model.parameters(), lr=1e-3)


def break_even(build_s: float, live_s: float, cached_s: float) -> int | None:
    """Smallest whole E with build + E * cached <= E * live; None if caching never pays off."""
    if live_s <= cached_s:
        return None
    return max(1, math.ceil(build_s / (live_s - cached_s)))


def run(quick: bool = False, repeats: int | None = None, **options) -> dict:
    """Run the benchmark; options override DEFAULTS (videos, classes, frames, crop, depth,
    batch_size, workers, threads, seed). Returns the result dict that --json writes."""
    cfg, repeats = resolve_config(options, DEFAULTS, QUICK, DEFAULT_REPEATS, QUICK_REPEATS, quick, repeats)
    with torch_threads(cfg["threads"]):
        return _run(quick, repeats, cfg)


def _run(quick: bool, repeats: int, cfg: dict) -> dict:
    machine = machine_info()  # before the run: the CPU use it records is that of other processes
    short_side = cfg["crop"] + cfg["crop"] // 7
    entry = get_entry(ARCH)
    prep = Preprocessing(source_frames=STORED_FRAMES, short_side=short_side, frames=cfg["frames"],
                         crop=cfg["crop"], mean=entry.mean, std=entry.std, layout=entry.layout,
                         hflip=False)
    device = torch.device("cpu")

    with tempfile.TemporaryDirectory(prefix="har-bench-features-") as tmp:
        frames_root, cache_dir = Path(tmp) / "frames", Path(tmp) / "features"
        start = time.perf_counter()
        rows = make_videos(frames_root, cfg["videos"], cfg["classes"], short_side, cfg["seed"])
        generate_s = time.perf_counter() - start
        frames_bytes = sum(f.stat().st_size for f in frames_root.rglob("*.npz"))

        torch.manual_seed(cfg["seed"])
        model = create_model(ARCH, cfg["classes"], cfg["frames"], cfg["crop"], depth=cfg["depth"],
                             freeze="backbone", pretrained=False)
        encoder = frozen_encoder(model)
        if encoder is None:
            raise RuntimeError(f"{ARCH} with freeze='backbone' has no fully frozen encoder")
        total_params, trainable_params = count_parameters(model)

        start = time.perf_counter()
        write_cache(cache_dir, encoder, {"train": rows}, frames_root, prep, device)
        build_s = time.perf_counter() - start
        start = time.perf_counter()
        features = load_cache(cache_dir, "train", rows, encoder, prep)
        load_s = time.perf_counter() - start
        cached_ids = json.loads((cache_dir / INFO).read_text())["videos"]["train"]

        # Two copies of the same initial model, each with its own Adam. Their epochs
        # alternate (live, cached, live, ...), so a slow spell of the machine hits both.
        # (a) live: the full model on pixels, the frozen encoder recomputed every epoch.
        live_model = model
        live_loader = make_loader(ClipDataset(rows, frames_root, prep, train=True),
                                  cfg["batch_size"], True, cfg["workers"], cfg["seed"])
        # (b) cached: the same weights, trained through FeatureHead on the cache.
        cached_model = FeatureHead(copy.deepcopy(model))
        cached_loader = make_loader(FeatureClipDataset(rows, features, prep, train=True),
                                    cfg["batch_size"], True, cfg["workers"], cfg["seed"])
        live_opt, cached_opt = _adam(live_model), _adam(cached_model)
        torch.manual_seed(cfg["seed"])
        live, cached = [], []
        for _ in range(repeats):
            live.append(_timed_epoch(live_model, live_loader, live_opt))
            cached.append(_timed_epoch(cached_model, cached_loader, cached_opt))
        del live_loader, cached_loader, live_model, cached_model, live_opt, cached_opt
        cache_info = {"build_s": build_s, "load_s": load_s, "videos": len(cached_ids),
                      "all_train_videos": cached_ids == [r["id"] for r in rows],
                      "rows": int(features.shape[0]), "dim": int(features.shape[1]),
                      "bytes": (cache_dir / "train.npy").stat().st_size}
        del features

    live_stats, cached_stats = _stats(live), _stats(cached)
    speedup = live_stats["median_s"] / cached_stats["median_s"]
    # Worker processes' CPU time is not counted in cpu_*: with workers > 0 only wall time compares.
    cpu_speedup = live_stats["cpu_median_s"] / cached_stats["cpu_median_s"] if cfg["workers"] == 0 else None
    return {
        "benchmark": NAME,
        "quick": quick,
        "config": {**cfg, "arch": ARCH, "freeze": "backbone", "pretrained": False,
                   "stored_frames": STORED_FRAMES, "short_side": short_side, "repeats": repeats,
                   "device": "cpu", "params": total_params, "trainable_params": trainable_params},
        "machine": machine,
        "inputs": {"videos": len(rows), "frames_bytes": frames_bytes, "generate_s": generate_s},
        "live": live_stats,
        "cached": cached_stats,
        "speedup": speedup,
        "cpu_speedup": cpu_speedup,
        "cache": cache_info,
        "break_even_epochs": break_even(build_s, live_stats["median_s"], cached_stats["median_s"]),
        "target_speedup": TARGET_SPEEDUP,
        "meets_target": speedup >= TARGET_SPEEDUP,
    }


def _percent(x: float | None) -> str:
    return "?" if x is None else f"{100 * x:.0f}%"


def format_table(result: dict) -> str:
    c, m = result["config"], result["machine"]
    lines = [
        f"feature cache benchmark{' (quick)' if result['quick'] else ''}: {c['arch']} depth {c['depth']}, "
        f"frozen backbone, {c['videos']} videos x {c['stored_frames']} stored frames "
        f"(short side {c['short_side']}), clips of {c['frames']} x {c['crop']}px, batch {c['batch_size']}, "
        f"workers {c['workers']}, {c['repeats']} epoch(s) per path",
        f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, {m['threads']} threads, "
        f"CPU {_percent(m['cpu_busy_before'])} busy just before the run",
    ]
    if m["cpu_busy_before"] is not None and m["cpu_busy_before"] >= BUSY_CPU:
        lines.append("WARNING: other processes were using the CPU: the timings are not reliable "
                     "(multi-threaded torch slows down sharply when the cores are oversubscribed)")
    lines += [
        "",
        f"{'per epoch (wall)':<28}{'median':>10}{'min':>10}{'max':>10}{'CPU median':>12}",
    ]
    for key, label in (("live", "live (encoder every epoch)"), ("cached", "cached (FeatureHead)")):
        s = result[key]
        lines.append(f"{label:<28}{s['median_s']:>9.3f}s{s['min_s']:>9.3f}s{s['max_s']:>9.3f}s"
                     f"{s['cpu_median_s']:>11.3f}s")
    cache = result["cache"]
    be = result["break_even_epochs"]
    lines += [
        "",
        f"speed-up per epoch (live / cached, medians): {result['speedup']:.1f}x "
        f"(target >= {result['target_speedup']:.0f}x: {'met' if result['meets_target'] else 'NOT met'})"
        + (f"; in CPU time: {result['cpu_speedup']:.1f}x" if result["cpu_speedup"] is not None else ""),
        f"cache build (write_cache, {cache['videos']} videos, {cache['rows']} x {cache['dim']} float32, "
        f"{cache['bytes'] / 1e6:.1f} MB): {cache['build_s']:.2f}s; load + check: {cache['load_s']:.2f}s",
        f"break-even: {be} epoch(s)" if be is not None else "break-even: never (cached is not faster)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(NAME, __doc__, "tiny inputs: checks that it runs",
                              f"epochs timed per path (default {DEFAULT_REPEATS}, "
                              f"quick {QUICK_REPEATS})")
    for key in DEFAULTS:
        default = "torch's" if key == "threads" else DEFAULTS[key]
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, dest=key,
                            help=f"default {default}" + (f" (quick {QUICK[key]})" if key in QUICK else ""))
    args = parser.parse_args(argv)
    options = {k: getattr(args, k) for k in DEFAULTS}
    result = run(args.quick, args.repeats, **options)
    return report(result, format_table, args.json)


if __name__ == "__main__":
    sys.exit(main())
