"""What the benchmarks share: the machine, how busy its CPU was, figures and their table,
JSON, a model set up and timed as the train stage trains it, generated UCF-like videos. Its
own imports are the standard library's and repro's cpu_model (torch, numpy and PyAV only in
the functions that need them), so benchmarks.gpu can use it where only torch and a few
wheels are installed.
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

from repro import cpu_model  # the one definition: repro/ labels its digests with it

# har.extract's progress bar would garble the tables; tqdm reads this when first imported.
os.environ.setdefault("TQDM_DISABLE", "1")

BUSY_CPU = 0.2  # share of the CPU used by other processes above which a timing is flagged
CLASSES = 101  # UCF101's head


def _cpu_sample() -> tuple[float, float, float] | None:
    """(all CPU seconds, idle + iowait seconds) since boot, summed over all cores (/proc/stat),
    and this process's own CPU seconds (all threads, and the children it has waited for:
    ffmpeg, dvc, `har serve`); None where /proc/stat is unavailable."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        hz = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, AttributeError):
        return None
    t = os.times()
    return (sum(fields) / hz, (fields[3] + fields[4]) / hz,
            t.user + t.system + t.children_user + t.children_system)


class OtherLoad:
    """Share of the machine's CPU that *other* processes used while a measurement ran: the
    busy time less this process's own. A context manager; `.value` is None where unknown."""

    value: float | None = None

    def __enter__(self):
        self._start = _cpu_sample()
        return self

    def __exit__(self, *exc):
        end = _cpu_sample()
        if self._start and end:
            (total0, idle0, own0), (total1, idle1, own1) = self._start, end
            elapsed = max(total1 - total0, 0.01)
            others = elapsed - (idle1 - idle0) - (own1 - own0)
            self.value = min(1.0, max(0.0, others / elapsed))
        return False


def cpu_busy(window: float = 0.5) -> float | None:
    """Share of the CPU that other processes used over `window` seconds; None where unknown."""
    with OtherLoad() as load:
        time.sleep(window)
    return load.value


def machine_info() -> dict:
    """The CPU model, core count and software versions; how busy the CPU was just before."""
    import torch

    return {"cpu": cpu_model(), "cores": os.cpu_count(), "cuda": torch.cuda.is_available(),
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


def benchmark_parser(name: str, doc: str, quick_help: str,
                     repeats_help: str) -> argparse.ArgumentParser:
    """The options every benchmark takes (--quick, --repeats, --json); add its own. Its usage
    line names the command that runs benchmarks.<name>."""
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{name}",
                                     description=doc.split("\n", 1)[0])
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
           note: str = "", skipped: str | None = None) -> dict:
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
    if skipped is not None or not values:
        fig["skipped"] = skipped or "not measured"
        return fig
    fig.update(summary(values))
    if baseline is not None:
        base = {"name": baseline["name"], **summary(baseline["values"])}
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


def number(x: float | None) -> str:
    """A figure as a table shows it: 3 significant digits or so, "-" for none."""
    if x is None:
        return "-"
    a = abs(x)
    return (f"{x:,.0f}" if a >= 100 else f"{x:.1f}" if a >= 10 else f"{x:.2f}" if a >= 1
            else f"{x:.3g}" if a >= 0.01 else f"{x:.2g}")


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
        base = f"{number(f['baseline']['median'])}" if f["baseline"] else "-"
        ratio = f"{f['ratio']:.2f}x" if f["ratio"] is not None else "-"
        met = {True: "met", False: "MISSED", None: ""}[f["met"]]
        busy = " busy!" if f.get("busy") else ""
        lines.append(f"{prefix}{f['name'][:43]:<44}{number(f['median']):>10}{number(f['min']):>10}"
                     f"{number(f['max']):>10} {f['unit'][:10]:<10}{base:>20}{ratio:>9}  "
                     f"{target_text(f['target']):<10}{met}{busy}")
    return "\n".join(lines)


def write_json(path: Path | str, result: dict) -> Path:
    """Write `result` as indented JSON (parents created) and say so: the scripts' --json tail."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def input_shape(prep) -> list[int]:
    """One clip's shape for a har Preprocessing: (C, T, H, W) or (T, C, H, W), by its layout."""
    h, w = prep.crop_hw
    return [3, prep.frames, h, w] if prep.layout == "NCTHW" else [prep.frames, 3, h, w]


