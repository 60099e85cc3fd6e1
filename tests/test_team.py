"""Team workflow on the shared tiny `dvc repro` (conftest `tiny_repo`): a remote round trip,
resuming a killed training, refusing another config's checkpoint, and two-process training."""

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch

import commands
from scratch_repo import run, set_params, threads_env

pytestmark = pytest.mark.slow  # the tiny `dvc repro` end to end: minutes

METRICS_SCHEMA = {
    "input": {"frames", "eval_frames", "height", "width"},
    "test": {"clip_top1", "clip_top5", "video_top1", "loss", "clips", "videos"},
    "train": {"best_epoch", "epochs", "train_top1", "val_top1"},
    "params": {"total", "trainable"},
}
EPOCHS = 3  # enough that a kill after the first checkpoint lands mid-run


def rows(repo: Path, split: str) -> int:
    return len((repo / f"data/splits/{split}.csv").read_text().strip().splitlines()) - 1


@pytest.fixture
def restore(tiny_repo):
    """Put params.yaml, dvc.lock and the outputs back as they were: other tests share the repo."""
    saved = {name: (tiny_repo / name).read_text() for name in ("params.yaml", "dvc.lock")}
    yield tiny_repo
    for name, text in saved.items():
        (tiny_repo / name).write_text(text)
    shutil.rmtree(tiny_repo / "checkpoints", ignore_errors=True)
    run(["dvc", "checkout", "-f", "-q"], tiny_repo)


def kill_after_first_checkpoint(repo: Path, model: str, threads: int | None = None) -> int:
    """Start `python stages/train.py <model> 0`, SIGKILL it once an epoch's checkpoint exists;
    returns the checkpoint's epoch."""
    checkpoint = repo / "checkpoints" / model / "seed0" / "last.pt"
    with open(repo.parent / "killed.log", "w") as log:
        proc = commands.popen([sys.executable, "stages/train.py", model, "0"], repo,
                              env=threads_env(threads), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, "training ended before it could be killed mid-run"
        # With train.nproc 2 the stage becomes torchrun, whose workers run in sessions of
        # their own: killing its process group would leave them training. Kill every
        # process of the tree at once, as a lost machine would.
        root = psutil.Process(proc.pid)
        tree = [root, *root.children(recursive=True)]
        for p in tree:
            p.kill()
        proc.wait()
        _, alive = psutil.wait_procs(tree, timeout=20)
        assert not alive
    epoch = torch.load(checkpoint, weights_only=False)["epoch"]
    assert 1 <= epoch < EPOCHS
    return epoch


def epoch_lines(out: str) -> list[int]:
    return [int(line.split()[1]) for line in out.splitlines() if line.startswith("  epoch ")]


def curves(repo: Path, model: str) -> dict[str, list[str]]:
    """dvclive's per-epoch rows (step and value, not the wall-clock timestamp)."""
    root = repo / "models" / model / "seed0" / "train/plots/metrics"
    return {str(p.relative_to(root)): [line.split("\t", 1)[1] for line in p.read_text().splitlines()]
            for p in sorted(root.rglob("*.tsv"))}


def commit_results(repo: Path) -> None:
    run(["dvc", "repro"], repo)  # other tests may have retrained a model since
    # metrics/ and reports/results.md are in git (cache: false in dvc.yaml), like dvc.lock.
    run(["git", "add", "dvc.lock", "metrics", "reports/results.md"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "results",
         "--allow-empty"], repo)


def assert_complete(clone: Path, repo: Path) -> None:
    """After `dvc pull`: the outputs are the pushed ones, and there is nothing to rebuild."""
    model = "models/cnn3d/seed1/model.pt"
    assert (clone / model).read_bytes() == (repo / model).read_bytes()
    # Only the listing stage, which runs every time (it lists a folder dataset's videos), and
    # whose output git does not carry; its list comes out the same, so nothing after it runs.
    status = json.loads(run(["dvc", "status", "--json"], clone).stdout)
    assert set(status) == {"listing/dvc.yaml:listing"}, status
    out = run(["dvc", "repro"], clone).stdout
    assert re.findall(r"^Running stage '([^']+)'", out, re.M) == ["listing/dvc.yaml:listing"], out


def test_push_then_a_fresh_clone_pulls_everything_and_has_nothing_to_rebuild(tiny_repo):
    repo = tiny_repo
    commit_results(repo)
    run(["dvc", "push"], repo)  # the default remote of .dvc/config: ../har-dvc-storage
    assert any((repo.parent / "har-dvc-storage").rglob("*"))
    # A teammate's clone beside it resolves the relative remote to the same folder.
    clone = repo.parent / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], repo.parent)
    run(["dvc", "pull"], clone)
    assert_complete(clone, repo)


