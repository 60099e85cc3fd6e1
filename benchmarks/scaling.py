"""Benchmark: extraction throughput against the number of workers, and peak memory of extract
and train as the number of videos grows 1x, 4x, 16x.

What is measured:

  workers  har.extract.extract_all over benchmarks.extraction's generated clips (the same
           ones when run together) with 1, 2 and N (= CPU count) workers, videos per second,
           `--repeats` passes each, alternating. Target: N workers >= 0.75 x N times the
           1-worker throughput (decoding is bit-exact single-threaded work per video, so
           it should scale with cores; 0.75 leaves room for the GIL-held Python parts).
  memory   extract_all (params.yaml's extract settings) and one training epoch of the first
           params.yaml model (ClipDataset + make_loader + train_one_epoch, as the train
           stage does) over 1x, 4x and 16x videos (hard links to the same clips; copies of
           one frames file), each in its own process; its peak RSS (VmHWM, which the
           process reads from /proc at its end). Target: peak RSS at 16x <= 1.25x that at 1x.
           (--quick: 1x and 2x only.)

Why 1.25x: the imports (torch, PyAV) set a floor of a few hundred MB that does not
depend on the data; allocator noise between runs is a few percent. A pipeline that
streams holds a fixed number of videos at a time, so 16x the videos must not move the
peak beyond that noise. The table also shows the growth in MB beside the decoded
size of the extra videos' stored frames (what holding them all would add), which is
the fairer yardstick when the videos are few.

    python -m benchmarks.scaling [--quick] [--repeats N] [--json PATH]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from benchmarks import extraction  # its generated clips, shared with that section in one run
from benchmarks.common import (
    OtherLoad, benchmark_parser, figure, figures_table, machine_info, report, resolve_config)
from har.config import load_params
from har.frames import save_frames
from har.video import read_frames

ROOT = Path(__file__).resolve().parents[1]
NAME = "scaling"
DEFAULTS = {"extract_base": 8, "train_base": 16, "seed": 0}  # train_base: one batch (train.batch_size 16)
QUICK = {"extract_base": 1, "train_base": 1}
SCALES = (1, 4, 16)
QUICK_SCALES = (1, 2)  # --quick: fewer child processes (each imports torch)
DEFAULT_REPEATS = 3
QUICK_REPEATS = 1
SPEEDUP_EFFICIENCY = 0.75
RSS_TARGET = 1.25

EXTRACT_CHILD = textwrap.dedent("""\
    import os, sys
    os.environ["TQDM_DISABLE"] = "1"
    from pathlib import Path
    from har.config import load_params
    from har.extract import ExtractSettings, extract_all
    cfg = load_params(sys.argv[3]).extract
    out = Path(sys.argv[2])
    rows = extract_all(Path(sys.argv[1]), out / "frames", out / "manifest.csv",
                       ExtractSettings(cfg.frames, cfg.short_side, cfg.jpeg_quality,
                                       cfg.max_failed_fraction, cfg.workers))
    assert all(r["status"] == "ok" for r in rows), rows
    print("VmHWM", [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")][0])
    """)

TRAIN_CHILD = textwrap.dedent("""\
    import json, sys
    import torch
    from pathlib import Path
    from har.config import load_params
    from har.data import ClipDataset, Preprocessing
    from har.engine import make_adam, make_loader, seed_everything, train_one_epoch
    from har.models import create_model
    params = load_params(sys.argv[3])
    name = next(iter(params.models))
    spec, cfg = params.model(name), params.train_config(name)
    seed = cfg.seeds[0]
    seed_everything(seed)
    prep = Preprocessing.for_model(params, name)
    rows = json.loads(Path(sys.argv[2]).read_text())
    model = create_model(spec.arch, 8, cfg.frames, cfg.crop, **spec.model)
    loader = make_loader(ClipDataset(rows, Path(sys.argv[1]), prep, train=True),
                         cfg.batch_size, True, cfg.workers, seed)
    optimizer = make_adam(model.parameters(), cfg.lr)
    train_one_epoch(model, loader, optimizer, torch.device("cpu"))
    print("VmHWM", [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")][0])
    """)


def peak_rss_mb(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of a child process: the VmHWM it reads from /proc at its end.

    Not getrusage/wait4's ru_maxrss: on Linux that includes the parent's RSS at fork time
    (the high-water mark survives exec), i.e. the benchmark's own memory.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{args[:3]} failed ({done.returncode}): {done.stderr[-2000:]}")
    kb = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("VmHWM ")]
    if not kb:
        raise RuntimeError(f"{args[:3]}: no VmHWM reported (Linux /proc needed)")
    return int(kb[-1]) / 1024, seconds


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _worker_counts() -> list[int]:
    return sorted({1, 2, os.cpu_count() or 1})


def run(quick: bool = False, repeats: int | None = None, **options) -> dict:
    """Run the benchmark; options override DEFAULTS (extract_base, train_base, seed)."""
    cfg, repeats = resolve_config(options, DEFAULTS, QUICK, DEFAULT_REPEATS, QUICK_REPEATS, quick, repeats)
    machine = machine_info()
    ex = {**extraction.DEFAULTS, **(extraction.QUICK if quick else {})}
    root = extraction.clips(ex["clips"], ex["min_seconds"], ex["max_seconds"], ex["seed"])
    videos = extraction.videos_in(root)
    params_file = ROOT / "params.yaml"
    params = load_params(params_file)
    scales = QUICK_SCALES if quick else SCALES
    figures = []

    # Throughput against workers.
    counts = _worker_counts()
    seconds = {w: [] for w in counts}
    with tempfile.TemporaryDirectory(prefix="har-bench-scaling-") as tmp:
        tmp = Path(tmp)
        with OtherLoad() as busy:
            for _ in range(repeats):
                for w in counts:
                    seconds[w].append(extraction.time_ours(root, tmp / "out",
                                                           extraction.extract_settings(w)))
        rate = {w: [len(videos) / s for s in v] for w, v in seconds.items()}
        cores = os.cpu_count() or 1
        figures.append(figure("extract, 1 worker", "videos/s", rate[1], busy=busy.value))
        for w in counts[1:]:
            label = f"extract, {w} workers" + (" (= cores)" if w == cores else "")
            figures.append(figure(label, "videos/s", rate[w], busy=busy.value,
                                  baseline={"name": "1 worker", "values": rate[1]},
                                  target={"of": "ratio", "op": ">=",
                                          "value": round(SPEEDUP_EFFICIENCY * min(w, cores), 2)}))

        # Peak RSS against the number of videos, each run in its own process.
        one = read_frames(videos[0], params.extract.frames, params.extract.short_side)
        frames_file = tmp / "one.npz"
        save_frames(frames_file, one.array, params.extract.jpeg_quality)
        decoded_per_video = one.array.nbytes
        rss = {"extract": {}, "train": {}}
        walls = {"extract": {}, "train": {}}
        with OtherLoad() as rss_busy:
            for k in scales:
                n = cfg["extract_base"] * k
                vroot = tmp / f"videos{k}"
                for i in range(n):
                    src = videos[i % len(videos)]
                    _link(src, vroot / src.parent.name / f"{src.stem}_r{i:04d}.avi")
                rss["extract"][k], walls["extract"][k] = peak_rss_mb(
                    [sys.executable, "-c", EXTRACT_CHILD, str(vroot), str(tmp / f"out{k}"), str(params_file)])
                shutil.rmtree(tmp / f"out{k}")
                n = cfg["train_base"] * k
                froot = tmp / f"frames{k}"
                rows = []
                for i in range(n):
                    rel = f"c{i % 8}/v{i:05d}.npz"
                    _link(frames_file, froot / rel)
                    rows.append({"id": rel[:-4], "frames": rel, "frames_stored": str(len(one.array)),
                                 "label": str(i % 8)})
                (tmp / f"rows{k}.json").write_text(json.dumps(rows))
                rss["train"][k], walls["train"][k] = peak_rss_mb(
                    [sys.executable, "-c", TRAIN_CHILD, str(froot), str(tmp / f"rows{k}.json"), str(params_file)])
    top = scales[-1]
    for stage, base_key, held in (("extract", "extract_base", "sampled frames"),
                                  ("train", "train_base", "decoded stored frames")):
        extra_videos = cfg[base_key] * (top - 1)
        growth = rss[stage][top] - rss[stage][1]
        figures.append(figure(
            f"{stage} peak RSS, {top}x vs 1x videos", "MB", [rss[stage][top]], higher_is_better=False,
            baseline={"name": f"{cfg[base_key]} videos", "values": [rss[stage][1]]}, busy=rss_busy.value,
            target={"of": "ratio", "op": "<=", "value": RSS_TARGET},
            note=f"{cfg[base_key]} -> {cfg[base_key] * top} videos: +{growth:.0f} MB; holding the "
                 f"{extra_videos} extra videos' {held} would add "
                 f"{extra_videos * decoded_per_video / 2**20:.0f} MB"))
    return {"benchmark": NAME, "quick": quick, "machine": machine,
            "config": {**cfg, "repeats": repeats, "workers": counts, "scales": list(scales),
                       "train_model": next(iter(params.models)), "clips": len(videos)},
            "throughput_s": {str(w): v for w, v in seconds.items()},
            "peak_rss_mb": {s: {str(k): v for k, v in d.items()} for s, d in rss.items()},
            "child_wall_s": {s: {str(k): v for k, v in d.items()} for s, d in walls.items()},
            "decoded_bytes_per_video": decoded_per_video, "figures": figures}


def format_table(result: dict) -> str:
    c, rss = result["config"], result["peak_rss_mb"]
    lines = [f"scaling benchmark{' (quick)' if result['quick'] else ''}: extraction of {c['clips']} "
             f"clips with {c['workers']} workers, {c['repeats']} repeat(s); peak RSS at "
             f"{c['scales']} x (extract {c['extract_base']}, train {c['train_base']} videos; train "
             f"model {c['train_model']})", "", figures_table(result["figures"]), ""]
    for stage in ("extract", "train"):
        lines.append(f"  {stage} peak RSS: " + ", ".join(f"{k}x {v:.0f} MB" for k, v in rss[stage].items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(NAME, __doc__, "tiny inputs: checks that it runs",
                              f"default {DEFAULT_REPEATS}, quick {QUICK_REPEATS}")
    args = parser.parse_args(argv)
    result = run(args.quick, args.repeats)
    return report(result, format_table, args.json)


if __name__ == "__main__":
    sys.exit(main())