class Setup:
    """A model trained as stages/train.py trains it, for one (amp, channels_last, compile)."""

    def __init__(self, params, name: str, variant: tuple[bool, bool, bool], device, quick: bool,
                 seed: int):
        import torch

        from har.data import Preprocessing
        from har.engine import amp_dtype, make_adam, to_channels_last
        from har.models import count_parameters, create_model, options

        self.amp, channels_last, compile_ = variant
        spec, cfg = params.model(name), params.train_config(name)
        self.prep = Preprocessing.for_model(params, name)
        self.batch = min(cfg.batch_size, 2) if quick else cfg.batch_size
        model_cfg = dict(spec.model)
        if "pretrained" in options(spec.arch, model_cfg):
            model_cfg["pretrained"] = False  # random weights: the same compute, no download
        torch.manual_seed(seed)
        model = create_model(spec.arch, CLASSES, self.prep.frames, self.prep.crop, **model_cfg)
        self.params_total, self.params_trainable = count_parameters(model)
        model.to(device)
        cuda = device.type == "cuda"
        # As stages/train.py, except that the CPU (benchmarks.gpu --quick only) gets
        # channels_last and an eager-backend compile too, so their code paths run somewhere
        # without a GPU.
        if channels_last:
            to_channels_last(model)
        runner = model
        if compile_:
            runner = torch.compile(model) if cuda else torch.compile(model, backend="eager")
        dtype = amp_dtype(device, self.amp)
        self.applied = {"amp": str(dtype).removeprefix("torch.") if dtype else None,
                        "channels_last": channels_last,
                        "compile": ("inductor" if cuda else "eager") if compile_ else None}
        self.model, self.runner, self.device = model, runner, device
        self.optimizer = make_adam(model.parameters(), cfg.lr, cfg.weight_decay)
        self.scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
        self.input = input_shape(self.prep)

    def epoch(self, loader) -> dict:
        """One har.engine.train_one_epoch over `loader`: its loss and accuracy."""
        from har.engine import train_one_epoch

        return train_one_epoch(self.runner, loader, self.optimizer, self.device, self.scaler,
                               self.amp)

    def steps(self) -> int:
        """Optimiser steps taken so far: every one of them inside train_one_epoch."""
        first = next(p for p in self.model.parameters() if p.requires_grad)
        state = self.optimizer.state.get(first, {})
        return int(state["step"]) if "step" in state else 0

    def weight_sums(self):
        """One float64 sum per trainable tensor, on the CPU: a trained tensor's sum moves."""
        import torch

        with torch.no_grad():
            return torch.stack([p.sum(dtype=torch.float64) for p in self.model.parameters()
                                if p.requires_grad]).cpu()

    def random_batches(self, n: int) -> list:
        """n batches of one random clip tensor already on the device (no loading at all)."""
        import torch

        clips = torch.randn(self.batch, *self.input, device=self.device)
        labels = torch.randint(0, CLASSES, (self.batch,), device=self.device)
        return [(clips, labels, torch.arange(self.batch))] * n


def sync(device) -> None:
    """Wait for the GPU's queued work, so that a timer sees it (a CPU has none)."""
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)


def timed_epochs(setup: Setup, loader, repeats: int, clips: int) -> tuple[list[float], dict]:
    """clips/s of `repeats` train_one_epoch calls over `loader`, and the last epoch's result."""
    rates, last = [], {}
    for _ in range(repeats):
        sync(setup.device)
        start = time.perf_counter()
        last = setup.epoch(loader)
        sync(setup.device)
        rates.append(clips / (time.perf_counter() - start))
    return rates, last


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


def make_video(path: Path, frames: int, size: tuple[int, int], seed: int) -> Path:
    """`frames` synthetic_frames of `size` (width x height) as an MPEG-4 Part 2 AVI, UCF101-like."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        stream.codec_context.bit_rate = 400_000  # UCF101's clips are ~300-400 kb/s XviD
        stream.codec_context.gop_size = 12
        stream.thread_count = 1
        for img in synthetic_frames(frames, size, seed):
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
