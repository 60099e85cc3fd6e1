"""What the benchmarks share: the machine they ran on, how busy its CPU was,
median/min/max summaries, one reported figure, writing a result as JSON, and the
generated UCF-like videos the GPU check measures on.

Imported as `from benchmarks.common import ...`; its own imports are the standard library's
(torch, numpy and PyAV only inside the functions that need them), so benchmarks.gpu can use
it on a machine with nothing but torch and a few wheels.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import time
from pathlib import Path

# har.extract's progress bar would garble the tables; tqdm reads this when first imported.
os.environ.setdefault("TQDM_DISABLE", "1")

BUSY_CPU = 0.2  # share of the CPU used by other processes above which a timing is flagged


def _proc_stat() -> tuple[int, int]:
    """(all jiffies, idle + iowait jiffies) since boot, summed over all cores."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields), fields[3] + (fields[4] if len(fields) > 4 else 0)


def cpu_busy(window: float = 0.5) -> float | None:
    """Fraction of all cores busy over `window` seconds (/proc/stat), None where unavailable."""
    try:
        total0, idle0 = _proc_stat()
        time.sleep(window)
        total1, idle1 = _proc_stat()
    except (OSError, ValueError, IndexError):
        return None
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


class OtherLoad:
    """Share of the machine's CPU that *other* processes used while a measurement ran.

    /proc/stat's busy time minus this process's own CPU time (all threads, and the
    children it has waited for: ffmpeg, dvc, `har serve`). Use as a context manager;
    `.value` is None where /proc/stat is unavailable.
    """

    def __init__(self):
        self.value: float | None = None

    @staticmethod
    def _own() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def __enter__(self):
        try:
            self._start = (_proc_stat(), self._own())
        except (OSError, ValueError, IndexError):
            self._start = None
        return self

    def __exit__(self, *exc):
        if self._start is None:
            return False
        try:
            (total0, idle0), own0 = self._start
            total1, idle1 = _proc_stat()
        except (OSError, ValueError, IndexError):
            return False
        hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        elapsed = max(1, total1 - total0)  # jiffies, all cores
        busy = (elapsed - (idle1 - idle0)) / hz
        own = self._own() - own0
        self.value = min(1.0, max(0.0, (busy - own) / (elapsed / hz)))
        return False


