"""The results table (markdown) and training curves (PNG), from metrics/ alone."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on CI or servers
import matplotlib.pyplot as plt  # noqa: E402

COLUMNS = ["model", "input (frames x size)", "params", "best epoch", "train acc", "val acc",
           "test acc (clip)", "test top-5 (clip)", "test acc (video)", "test loss", "train time"]


def load_metrics(metrics_dir: Path, models: list[str]) -> dict[str, dict]:
    out = {}
    for name in models:
        path = Path(metrics_dir) / f"{name}.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no metrics for model {name!r} (run its evaluate stage)")
        out[name] = json.loads(path.read_text())
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def results_table(metrics: dict[str, dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for name, m in metrics.items():
        t, tr = m["test"], m["train"]
        cells = [f"`{name}`", f"{m['input']['frames']} x {m['input']['size']}",
                 f"{m['params']['total'] / 1e6:.2f} M", f"{tr['best_epoch']} / {tr['epochs']}",
                 _pct(tr["train_top1"]), _pct(tr["val_top1"]), _pct(t["clip_top1"]),
                 _pct(t["clip_top5"]), _pct(t["video_top1"]), f"{t['loss']:.3f}",
                 _duration(tr["seconds"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def read_curve(tsv: Path) -> tuple[list[int], list[float]]:
    """dvclive's TSV: timestamp, step, value."""
    steps, values = [], []
    with open(tsv, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            value_key = [k for k in row if k not in ("timestamp", "step")][0]
            steps.append(int(row["step"]) + 1)  # dvclive counts from 0; epochs from 1
            values.append(float(row[value_key]))
    return steps, values


def plot_curves(live_root: Path, models: list[str], out_png: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name in models:
        base = Path(live_root) / name / "plots" / "metrics"
        for ax, metric in zip(axes, ("loss", "top1")):
            for split, style in (("train", "--"), ("val", "-")):
                tsv = base / split / f"{metric}.tsv"
                if tsv.is_file():
                    steps, values = read_curve(tsv)
                    ax.plot(steps, values, style, label=f"{name} {split}")
    for ax, title in zip(axes, ("loss", "accuracy (top-1)")):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110, format="png")  # the path may be a .tmp name
    plt.close(fig)