def test_push_and_pull_through_an_s3_server_on_loopback(tiny_repo):
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        s3.create_bucket(Bucket="har")
        repo = tiny_repo
        commit_results(repo)

        def configure(clone: Path) -> None:
            # All --local (.dvc/config.local, never committed), as the README says credentials go.
            run(["dvc", "remote", "add", "--local", "s3", "s3://har/dvc"], clone)
            for key, value in (("endpointurl", endpoint), ("region", "us-east-1"),
                               ("access_key_id", "testing"), ("secret_access_key", "testing")):
                run(["dvc", "remote", "modify", "--local", "s3", key, value], clone)

        configure(repo)
        run(["dvc", "push", "-r", "s3"], repo)
        assert s3.list_objects_v2(Bucket="har", Prefix="dvc/")["KeyCount"] > 0
        assert "testing" not in run(["git", "show", "HEAD:.dvc/config"], repo).stdout
        clone = repo.parent / "s3-clone"
        run(["git", "clone", "-q", str(repo), str(clone)], repo.parent)
        configure(clone)
        run(["dvc", "pull", "-r", "s3"], clone)
        assert_complete(clone, repo)
    finally:
        server.stop()


def test_killed_training_resumes_to_the_same_result_and_another_configs_checkpoint_is_refused(
        restore):
    repo = restore
    set_params(repo, models={"cnn3d": {"train": {"epochs": EPOCHS, "lr": 0.002}}})
    kill_after_first_checkpoint(repo, "cnn3d")
    # Back to lr 0.001: the checkpoint (lr 0.002) must not be resumed, DVC reruns for a params
    # change just like this. Run directly, so DVC's run cache cannot answer the rerun below.
    set_params(repo, models={"cnn3d": {"train": {"lr": 0.001}}})
    out = run([sys.executable, "stages/train.py", "cnn3d", "0"], repo).stdout
    assert ("checkpoints/cnn3d/seed0/last.pt: refused, made with a different config "
            "(differs: train params); training from the start") in out
    assert epoch_lines(out) == list(range(1, EPOCHS + 1))
    assert not (repo / "checkpoints/cnn3d/seed0/last.pt").exists()  # finished: nothing to resume
    clean = torch.load(repo / "models/cnn3d/seed0/model.pt", weights_only=True)
    clean_curves = curves(repo, "cnn3d")

    done = kill_after_first_checkpoint(repo, "cnn3d")
    out = run(["dvc", "repro", "-s", "train@cnn3d-0"], repo).stdout
    assert f"checkpoints/cnn3d/seed0/last.pt: resuming after epoch {done}" in out
    assert epoch_lines(out) == list(range(done + 1, EPOCHS + 1))  # no epoch trained twice
    resumed = torch.load(repo / "models/cnn3d/seed0/model.pt", weights_only=True)
    # Bitwise the same weights (so the same test metrics), selection and curves.
    assert resumed["state_dict"].keys() == clean["state_dict"].keys()
    assert all(torch.equal(resumed["state_dict"][k], v) for k, v in clean["state_dict"].items())
    for key in ("best_epoch", "val_top1", "val_loss", "history"):
        assert resumed[key] == clean[key], key
    assert curves(repo, "cnn3d") == clean_curves  # one row per epoch, none lost or repeated
    assert all(len(rows) == EPOCHS + 1 for rows in clean_curves.values())  # header + epochs


