"""DVC's contract, pinned: after each kind of edit, `dvc repro` runs exactly the stages the edit
touched, restores from the run-cache what it has run before, and leaves nothing stale.

One scratch project on a tiny folder dataset (so that videos can be added, removed and
replaced) goes through a catalogue of edits in order; after each, a real `dvc repro`, and
the exact sets of stages that ran and that were restored, read from DVC's own output. The
table in docs/pipeline.md ("What `dvc repro` re-runs") states the same contract.

Minutes: every stage is a process that imports torch. Marked slow.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from scratch_repo import TINY, copy_repo, run, set_params, tiny_folder_params
from videos import tiny_avi

pytestmark = pytest.mark.slow

CLASSES = ("jump", "wave")
GROUPS = 5  # per class, one clip each: test takes 1 or 2 groups, validation 1 of the rest


def video_name(cls: str, group: int) -> str:
    return f"{cls}/v_{cls}_g{group:02d}_c01.avi"


def write_video(root: Path, rel: str, shade: int, scratch: Path) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_bytes(tiny_avi(scratch, shade))


def repro(repo: Path) -> tuple[set[str], set[str]]:
    """(stages that ran, stages restored from the run-cache) in one `dvc repro`."""
    out = run(["dvc", "repro"], repo).stdout
    ran = set(re.findall(r"^Running stage '([^']+)'", out, re.M))
    restored = set(re.findall(r"^Stage '([^']+)' is cached - skipping run", out, re.M))
    return ran, restored


def per_run(stage: str, models, seeds) -> set[str]:
    return {f"{stage}@{m}-{s}" for m in models for s in seeds}


def per_model(stage: str, models) -> set[str]:
    return {f"{stage}@{m}" for m in models}


def downstream_of_data(models, seeds) -> set[str]:
    """Everything that reads the frames or splits: all runs, their summaries and the report."""
    return (per_run("features", models, seeds) | per_run("train", models, seeds)
            | per_run("evaluate", models, seeds) | per_model("aggregate", models) | {"report"})


def append_comment(path: Path) -> None:
    path.write_text(path.read_text() + "\n# an edit that changes no behaviour\n")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The scratch project, after one full `dvc repro` (cnn3d and crnn, seed 0)."""
    base = tmp_path_factory.mktemp("contract")
    repo = copy_repo(base / "repo",
                     tiny_folder_params({m: TINY["models"][m] for m in ("cnn3d", "crnn")}))
    scratch = base / "scratch"
    scratch.mkdir()
    for i, (cls, group) in enumerate((c, g) for c in CLASSES for g in range(1, GROUPS + 1)):
        write_video(repo / "videos", video_name(cls, group), 10 + 20 * i, scratch)
    repro(repo)
    return repo


# The catalogue, in order: each entry edits the project left by the one before.
# (name, edit(repo, scratch), stages that must run, stages that must be restored)
M2, M3 = ("cnn3d", "crnn"), ("cnn3d", "crnn", "frame_avg")
LISTING = "listing/dvc.yaml:listing"  # runs every time: it lists the folder dataset
S1, S2 = (0,), (0, 1)


def _add_video(repo, scratch):
    write_video(repo / "videos", video_name("jump", GROUPS + 1), 250, scratch)


def _replace_video(repo, scratch):
    # Other pixels, the same name, size and frame count: the frames file's md5 in the
    # manifest changes, so split runs (to the same splits) and every run re-runs.
    write_video(repo / "videos", video_name("wave", 2), 251, scratch)


def _remove_video(repo, scratch):
    (repo / "videos" / video_name("jump", 3)).unlink()


def _dataset_param(repo, scratch):
    set_params(repo, dataset={"folder": {"seed": 1}})  # another draw of the test groups


def _add_seed(repo, scratch):
    set_params(repo, train={"seeds": [0, 1]})


def _add_model(repo, scratch):
    set_params(repo, models={"frame_avg": TINY["models"]["frame_avg"]})


def _model_option(repo, scratch):
    set_params(repo, models={"cnn3d": {"model": {"dropout": 0.4}}})


