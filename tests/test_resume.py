"""Which training checkpoints resume: the same run's does; one made before a code or data
change is refused by name and training starts over (the train-params case is in
tests/test_team.py); a run on cached features resumes to bitwise the uninterrupted result.
In-process (tests/scripted_training.py): seconds, no dvc repro."""

import pytest
import torch
import yaml

from har import paths
from har.fileio import read_csv, write_csv
from scripted_training import CHECKPOINT, ROOT, Script, copy_code, project, run, stage

pytestmark = pytest.mark.slow  # training runs interrupted and resumed

VAL = [(0.5, 1.0), (0.6, 0.9), (0.7, 0.8)]


@pytest.fixture
def killed(tmp_path, monkeypatch, capsys):
    """A scratch project whose training died right after epoch 1's checkpoint."""
    monkeypatch.chdir(project(tmp_path, epochs=len(VAL)))
    run(Script(VAL), stop_after=1)
    assert (tmp_path / CHECKPOINT).is_file()
    capsys.readouterr()
    return tmp_path


def rerun(capsys, first_epoch: int) -> tuple[list[int], str]:
    script = Script(VAL, first_epoch)
    run(script)
    return script.trained, capsys.readouterr().out


def test_an_unchanged_rerun_resumes(killed, capsys):
    trained, out = rerun(capsys, first_epoch=2)
    assert f"{CHECKPOINT}: resuming after epoch 1" in out and trained == [2, 3]


def append(path, text: str) -> None:
    with open(path, "a") as f:
        f.write(text)


@pytest.mark.parametrize("change, differs", [
    # A comment is enough: the fingerprint cannot tell a harmless edit from a fix.
    (lambda root: append(root / "har/engine.py", "# edited\n"), "code"),
    (lambda root: append(root / "stages/train.py", "# edited\n"), "code"),
    (lambda root: append(root / "har/models/cnn3d.py", "# edited\n"), "code"),
    (lambda root: append(root / "data/splits/train.csv", "A/v_A_g09_c01,0,A,g09,x.npz,8\n"),
     "data (splits, features)"),
    (lambda root: (root / "data/frames/A").mkdir(parents=True)
     or (root / "data/frames/A/v_A_g01_c01.npz").write_bytes(b"re-extracted"), "data (frames)"),
], ids=["engine", "train-stage", "model-code", "splits", "frames"])
def test_a_checkpoint_from_before_a_change_is_refused(killed, capsys, change, differs):
    change(killed)
    trained, out = rerun(capsys, first_epoch=1)
    assert (f"{CHECKPOINT}: refused, made with a different config (differs: {differs}); "
            "training from the start") in out
    assert trained == [1, 2, 3] and "resuming" not in out


@pytest.fixture
def cached_features(tmp_path, monkeypatch, tiny_model):
    """18 of the tiny model's videos, and a frozen encoder whose features stage ran on them."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["extract"].update({"frames": tiny_model.prep.source_frames,
                              "short_side": tiny_model.prep.short_side})
    # MobileNetV2 with no trainable layer: the cheapest fully frozen encoder, so it is cached.
    params["models"] = {"frozen": {"arch": "td_mobilenet_gru",
                                   "model": {"trainable_layers": 0, "units": 8, "dense": [8]},
                                   "train": {"epochs": 3, "frames": 4, "crop": 32,
                                             "batch_size": 8}}}
    params["train"]["seeds"] = [0]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "data").mkdir()
    (tmp_path / "data/frames").symlink_to(tiny_model.frames)
    rows = read_csv(tiny_model.frames.parent / "manifest.csv")
    fields = ["id", "label", "class", "group", "frames", "frames_stored"]
    for name, groups in (("train", range(1, 3)), ("val", range(3, 4))):  # 12 and 6 videos
        write_csv(tmp_path / "data/splits" / f"{name}.csv", fields,
                  [{**{k: r[k] for k in fields if k != "label"},
                    "label": tiny_model.classes.index(r["class"])}
                   for r in rows if int(r["group"][1:]) in groups])
    (tmp_path / "data/splits/classes.txt").write_text("".join(f"{c}\n" for c in tiny_model.classes))
    copy_code(tmp_path)
    monkeypatch.chdir(tmp_path)
    stage("features").main("frozen", 0)
    return tmp_path


def test_training_on_cached_features_resumes_to_the_uninterrupted_result(cached_features, capsys):
    model_file = paths.checkpoint("frozen", 0)
    run(None, model="frozen")
    clean = torch.load(model_file, weights_only=True)
    run(None, stop_after=1, model="frozen")  # killed after epoch 1's checkpoint
    capsys.readouterr()
    run(None, model="frozen")
    out = capsys.readouterr().out
    assert "frozen encoder from the feature cache" in out
    assert "resuming after epoch 1" in out and "epoch   1 " not in out
    resumed = torch.load(model_file, weights_only=True)
    assert resumed["feature_cache"] and resumed["state_dict"].keys() == clean["state_dict"].keys()
    assert all(torch.equal(resumed["state_dict"][k], v) for k, v in clean["state_dict"].items())
    for key in ("best_epoch", "val_top1", "val_loss", "history"):
        assert resumed[key] == clean[key], key
