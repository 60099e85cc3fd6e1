"""The mean over the three official splits, the number the literature reports for UCF101 and HMDB51.

Each split is one DVC experiment of the same params.yaml except `dataset.split`:

    for k in 1 2 3; do dvc exp run -S dataset.split=$k; done
    har split-mean

The experiments run one after another in the workspace, so the download, the frames
and the pretrained weights are reused (the download stage does not depend on
`dataset.split`); only split, train, evaluate and report run again. `har split-mean`
reads every experiment of the current commit with `dvc exp show --json`, keeps those
whose params equal the workspace's params.yaml in everything but `dataset.split`,
takes the newest of each split, and averages each model's test accuracy over them.
A committed run counts too. The workspace itself does not: its metrics may be older
than its params.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from har.errors import InputError

SPLITS = (1, 2, 3)
REPORT = Path("reports/split_mean.md")


class SplitMeanError(InputError):
    """The experiments needed for the mean are missing or unreadable."""


@dataclass(frozen=True)
class Run:
    name: str  # experiment name, or the branch / commit for a committed run
    rev: str
    timestamp: str  # ISO 8601, so it sorts
    params: dict  # params.yaml as the run saw it
    metrics: dict[str, dict]  # metrics file path -> its content


def exp_show(repo: Path) -> list:
    """`dvc exp show --json` of `repo` (the current commit and its experiments)."""
    proc = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json"], cwd=repo,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SplitMeanError(f"dvc exp show failed in {repo}: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout)


def runs_from_exp_show(shown: list) -> list[Run]:
    """Every committed run and experiment with params and metrics (the workspace excluded)."""
    runs = []

    def add(entry: dict, name: str) -> None:
        data = entry.get("data") or {}
        params = ((data.get("params") or {}).get("params.yaml") or {}).get("data")
        metrics = {path: m["data"] for path, m in (data.get("metrics") or {}).items() if m.get("data")}
        if params and metrics and data.get("timestamp"):
            runs.append(Run(name or entry["rev"][:7], entry["rev"], data["timestamp"], params, metrics))

    for baseline in shown:
        if baseline.get("rev") == "workspace":
            continue
        add(baseline, baseline.get("name"))
        for experiment in baseline.get("experiments") or []:
            for rev in experiment.get("revs") or []:
                add(rev, rev.get("name") or experiment.get("name"))
    return runs


def _without_split(params: dict) -> dict:
    rest = copy.deepcopy(params)
    rest.get("dataset", {}).pop("split", None)
    return rest


def runs_by_split(runs: list[Run], params: dict) -> dict[int, Run]:
    """The newest run of each split whose params equal `params` except for dataset.split."""
    wanted = _without_split(params)
    chosen: dict[int, Run] = {}
    for run in sorted(runs, key=lambda r: r.timestamp):
        split = run.params.get("dataset", {}).get("split")
        if split in SPLITS and _without_split(run.params) == wanted:
            chosen[split] = run
    missing = [k for k in SPLITS if k not in chosen]
    if missing:
        commands = "; ".join(f"dvc exp run -S dataset.split={k}" for k in missing)
        raise SplitMeanError(f"no experiment of split {', '.join(map(str, missing))} with the "
                             f"current params.yaml (found {len(runs)} runs in all); run: {commands}")
    return chosen


def split_mean_table(by_split: dict[int, Run], models: list[str]) -> str:
    """Markdown: per model, video top-1 of each split (the seed mean), their mean and spread
    across splits, and clip top-1's mean."""
    rows = []
    for model in models:
        for k in SPLITS:
            run = by_split[k]
            test = run.metrics.get(f"metrics/{model}.json", {}).get("mean", {}).get("test")
            if test is None:
                raise SplitMeanError(f"experiment {run.name} ({run.rev[:7]}) has no "
                                     f"metrics/{model}.json with seed means")
            rows.append({"model": model, "split": k, "video": test["video_top1"],
                         "clip": test["clip_top1"]})
    table = pd.DataFrame(rows)
    video = table.pivot(index="model", columns="split", values="video").reindex(models)
    out = pd.DataFrame({f"split {k}": video[k].map(lambda v: f"{100 * v:.2f}%") for k in SPLITS})
    out["3-split mean (video)"] = video.mean(axis=1).map(lambda v: f"**{100 * v:.2f}%**")
    # The population std: the three official splits are all there is, not a sample of splits.
    out["std"] = video.std(axis=1, ddof=0).map(lambda v: f"{100 * v:.2f}")
    clip = table.groupby("model")["clip"].mean().reindex(models)
    out["3-split mean (clip)"] = clip.map(lambda v: f"{100 * v:.2f}%")
    out.index = [f"`{m}`" for m in models]
    used = ", ".join(f"split {k}: {by_split[k].name} ({by_split[k].rev[:7]})" for k in SPLITS)
    return (out.rename_axis("model").reset_index().to_markdown(index=False, tablefmt="github",
                                                              disable_numparse=True)
            + f"\n\nExperiments: {used}.\n")


def report_split_mean(repo: Path = Path(".")) -> str:
    """Write reports/split_mean.md for the workspace's params.yaml; returns its text."""
    from har.config import load_params
    from har.fileio import write_text

    repo = Path(repo)
    params = load_params(repo / "params.yaml")  # a valid file, or a clear error
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    by_split = runs_by_split(runs_from_exp_show(exp_show(repo)), raw)
    text = (f"# Mean over the three official splits ({params.dataset.name})\n\n"
            "Video accuracy is the softmax averaged over each test video's clips; the literature "
            "reports UCF101 and HMDB51 as this 3-split mean.\n\n"
            + split_mean_table(by_split, list(params.models)))
    write_text(repo / REPORT, text)
    return text
