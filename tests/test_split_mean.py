"""`har split-mean` on real DVC experiments: `dvc exp run -S dataset.split=k` for k = 1, 2, 3.

The repository is a toy whose one stage writes metrics from params.yaml (video top-1 of
0.5 + split / 10 + weight decay), so that the test runs DVC's real experiment machinery in seconds.
"""

from pathlib import Path

import pytest
import yaml

from har.split_mean import (SplitMeanError, exp_show, report_split_mean, runs_by_split,
                            runs_from_exp_show)
from scratch_repo import ROOT, run
from tables import markdown_rows

pytestmark = pytest.mark.slow  # three real `dvc exp run` experiments

FAKE_EVALUATE = """
import json, os, yaml
p = yaml.safe_load(open("params.yaml"))
os.makedirs("metrics", exist_ok=True)
for model in p["models"]:
    top1 = 0.5 + p["dataset"]["split"] / 10 + p["train"]["weight_decay"]
    with open(f"metrics/{model}.json", "w") as f:
        json.dump({"mean": {"test": {"video_top1": top1, "clip_top1": top1 - 0.05}}}, f)
"""


@pytest.fixture
def toy_repo(tmp_path, monkeypatch) -> Path:
    (tmp_path / "evaluate.py").write_text(FAKE_EVALUATE)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"]["weight_decay"] = 0.0
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    metrics = [f"metrics/{m}.json" for m in params["models"]]
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"evaluate": {
        "cmd": "python evaluate.py", "deps": ["evaluate.py"], "params": ["dataset.split", "train"],
        "metrics": metrics}}}))
    run(["git", "init", "-q"], tmp_path)
    run(["dvc", "init", "-q"], tmp_path)
    run(["git", "add", "-A"], tmp_path)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "toy"], tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_mean_over_the_three_split_experiments(toy_repo):
    for k in (1, 2, 3):  # the README's loop
        run(["dvc", "exp", "run", "-S", f"dataset.split={k}"], toy_repo)
    text = report_split_mean(toy_repo)
    params = yaml.safe_load((toy_repo / "params.yaml").read_text())
    rows = {cells[0]: cells[1:] for cells in markdown_rows(text)}
    assert rows["model"] == ["split 1", "split 2", "split 3", "3-split mean (video)", "std",
                             "3-split mean (clip)"]
    for model in params["models"]:  # 60%, 70%, 80%: mean 70%, population std 8.16
        assert rows[f"`{model}`"] == ["60.00%", "70.00%", "80.00%", "**70.00%**", "8.16", "65.00%"]
    assert (toy_repo / "reports/split_mean.md").read_text() == text

    runs = runs_from_exp_show(exp_show(toy_repo))
    assert sorted(r.params["dataset"]["split"] for r in runs) == [1, 2, 3]  # the commit has no metrics
    with pytest.raises(SplitMeanError, match=r"no experiment of split 3 .* run: dvc exp run -S "
                                             r"dataset\.split=3"):
        runs_by_split([r for r in runs if r.params["dataset"]["split"] != 3], params)
    # Other params than the split: the experiments no longer describe this configuration.
    params["train"]["weight_decay"] = 0.01
    with pytest.raises(SplitMeanError, match="no experiment of split 1, 2, 3 with the current"):
        runs_by_split(runs, params)
