"""The params stage checks all of params.yaml before any other stage runs (so before DVC deletes
any output): the dataset sections too, those needing a dataset module included."""

import runpy
from pathlib import Path

import pytest
import yaml

from har.errors import HarError

ROOT = Path(__file__).resolve().parents[1]


def run_params_stage(tmp_path: Path, monkeypatch, edit) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    edit(params)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(ROOT / "stages" / "params.py"), run_name="stage")["main"]()


def test_a_valid_params_yaml_writes_the_marker(tmp_path, monkeypatch):
    run_params_stage(tmp_path, monkeypatch, lambda p: None)
    assert (tmp_path / "data" / "params.ok").is_file()


@pytest.mark.parametrize("classes, message", [
    (["MoveLeft", "MoveSideways"], "unknown ['MoveSideways']"),
    (["MoveLeft", "MoveLeft"], "at least two distinct classes"),
])
def test_a_bad_synthetic_class_stops_the_params_stage(tmp_path, monkeypatch, classes, message):
    def edit(p):
        p["dataset"]["synthetic"]["classes"] = classes
    with pytest.raises(HarError, match=message.replace("[", r"\[").replace("]", r"\]")):
        run_params_stage(tmp_path, monkeypatch, edit)
    assert not (tmp_path / "data" / "params.ok").exists()


def test_an_unused_dataset_section_is_checked_too(tmp_path, monkeypatch):
    # dataset.name is folder, but the synthetic section is still a typo waiting to bite.
    def edit(p):
        p["dataset"]["name"] = "folder"
        p["dataset"]["synthetic"]["classes"] = ["MoveLeft", "Jump"]
    with pytest.raises(HarError, match=r"unknown \['Jump'\]"):
        run_params_stage(tmp_path, monkeypatch, edit)


def test_a_model_named_pretrained_is_refused(tmp_path, monkeypatch):
    # models/pretrained/ holds the weights stage's files: a model so named would collide.
    def edit(p):
        p["models"]["pretrained"] = p["models"].pop("crnn")
    with pytest.raises(HarError, match="may not be named 'pretrained'"):
        run_params_stage(tmp_path, monkeypatch, edit)
