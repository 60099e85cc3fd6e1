"""The results table (markdown) and training curves (PNG), from metrics/ alone.

Every measured row is a model's runs over train.seeds: mean ± standard deviation over the
seeds, the number of seeds, and the 95% Wilson interval of the video accuracy over the test
videos (har/seed_summary.py says why both).
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import pandas as pd

matplotlib.use("Agg")  # no display on CI or servers
import matplotlib.pyplot as plt  # noqa: E402

from har import paths  # noqa: E402
from har.errors import MissingFileError  # noqa: E402
from har.seed_summary import wilson_interval  # noqa: E402
from har.ucf101_types import TYPES, accuracy_by_type, load_ucf101_types  # noqa: E402

DATASET_NAMES = {"synthetic": "the built-in dataset", "ucf101": "UCF101", "hmdb51": "HMDB51",
                 "folder": "the folder dataset"}

COLUMNS = ["model", "input (frames x size)", "params", "seeds", "best epoch", "train acc",
           "val acc", "test acc (clip)", "test top-5 (clip)", "test acc (video)",
           "mean class acc (video)", "95% CI (video)", "test loss"]
# No training time: the table is an output, a pure function of the metrics, and a time is
# not (it lives in timings/, har/paths.py).
VIDEO_ACCURACY = COLUMNS.index("test acc (video)")


def load_metrics(metrics_dir: Path, models: list[str]) -> dict[str, dict]:
    out = {}
    for name in models:
        path = Path(metrics_dir) / f"{name}.json"
        if not path.is_file():
            raise MissingFileError(f"{path}: no metrics for model {name!r} (run its aggregate "
                                   "stage: dvc repro aggregate@" + name + ")")
        out[name] = json.loads(path.read_text())
    return out


def _pct(mean: float, std: float | None = None) -> str:
    """"93.4%", or "93.4 ± 0.5%" (the spread in points) when there is one."""
    if std is None:
        return f"{100 * mean:.1f}%"
    return f"{100 * mean:.1f} ± {100 * std:.1f}%"


def input_cell(clips: dict) -> str:
    """ "8 x 56" (8 frames of 56x56), "29 x 90x120" (height x width), "29 x 90x120, test 19"."""
    h, w = clips["height"], clips["width"]
    cell = f"{clips['frames']} x {h if h == w else f'{h}x{w}'}"
    if clips["eval_frames"] != clips["frames"]:
        cell += f", test {clips['eval_frames']}"
    return cell


def measured_row(name: str, m: dict) -> dict[str, str]:
    mean, std = m["mean"], m["std"]
    t, tr = mean["test"], mean["train"]
    ts, trs = std["test"], std["train"]
    best = tr["best_epoch"]
    low, high = m["ci95"]["video_top1"]
    return {
        "model": f"`{name}`", "input (frames x size)": input_cell(m["input"]),
        "params": f"{m['params']['total'] / 1e6:.2f} M", "seeds": str(len(m["seeds"])),
        "best epoch": f"{best:.0f} / {m['epochs']}" if best == int(best) else
                      f"{best:.1f} / {m['epochs']}",
        "train acc": _pct(tr["train_top1"], trs["train_top1"]),
        "val acc": _pct(tr["val_top1"], trs["val_top1"]),
        "test acc (clip)": _pct(t["clip_top1"], ts["clip_top1"]),
        "test top-5 (clip)": _pct(t["clip_top5"], ts["clip_top5"]),
        "test acc (video)": _pct(t["video_top1"], ts["video_top1"]),
        # "–" for metrics written before the evaluate stage measured it
        "mean class acc (video)": "–" if t.get("video_mean_class_top1") is None else
                                  _pct(t["video_mean_class_top1"], ts.get("video_mean_class_top1")),
        "95% CI (video)": f"{100 * low:.1f}–{100 * high:.1f}%",
        "test loss": f"{t['loss']:.3f}" if ts["loss"] is None else
                     f"{t['loss']:.3f} ± {ts['loss']:.3f}",
    }


def results_table(metrics: dict[str, dict], reported: list | None = None) -> str:
    """One row per measured model, then one per `reported` result (har.config.ReportedResult).

    A reported row carries only the published accuracy, in the video column, and is
    marked as reported in the model cell; a numbered note below says where from.
    """
    rows = [measured_row(name, m) for name, m in metrics.items()]
    notes = []
    for i, result in enumerate(reported or [], 1):
        row = dict.fromkeys(COLUMNS, "–")
        row["model"] = f"`{result.model}`, reported [{i}]"
        row[COLUMNS[VIDEO_ACCURACY]] = f"{result.accuracy:.2f}%"
        rows.append(row)
        notes.append(f"[{i}] Reported, not measured here: {result.source}; {result.protocol}.")
    table = pd.DataFrame(rows, columns=COLUMNS).to_markdown(index=False, tablefmt="github",
                                                             disable_numparse=True)
    return table + "\n" + ("\n" + "\n".join(notes) + "\n" if notes else "")


def render_results(params, metrics_dir: Path) -> str:
    """reports/results.md: the results table of params.yaml's models, from `metrics_dir` alone.

    The one renderer of the results: the report stage writes it, and har.results_check
    compares README.md's results block and reports/results.md with it.
    """
    models = list(params.models)
    metrics = load_metrics(metrics_dir, models)
    ds = params.dataset
    which = "its one split" if ds.name == "folder" else f"official split {ds.split}"
    seeds = ", ".join(map(str, params.train.seeds))
    text = ("# Results\n\n" + results_table(metrics, params.reported) +
            f"\nAccuracies on the test set of {DATASET_NAMES[ds.name]}, {which}, as mean ± "
            f"standard deviation over the seeds ({seeds}); the best epoch is chosen on "
            f"validation.\nVideo accuracy averages the softmax over {protocol_text(metrics, params)} "
            "of each video; its 95% CI is the Wilson interval over the test videos at the seed "
            "mean. Mean class accuracy is the mean over classes of each class's video "
            "accuracy.\n")
    predictions = load_predictions(Path(metrics_dir) / "confusion", models)
    warnings = model_warnings(metrics, predictions)
    if warnings:
        text += "\n**Warning.** " + " ".join(warnings) + "\n"
    by_type = action_type_table(metrics, {name: video_counts(p) for name, p in predictions.items()})
    if by_type:
        text += ("\n## Video accuracy by action type\n\nThe five types of the UCF101 paper "
                 "(Soomro et al. 2012, Fig. 2), over each type's test videos, mean over seeds.\n\n"
                 + by_type)
    per_class = per_class_table(metrics, predictions)
    if per_class:
        text += ("\n## Video accuracy per class\n\nMean over seeds, worst first (by the mean "
                 "over the models).\n\n" + per_class)
    return text


CROPS = {1: "one centre crop", 3: "3 crops (both ends and the middle of the long side)"}


def protocol_text(metrics: dict[str, dict], params) -> str:
    """The test protocol, e.g. "3 clips x one centre crop": each model's metrics record theirs
    (the evaluate stage's `protocol`); metrics from before that record are eval.clips x 1 crop."""
    fallback = {"clips": params.eval.clips, "crops": 1}
    found = {name: m.get("protocol", fallback) for name, m in metrics.items()}

    def text(p: dict) -> str:
        clips = f"{p['clips']} clip{'s' if p['clips'] != 1 else ''}"
        return f"{clips} x {CROPS.get(p['crops'], str(p['crops']) + ' crops')}"
    kinds = {text(p) for p in found.values()} or {text(fallback)}
    if len(kinds) == 1:
        return kinds.pop()
    return "; ".join(f"`{name}`: {text(p)}" for name, p in found.items())


def model_warnings(metrics: dict[str, dict], predictions: dict[str, pd.DataFrame]) -> list[str]:
    """One sentence per model that learned nothing useful, as far as the test set shows.

    At chance: chance (1 / the test set's classes) lies inside the 95% Wilson interval of its
    seed-mean mean class accuracy over the test videos (an all-majority model scores exactly
    chance). One class: on some seed, every test video is predicted as the same class.
    """
    found = []
    for name, m in metrics.items():
        classes = len(m["per_class_video_top1"])
        problems = []
        mca = m["mean"]["test"].get("video_mean_class_top1")
        if mca is not None and classes > 1:
            low, _ = wilson_interval(mca, m["test_videos"])
            if low <= 1 / classes:
                problems.append(f"its mean class accuracy, {100 * mca:.1f}%, is at chance "
                                f"({100 / classes:.1f}% for {classes} classes)")
        p = predictions.get(name)
        if p is not None and p["actual"].nunique() > 1:
            one = [(seed, g["predicted"].iloc[0]) for seed, g in p.groupby("seed", sort=False)
                   if g["predicted"].nunique() == 1]
            if one:
                seeds = ", ".join(str(s) for s, _ in one)
                named = sorted({c for _, c in one})
                problems.append(f"it predicts one class ({', '.join(named)}) for every test "
                                f"video on seed{'s' if len(one) > 1 else ''} {seeds}")
        if problems:
            found.append(f"`{name}` learned nothing useful: {'; '.join(problems)}.")
    return found


def per_class_table(metrics: dict[str, dict], predictions: dict[str, pd.DataFrame]) -> str | None:
    """Per class (rows) and model (columns): the video accuracy, mean over seeds, and the
    class's test videos; worst first by the mean over the models, then by name."""
    table = pd.DataFrame({f"`{name}`": pd.Series(m["per_class_video_top1"], dtype=float)
                          for name, m in metrics.items()})
    if table.empty:
        return None
    order = table.mean(axis=1).rename("mean").to_frame().assign(name=table.index)
    table = table.loc[order.sort_values(["mean", "name"]).index]
    counts = next((video_counts(p) for p in predictions.values()), pd.Series(dtype=int))
    out = table.apply(lambda col: col.map(lambda v: "–" if pd.isna(v) else f"{100 * v:.1f}%"))
    out.insert(0, "test videos", [str(int(counts.get(c, 0))) for c in table.index])
    out.insert(0, "class", list(table.index))
    return out.to_markdown(index=False, tablefmt="github", disable_numparse=True) + "\n"


def load_predictions(confusion_dir: Path, models: list[str]) -> dict[str, pd.DataFrame]:
    """Per model, every seed's per-video predictions (the aggregate stage's table)."""
    out = {}
    for name in models:
        path = Path(confusion_dir) / f"{name}.csv"
        if not path.is_file():
            raise MissingFileError(f"{path}: no predictions for model {name!r} "
                                   f"(run dvc repro aggregate@{name})")
        out[name] = pd.read_csv(path, dtype=str)
    return out


def video_counts(predictions: pd.DataFrame) -> pd.Series:
    """Test videos per true class, from one seed's rows of a predictions table."""
    one_seed = predictions[predictions["seed"] == predictions["seed"].iloc[0]]
    return one_seed["actual"].value_counts()


def video_counts_by_class(confusion_dir: Path, models: list[str]) -> dict[str, pd.Series]:
    """Per model, test videos per true class, from the aggregate stage's predictions table."""
    return {name: video_counts(p) for name, p in load_predictions(confusion_dir, models).items()}


def action_type_table(metrics: dict[str, dict], counts: dict[str, pd.Series]) -> str | None:
    """Video accuracy by the five UCF101 action types, or None when the classes are not UCF101's.

    A type's accuracy is over its test videos (class accuracies weighted by their
    video counts), so it reads like the overall video accuracy.
    """
    types = load_ucf101_types()
    if not metrics or any(not set(m["per_class_video_top1"]) <= set(types) for m in metrics.values()):
        return None
    rows = []
    for name, m in metrics.items():
        accuracy = accuracy_by_type(m["per_class_video_top1"], counts[name].to_dict())
        rows.append({"model": f"`{name}`", **{t: f"{100 * accuracy[t]:.1f}%" if t in accuracy
                                                 else "–" for t in TYPES}})
    return pd.DataFrame(rows, columns=["model", *TYPES]).to_markdown(
        index=False, tablefmt="github", disable_numparse=True) + "\n"


def plot_curves(metrics: Path, models: list[str], seeds: list[int], out_png: Path) -> None:
    """Per model: the mean over seeds as a line, the band from the lowest to the highest seed
    (validation), from the aggregate stage's metrics/curves/<model>.csv."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for i, name in enumerate(models):
        path = paths.curves_file(name, metrics)
        if not path.is_file():
            raise MissingFileError(f"{path}: no curves for model {name!r} (run its aggregate "
                                   "stage: dvc repro aggregate@" + name + ")")
        curves = pd.read_csv(path).set_index("epoch")
        color = f"C{i % 10}"
        for ax, metric in zip(axes, ("loss", "top1")):
            for split, style in (("train", "--"), ("val", "-")):
                ax.plot(curves.index, curves[f"{split}_{metric}"], style, color=color,
                        label=f"{name} {split}")
            if len(seeds) > 1:
                ax.fill_between(curves.index, curves[f"val_{metric}_min"],
                                curves[f"val_{metric}_max"], color=color, alpha=0.15, linewidth=0)
    for ax, title in zip(axes, ("loss", "accuracy (top-1)")):
        ax.set_title(f"{title}: mean over {len(seeds)} seeds, validation band min–max")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110, format="png")  # the path may be a .tmp name
    plt.close(fig)
