"""Hostile data around the videos, built here: special files in a folder dataset (and DVC
beside them), corrupted checkpoints, and params that are NaN or would cost outputs."""

from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path

import pytest
import torch
import yaml

import commands
from har.checkpoint import DIGEST_KEY, load_model, save_checkpoint
from har.cli import main
from har.config import ConfigError, deep_merge, load_params, parse_params
from har.datasets.folder import scan_folder
from har.datasets.raw import prepare_raw
from har.datasets.splits import SplitError
from scratch_repo import ROOT, copy_repo, run

pytestmark = pytest.mark.slow  # a `dvc repro` with a params typo, hostile folders under DVC

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


# Folder datasets

def hostile_tree(root: Path) -> None:
    """Two classes of three 'videos' (the scan never opens them), plus every kind of trap."""
    for cls in ("A", "B"):
        (root / cls).mkdir(parents=True)
        for g in (1, 2, 3):
            (root / cls / f"v_{cls}_g0{g}_c01.avi").write_bytes(b"video " + cls.encode())
    os.mkfifo(root / "A" / "pipe.avi")  # reading blocks until a writer comes: forever
    (root / "A" / "zero.avi").symlink_to("/dev/zero")  # reading never ends
    (root / "A" / "dangling.avi").symlink_to(root / "A" / "gone.avi")
    (root / "B" / "passwd_link.avi").symlink_to("/etc/passwd")  # would be copied and pushed
    (root / "B" / "folder.avi").mkdir()
    (root / "B" / "inside.avi").symlink_to(root / "A" / "v_A_g01_c01.avi")  # stays inside: a video
    (root / "C").symlink_to("/etc")  # a class folder outside the root
    os.mkfifo(root / "rootpipe")


def test_the_scan_takes_regular_files_inside_the_root_and_lists_the_rest(tmp_path, monkeypatch):
    hostile_tree(tmp_path / "root")
    monkeypatch.chdir(tmp_path)  # a short relative path: socket paths are limited to 108 bytes
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind("root/A/sock.avi")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            videos = scan_folder(Path("root"))
    assert videos == ["A/v_A_g01_c01.avi", "A/v_A_g02_c01.avi", "A/v_A_g03_c01.avi",
                      "B/inside.avi", "B/v_B_g01_c01.avi", "B/v_B_g02_c01.avi", "B/v_B_g03_c01.avi"]
    (skipped,) = [str(w.message) for w in caught if "skipped" in str(w.message)]
    for entry in ["A/pipe.avi (a named pipe)", "A/zero.avi (a link to /dev/zero, outside the folder)",
                  "A/dangling.avi (a dangling link)", "A/sock.avi (a socket)",
                  "B/passwd_link.avi (a link to /etc/passwd, outside the folder)",
                  "B/folder.avi (a directory)", "C (a link to /etc, outside the folder)",
                  "rootpipe (a named pipe)"]:
        assert entry in skipped
    assert "skipped 8 entries" in skipped


def test_a_root_that_is_not_a_readable_folder_is_our_error(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "file").write_text("x")
    for root in (tmp_path / "pipe", tmp_path / "file", tmp_path / "missing"):
        with pytest.raises(SplitError, match=f"{root}: not a folder of class folders"):
            scan_folder(root)