def test_two_gloo_processes_train_count_each_validation_video_once_and_resume_bitwise(restore):
    repo = restore
    set_params(repo, models={"cnn3d": {"train": {"nproc": 2, "epochs": EPOCHS}}})
    # One thread per process: two processes of two threads would fight over 2 cores.
    # Directly, not through DVC, so that its run-cache cannot answer the resumed run below.
    out = run([sys.executable, "stages/train.py", "cnn3d", "0"], repo, threads=1).stdout
    assert "on cpu x 2 processes" in out
    assert epoch_lines(out) == list(range(1, EPOCHS + 1))  # rank 0 alone prints (and writes)
    clean = torch.load(repo / "models/cnn3d/seed0/model.pt", weights_only=True)
    assert clean["processes"] == 2 and clean["val_videos"] == rows(repo, "val")
    run([sys.executable, "stages/evaluate.py", "cnn3d", "0"], repo, threads=1)
    metrics = json.loads((repo / "models/cnn3d/seed0/test.json").read_text())
    for section, keys in METRICS_SCHEMA.items():
        assert keys <= set(metrics[section]), section
    assert metrics["test"]["videos"] == rows(repo, "test")
    assert not list(repo.rglob(".*.tmp"))  # no second writer left a temporary behind

    done = kill_after_first_checkpoint(repo, "cnn3d", threads=1)
    out = run(["dvc", "repro", "-s", "train@cnn3d-0"], repo, threads=1).stdout
    assert f"checkpoints/cnn3d/seed0/last.pt: resuming after epoch {done}" in out, out
    assert epoch_lines(out) == list(range(done + 1, EPOCHS + 1))
    resumed = torch.load(repo / "models/cnn3d/seed0/model.pt", weights_only=True)
    # Every rank's random streams were saved and restored: the same weights, bit for bit.
    assert all(torch.equal(resumed["state_dict"][k], v) for k, v in clean["state_dict"].items())
    for key in ("best_epoch", "val_top1", "val_loss", "history", "processes"):
        assert resumed[key] == clean[key], key


def queue_workers(repo: Path) -> list:
    """The background `dvc queue start` / queue-worker processes serving this repository."""
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if proc.info["cwd"] == str(repo) and ("queue-worker" in cmd or "queue start" in cmd):
            found.append(proc)
    return found


def test_a_queued_experiment_runs_and_reports_its_metrics(tiny_repo):
    import psutil

    repo = tiny_repo
    commit_results(repo)  # queued experiments start from the last commit
    # One experiment: a second would only run the same queue again. Only aggregate@cnn3d and
    # what it needs: the other models are not part of the question.
    run(["dvc", "exp", "run", "--queue", "-n", "lr2", "-S", "+models.cnn3d.train.lr=0.002",
         "aggregate@cnn3d"], repo)
    with open(repo.parent / "queue.log", "w") as log:
        # Redirected: the worker it starts keeps stdout open, so a pipe would never close.
        commands.run(["dvc", "queue", "start", "-j", "1"], repo, stdout=log, stderr=subprocess.STDOUT,
                     check=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            status = run(["dvc", "queue", "status"], repo).stdout
            if "Queued" not in status and "Running" not in status:
                break
            time.sleep(2)
        assert status.count("Success") == 1, status
    finally:
        workers = queue_workers(repo)
        for proc in workers:
            proc.kill()  # by PID: `dvc queue stop` would wait for an idle worker
        _, alive = psutil.wait_procs(workers, timeout=20)
    assert not alive

    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    baseline = next(r for r in shown if r["rev"] != "workspace")
    exps = {e["name"]: e["revs"][0] for e in baseline["experiments"] or []}
    assert "lr2" in exps
    data = exps["lr2"]["data"]
    assert data["params"]["params.yaml"]["data"]["models"]["cnn3d"]["train"]["lr"] == 0.002
    assert data["metrics"]["metrics/cnn3d.json"]["data"]["test_videos"] == rows(repo, "test")
    table = run(["dvc", "exp", "show", "--only-changed", "--md"], repo).stdout  # the README's
    row = next(line for line in table.splitlines() if "[lr2]" in line)
    assert "Success" in row and "0.002" in row
    diff = json.loads(run(["dvc", "metrics", "diff", "HEAD", exps["lr2"]["rev"], "--all", "--json"],
                          repo).stdout)
    assert "mean.test.video_top1" in diff["metrics/cnn3d.json"]  # per model, per key
    assert "std.test.video_top1" in diff["metrics/cnn3d.json"]  # and the spread over seeds
