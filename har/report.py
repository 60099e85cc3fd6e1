"""The results table (markdown) and training curves (PNG), from metrics/ alone."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on CI or servers
import matplotlib.pyplot as plt  # noqa: E402

from har.ucf101_types import TYPES, accuracy_by_type, load_ucf101_types  # noqa: E402

DATASET_NAMES = {"synthetic": "the built-in dataset", "ucf101": "UCF101", "hmdb51": "HMDB51",
                 "folder": "the folder dataset"}

COLUMNS = ["model", "input (frames x size)", "params", "best epoch", "train acc", "val acc",
           "test acc (clip)", "test top-5 (clip)", "test acc (video)", "test loss", "train time"]
VIDEO_ACCURACY = COLUMNS.index("test acc (video)")


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


def input_cell(clips: dict) -> str:
    """ "8 x 56" (8 frames of 56x56), "29 x 90x120" (height x width), "29 x 90x120, test 19"."""
    h, w = clips["height"], clips["width"]
    cell = f"{clips['frames']} x {h if h == w else f'{h}x{w}'}"
    if clips["eval_frames"] != clips["frames"]:
        cell += f", test {clips['eval_frames']}"
    return cell


def results_table(metrics: dict[str, dict], reported: list | None = None) -> str:
    """One row per measured model, then one per `reported` result (har.config.ReportedResult).

    A reported row carries only the published accuracy, in the video column, and is
    marked as reported in the model cell; a numbered note below says where from.
    """
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for name, m in metrics.items():
        t, tr = m["test"], m["train"]
        cells = [f"`{name}`", input_cell(m["input"]),
                 f"{m['params']['total'] / 1e6:.2f} M", f"{tr['best_epoch']} / {tr['epochs']}",
                 _pct(tr["train_top1"]), _pct(tr["val_top1"]), _pct(t["clip_top1"]),
                 _pct(t["clip_top5"]), _pct(t["video_top1"]), f"{t['loss']:.3f}",
                 _duration(tr["seconds"])]
        lines.append("| " + " | ".join(cells) + " |")
    notes = []
    for i, result in enumerate(reported or [], 1):
        cells = ["–"] * len(COLUMNS)
        cells[0] = f"`{result.model}`, reported [{i}]"
        cells[VIDEO_ACCURACY] = f"{result.accuracy:.2f}%"
        lines.append("| " + " | ".join(cells) + " |")
        notes.append(f"[{i}] Reported, not measured here: {result.source}; {result.protocol}.")
    return "\n".join(lines) + "\n" + ("\n" + "\n".join(notes) + "\n" if notes else "")


def render_results(params, metrics_dir: Path) -> str:
    """reports/results.md: the results table of params.yaml's models, from `metrics_dir` alone.

    The one renderer of the results: the report stage writes it, and har.results_check
    compares README.md's results block and reports/results.md with it.
    """
    models = list(params.models)
    metrics = load_metrics(metrics_dir, models)
    ds = params.dataset
    which = "its one split" if ds.name == "folder" else f"official split {ds.split}"
    text = ("# Results\n\n" + results_table(metrics, params.reported) +
            f"\nAccuracies on the test set of {DATASET_NAMES[ds.name]}, {which}; the best epoch is "
            "chosen on validation.\nVideo accuracy averages the softmax over the evaluated clips "
            "of each video.\n")
    by_type = action_type_table(metrics, video_counts_by_class(Path(metrics_dir) / "confusion", models))
    if by_type:
        text += ("\n## Video accuracy by action type\n\nThe five types of the UCF101 paper "
                 "(Soomro et al. 2012, Fig. 2), over each type's test videos.\n\n" + by_type)
    return text


def video_counts_by_class(confusion_dir: Path, models: list[str]) -> dict[str, Counter]:
    """Per model, test videos per true class, from the evaluate stage's confusion CSV."""
    counts = {}
    for name in models:
        path = Path(confusion_dir) / f"{name}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no confusion matrix for model {name!r} "
                                    "(run its evaluate stage)")
        with open(path, newline="") as f:
            counts[name] = Counter(row["actual"] for row in csv.DictReader(f))
    return counts


def action_type_table(metrics: dict[str, dict], counts: dict[str, Counter]) -> str | None:
    """Video accuracy by the five UCF101 action types, or None when the classes are not UCF101's.

    A type's accuracy is over its test videos (class accuracies weighted by their
    video counts), so it reads like the overall video accuracy.
    """
    types = load_ucf101_types()
    if not metrics or any(not set(m["per_class_video_top1"]) <= set(types) for m in metrics.values()):
        return None
    lines = ["| model | " + " | ".join(TYPES) + " |", "|" + "---|" * (len(TYPES) + 1)]
    for name, m in metrics.items():
        by_type = accuracy_by_type(m["per_class_video_top1"], counts[name])
        cells = [_pct(by_type[t]) if t in by_type else "–" for t in TYPES]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
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