def test_the_download_stage_links_only_the_accepted_files(tmp_path):
    hostile_tree(tmp_path / "root")
    params = parse_params(deep_merge(PARAMS, {"dataset": {
        "name": "folder", "split": 1,
        "folder": {"root": str(tmp_path / "root"), "extensions": [".avi"], "test_fraction": 0.34}}}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepare_raw(params.dataset, tmp_path / "archives", tmp_path / "raw", progress=False)
    stored = sorted(p.relative_to(tmp_path / "raw" / "videos").as_posix()
                    for p in (tmp_path / "raw" / "videos").rglob("*"))
    assert stored == ["A", "A/v_A_g01_c01.avi", "A/v_A_g02_c01.avi", "A/v_A_g03_c01.avi",
                      "B", "B/inside.avi", "B/v_B_g01_c01.avi", "B/v_B_g02_c01.avi",
                      "B/v_B_g03_c01.avi"]
    assert all(not p.is_symlink() for p in (tmp_path / "raw").rglob("*"))
    assert (tmp_path / "raw/videos/B/inside.avi").read_bytes() == b"video A"


def test_dvc_status_does_not_hang_whatever_the_folder_holds(tmp_path):
    repo = copy_repo(tmp_path / "repo", PARAMS)
    hostile_tree(repo / "videos" / "mine")
    # Before, dvc.yaml made the folder a dependency and DVC read every file in it: it blocked
    # on the pipe and read /dev/zero for ever. A hang here is a failure, not a slow test.
    proc = commands.run(["dvc", "status"], repo, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "download" in proc.stdout  # it did look at the pipeline: nothing has run yet


# Checkpoints

@pytest.fixture(scope="module")
def checkpoint(tiny_model, tmp_path_factory) -> Path:
    ckpt = torch.load(tiny_model.checkpoint, weights_only=True)
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_checkpoint(ckpt, path)
    return path


def flip_exponent_byte(path: Path, tensor: torch.Tensor, out: Path) -> None:
    """`path` with one exponent bit of one weight flipped (the issue's corruption)."""
    data = bytearray(path.read_bytes())
    at = data.find(tensor.contiguous().numpy().tobytes())
    assert at > 0
    data[at + 3] ^= 0x01  # float32 little-endian: byte 3 holds the sign and exponent
    out.write_bytes(bytes(data))


def test_a_checkpoint_carries_a_digest_checked_at_load(checkpoint, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a checkpoint with a digest loads without a warning
        model, _, ckpt = load_model(checkpoint)
    assert len(ckpt[DIGEST_KEY]) == 64
    weight = max(ckpt["state_dict"].values(), key=lambda t: t.numel())
    bad = tmp_path / "flipped.pt"
    flip_exponent_byte(checkpoint, weight, bad)
    with pytest.raises(ValueError, match=f"{bad}: corrupted: its weights do not match"):
        load_model(bad)


def test_har_predict_refuses_a_corrupted_checkpoint_with_exit_2(checkpoint, tiny_model, tmp_path,
                                                                capsys):
    ckpt = torch.load(checkpoint, weights_only=True)
    bad = tmp_path / "model.pt"
    flip_exponent_byte(checkpoint, ckpt["state_dict"]["classifier.weight"]
                       if "classifier.weight" in ckpt["state_dict"]
                       else next(iter(ckpt["state_dict"].values())), bad)
    video = next(tiny_model.videos.rglob("*.avi"))
    assert main(["predict", str(video), "--model", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: corrupted" in err and "Traceback" not in err


def test_an_old_checkpoint_without_a_digest_loads_with_a_warning(checkpoint, tmp_path):
    ckpt = torch.load(checkpoint, weights_only=True)
    del ckpt[DIGEST_KEY]
    old = tmp_path / "old.pt"
    torch.save(ckpt, old)
    with pytest.warns(UserWarning, match=f"{old}: saved without a digest"):
        load_model(old)


# Params

@pytest.mark.parametrize("section, key, value", [
    ("train", "lr", float("nan")), ("serve", "max_upload_mb", float("nan")),
    ("train", "weight_decay", float("inf")), ("split", "val_fraction", float("-inf")),
])
def test_nan_and_infinities_are_refused_naming_the_key(section, key, value):
    with pytest.raises(ConfigError, match=f"'{section}.{key}' must be a finite number"):
        parse_params(deep_merge(PARAMS, {section: {key: value}}))


def test_nan_inside_a_models_options_is_refused_naming_the_key():
    name = next(iter(PARAMS["models"]))
    with pytest.raises(ConfigError, match=f"'models.{name}.model.dropout' must be a finite number"):
        parse_params(deep_merge(PARAMS, {"models": {name: {"model": {"dropout": float("nan")}}}}))


def test_yaml_nan_from_the_file_and_the_hint_under_dvc(tmp_path, monkeypatch):
    path = tmp_path / "params.yaml"
    path.write_text((ROOT / "params.yaml").read_text().replace("\n  lr: ", "\n  lr: .nan #", 1))
    with pytest.raises(ConfigError, match="'train.lr' must be a finite number") as plain:
        load_params(path)
    assert "dvc checkout" not in str(plain.value)  # har serve, har models: no DVC involved
    monkeypatch.setenv("DVC_STAGE", "train@crnn")
    with pytest.raises(ConfigError, match=r"(?s)'train.lr'.*DVC removed the outputs of stage "
                                          r"'train@crnn'.*`dvc checkout train@crnn`.*"
                                          r"`git checkout -- metrics/ reports/`"):
        load_params(path)


TOY_PIPELINE = {"stages": {
    # What the project's dvc.yaml does: the whole file is checked first, and everything
    # else is downstream of the check's marker.
    "params": {"cmd": f"python {ROOT / 'stages' / 'params.py'}",
               "params": [{"params.yaml": None}], "outs": ["data/params.ok"]},
    "train": {"cmd": "python -c \"from har.config import load_params; load_params(); "
                     "open('model.txt', 'w').write('trained')\"",
              "deps": ["data/params.ok"], "params": ["train.lr"], "outs": ["model.txt"]},
}}


def test_a_params_typo_costs_no_outputs_under_dvc_repro(tmp_path):
    repo = tmp_path / "toy"
    repo.mkdir()
    (repo / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    (repo / "dvc.yaml").write_text(yaml.safe_dump(TOY_PIPELINE))
    run(["git", "init", "-q"], repo)
    run(["dvc", "init", "-q"], repo)
    run(["dvc", "repro", "-q"], repo)
    assert (repo / "model.txt").read_text() == "trained"

    text = (repo / "params.yaml").read_text()
    (repo / "params.yaml").write_text(text.replace("\n  lr: ", "\n  lr: .nan #", 1))
    # Without the check in front (-s: this stage alone), DVC deletes the output before the
    # stage fails, and the error says how to get it back.
    proc = run(["dvc", "repro", "-s", "train"], repo, check=False)
    assert proc.returncode != 0 and not (repo / "model.txt").exists()
    assert "'train.lr' must be a finite number" in proc.stderr
    assert "`dvc checkout train` restores" in proc.stderr
    run(["dvc", "checkout", "train"], repo)
    assert (repo / "model.txt").read_text() == "trained"

    # With it, the check stops DVC before anything is deleted.
    proc = run(["dvc", "repro"], repo, check=False)
    assert proc.returncode != 0 and "'train.lr' must be a finite number" in proc.stderr
    assert (repo / "model.txt").read_text() == "trained"


def test_the_project_pipeline_runs_the_params_check_before_every_other_stage():
    from dvc.repo import Repo
    import networkx as nx

    with Repo(str(ROOT)) as repo:
        graph = repo.index.graph  # edges go from a stage to the stages it depends on
        checks = [s for s in graph if s.cmd and "stages/params.py" in s.cmd]
        assert len(checks) == 1, "dvc.yaml has no stage running stages/params.py"
        # Every stage but the code stage comes after the check. The code stage comes before
        # it (the check depends on its own code's md5s): it deletes only data/code/, md5s it
        # rewrites in under a second, and it reads params.yaml with the same loader, so a
        # typo there stops it with the same message.
        code = [s for s in graph if s.cmd and "stages/code.py" in s.cmd]
        upstream_of_all = set(nx.ancestors(graph, checks[0]))
        assert upstream_of_all == set(graph) - {checks[0]} - set(code)
        assert set(nx.descendants(graph, checks[0])) == set(code)