def _family_code(repo, scratch):
    append_comment(repo / "har" / "models" / "cnn3d.py")


def _shared_code(repo, scratch):
    append_comment(repo / "har" / "resume.py")  # every train stage runs it


def _eval_clips(repo, scratch):
    set_params(repo, eval={"clips": 1})


def _report_code(repo, scratch):
    append_comment(repo / "har" / "report.py")


def _back_to_params_run_before(repo, scratch):
    set_params(repo, eval={"clips": TINY["eval"]["clips"]})


DATA_CHANGED = {LISTING, "download", "extract", "split"} | downstream_of_data(M2, S1)
CATALOGUE = [
    ("add a video", _add_video, DATA_CHANGED, set()),
    ("replace a video", _replace_video, DATA_CHANGED, set()),
    ("remove a video", _remove_video, DATA_CHANGED, set()),
    # The videos are the same, so extract has nothing to do; the split files are not.
    ("change a dataset param", _dataset_param,
     {LISTING, "params", "download", "split"} | downstream_of_data(M2, S1), set()),
    ("add a seed", _add_seed,
     {LISTING, "params", "report"} | per_run("features", M2, (1,)) | per_run("train", M2, (1,))
     | per_run("evaluate", M2, (1,)) | per_model("aggregate", M2), set()),
    ("add a model", _add_model,
     {LISTING, "code", "params", "report", "weights@frame_avg", "aggregate@frame_avg"}
     | per_run("features", ("frame_avg",), S2) | per_run("train", ("frame_avg",), S2)
     | per_run("evaluate", ("frame_avg",), S2), set()),
    ("change one model's option", _model_option,
     {LISTING, "code", "params", "report", "weights@cnn3d", "aggregate@cnn3d"}
     | per_run("features", ("cnn3d",), S2) | per_run("train", ("cnn3d",), S2)
     | per_run("evaluate", ("cnn3d",), S2), set()),
    # A comment: the model is trained again, to the same bits, so nothing after it runs.
    ("edit one family's code", _family_code,
     {LISTING, "code", "weights@cnn3d"} | per_run("features", ("cnn3d",), S2)
     | per_run("train", ("cnn3d",), S2) | per_run("evaluate", ("cnn3d",), S2), set()),
    ("edit a shared code file", _shared_code, {LISTING, "code"} | per_run("train", M3, S2), set()),
    ("change eval.clips", _eval_clips,
     {LISTING, "params", "report"} | per_run("evaluate", M3, S2) | per_model("aggregate", M3),
     set()),
    ("edit the report code", _report_code, {LISTING, "code", "report"}, set()),
    # Everything it ran before comes back from the run-cache, the params check included; only
    # the report (an uncached output: its table is in git) runs again.
    ("go back to params that ran before", _back_to_params_run_before,
     {LISTING, "report"}, {"params"} | per_run("evaluate", M3, S2) | per_model("aggregate", M3)),
]


def test_each_edit_runs_exactly_what_it_touched(project, tmp_path):
    failures = []
    for name, edit, must_run, must_restore in CATALOGUE:
        edit(project, tmp_path)
        ran, restored = repro(project)
        if (ran, restored) != (must_run, must_restore):
            failures.append(f"{name}:\n  ran      {sorted(ran)}\n  expected {sorted(must_run)}"
                            f"\n  restored {sorted(restored)}\n  expected {sorted(must_restore)}")
    assert not failures, "\n".join(failures)
    # And the last state is complete: nothing left to do.
    ran, restored = repro(project)
    assert (ran, restored) == ({LISTING}, set())


def test_a_restored_result_is_what_running_it_again_gives(project):
    # After the catalogue, whose last step restored every evaluation from the run-cache:
    # evaluating one run again, with no run-cache to serve it, gives the very bytes restored.
    seed_file = project / "models" / "cnn3d" / "seed1" / "test.json"
    before = seed_file.read_bytes()
    shutil.rmtree(project / ".dvc" / "cache" / "runs")
    run(["dvc", "repro", "-f", "-s", "evaluate@cnn3d-1"], project)
    assert seed_file.read_bytes() == before