def cpu_model() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def machine_info() -> dict:
    """The CPU model, core count and software versions; how busy the CPU was just before."""
    import torch

    return {"cpu": cpu_model(), "cores": os.cpu_count(),
            "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            # Which kernels ran: AVX2 when pinned (har/cpu_kernels.py), AVX512 etc. if not.
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "interop_threads": torch.get_num_interop_threads(),
            "python": platform.python_version(), "platform": platform.platform(),
            # Other processes on the machine distort timings (see the table's warning).
            "cpu_busy_before": cpu_busy(),
            "loadavg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


def summary(values: list[float]) -> dict:
    """median, min and max of repeated measurements, and the measurements themselves."""
    if not values:
        raise ValueError("no measurements")
    return {"values": list(values), "median": statistics.median(values), "min": min(values),
            "max": max(values)}


def command(name: str) -> str:
    """How benchmarks.<name> is run: as a module, from the project root."""
    return f"python -m benchmarks.{name}"


def benchmark_parser(name: str, doc: str, quick_help: str,
                     repeats_help: str) -> argparse.ArgumentParser:
    """The options every benchmark takes (--quick, --repeats, --json); add its own. Its usage
    line names the command that runs benchmarks.<name>."""
    parser = argparse.ArgumentParser(prog=command(name), description=doc.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--repeats", type=int, help=repeats_help)
    parser.add_argument("--json", type=Path, help="also write the result to this JSON file")
    return parser


def report(result: dict, format_table, json_path: Path | None) -> int:
    """Print a script's table, write its JSON when asked; the exit status of its main()."""
    print(format_table(result))
    if json_path:
        write_json(json_path, result)
    return 0


@contextlib.contextmanager
def torch_threads(n: int | None):
    """torch's intra-op threads set to `n` inside the block (None or 0: left as they are)."""
    import torch

    previous = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def resolve_config(options: dict, defaults: dict, quick_sizes: dict, default_repeats: int,
                   quick_repeats: int, quick: bool, repeats: int | None) -> tuple[dict, int]:
    """A benchmark's (config, repeats): its DEFAULTS, its QUICK sizes in --quick mode, then the
    caller's options (None keeps the default). An option the benchmark lacks is an error."""
    unknown = set(options) - set(defaults)
    if unknown:
        raise ValueError(f"unknown option(s): {', '.join(sorted(unknown))}")
    cfg = {**defaults, **(quick_sizes if quick else {}),
           **{k: v for k, v in options.items() if v is not None}}
    repeats = repeats or (quick_repeats if quick else default_repeats)
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    return cfg, repeats


def figure(name: str, unit: str, values: list[float] | None, *, higher_is_better: bool = True,
           baseline: dict | None = None, target: dict | None = None, busy: float | None = None,
           note: str = "", skipped: str | None = None, stats: dict | None = None) -> dict:
    """One reported figure: median/min/max of `values` in `unit`, its baseline and target.

    baseline: {"name": ..., "values": [...]} measured in the same run on the same inputs
    (ratio = our median / the baseline's median), or None. target: {"of": "ratio" or
    "value", "op": ">=" or "<=", "value": x, "why": ...}, or None (reported, no target).
    skipped: the reason the figure was not measured (its numbers are then None).
    """
    fig = {"name": name, "unit": unit, "higher_is_better": higher_is_better,
           "median": None, "min": None, "max": None, "values": [],
           "baseline": None, "ratio": None, "target": target, "met": None,
           "cpu_busy_other": busy, "busy": busy is not None and busy >= BUSY_CPU,
           "note": note, "skipped": skipped}
    if stats is not None:  # already summarised elsewhere: {"median", "min", "max"} (+ "values")
        fig.update({"values": stats.get("values", []), "median": stats["median"], "min": stats["min"],
                    "max": stats["max"]})
    elif skipped is not None or not values:
        fig["skipped"] = skipped or "not measured"
        return fig
    else:
        fig.update(summary(values))
    if baseline is not None:
        base = {"name": baseline["name"], **(baseline["stats"] if "stats" in baseline
                                             else summary(baseline["values"]))}
        fig["baseline"] = base
        fig["ratio"] = fig["median"] / base["median"] if base["median"] else None
    if target is not None:
        measured = fig["ratio"] if target["of"] == "ratio" else fig["median"]
        if measured is not None:
            fig["met"] = bool(measured >= target["value"] if target["op"] == ">="
                              else measured <= target["value"])
    return fig


def target_text(target: dict | None) -> str:
    if not target:
        return ""
    unit = "x" if target["of"] == "ratio" else f" {target.get('unit', '')}".rstrip()
    return f"{target['op']} {target['value']:g}{unit}"


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 0.01:
        return f"{x:.3g}" if abs(x) < 1 else f"{x:.2f}"
    return f"{x:.2g}"


def figures_table(figures: list[dict]) -> str:
    """The figures as one fixed-width table: median, min, max, baseline, ratio, target, met.
    Figures with a "section" key get a section column (benchmarks.run's combined table)."""
    sectioned = any("section" in f for f in figures)
    head = (f"{'section':<14}" if sectioned else "") + (
        f"{'figure':<44}{'median':>10}{'min':>10}{'max':>10} {'unit':<10}"
        f"{'baseline (median)':>20}{'ratio':>9}  {'target':<10}{'result':<8}")
    lines = [head, "-" * len(head)]
    for f in figures:
        prefix = f"{f.get('section', '')[:13]:<14}" if sectioned else ""
        if f.get("skipped"):
            lines.append(f"{prefix}{f['name'][:43]:<44}{'':>30} {'':<10}{'':>20}{'':>9}  "
                         f"{target_text(f['target']):<10}skipped: {f['skipped']}")
            continue
        base = f"{_num(f['baseline']['median'])}" if f["baseline"] else "-"
        ratio = f"{f['ratio']:.2f}x" if f["ratio"] is not None else "-"
        met = {True: "met", False: "MISSED", None: ""}[f["met"]]
        busy = " busy!" if f.get("busy") else ""
        lines.append(f"{prefix}{f['name'][:43]:<44}{_num(f['median']):>10}{_num(f['min']):>10}"
                     f"{_num(f['max']):>10} {f['unit'][:10]:<10}{base:>20}{ratio:>9}  "
                     f"{target_text(f['target']):<10}{met}{busy}")
    return "\n".join(lines)


def write_json(path: Path | str, result: dict) -> Path:
    """Write `result` as indented JSON (parents created) and say so: the scripts' --json tail."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def synthetic_frames(count: int, size: tuple[int, int] = (320, 240), seed: int = 0):
    """`count` RGB frames of `size` (width, height) as uint8 arrays: four rectangles moving
    over a gradient, with mild noise per frame; the same `seed` gives the same frames."""
    import numpy as np

    width, height = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.empty((height, width, 3), np.uint8)
    background[..., 0] = xx * 248 // width  # + noise < 8: never wraps past 255
    background[..., 1] = yy * 248 // height
    background[..., 2] = rng.integers(0, 249)
    shapes = [(rng.uniform(0, width), rng.uniform(0, height), *rng.uniform(-4, 4, 2),
               int(rng.integers(max(2, height // 20), max(3, height // 6))),
               rng.integers(0, 249, 3).astype(np.uint8)) for _ in range(4)]
    for t in range(count):
        img = background.copy()
        for x, y, vx, vy, r, colour in shapes:
            cx, cy = int(x + vx * t) % width, int(y + vy * t) % height
            img[max(0, cy - r):cy + r, max(0, cx - r):cx + r] = colour
        img += rng.integers(0, 8, (height, width, 1), dtype=np.uint8)
        yield img


def write_avi(path: Path, frames, size: tuple[int, int], fps: int = 25) -> Path:
    """`frames` (RGB arrays of `size`, width x height) as an MPEG-4 Part 2 AVI, UCF101-like."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        stream.codec_context.bit_rate = 400_000  # UCF101's clips are ~300-400 kb/s XviD
        stream.codec_context.gop_size = 12
        stream.thread_count = 1
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
