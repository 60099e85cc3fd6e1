"""`har predict` averages as many clips as the evaluate stage did: eval.clips of ./params.yaml,
3 without a usable one, --clips above both. The project's own value is 3 too, so each case
here uses another."""

import json

import pytest
import yaml

from har.cli import main
from har.predict import FALLBACK_CLIPS, Predictor


@pytest.fixture
def video(tiny_model):
    return tiny_model.videos / tiny_model.test_rows[0]["source"]


def predict_json(capsys, video, checkpoint, *options) -> dict:
    assert main(["predict", str(video), "--model", str(checkpoint), "--json", "--topk", "3",
                 *options]) == 0
    return json.loads(capsys.readouterr().out)


def with_params(folder, text: str, monkeypatch) -> None:
    (folder / "params.yaml").write_text(text)
    monkeypatch.chdir(folder)


def test_eval_clips_of_the_params_in_the_working_directory_is_used(tiny_model, video, tmp_path,
                                                                   monkeypatch, capsys):
    with_params(tmp_path, yaml.safe_dump({"eval": {"clips": 1, "batch_size": 32}}), monkeypatch)
    got = predict_json(capsys, video, tiny_model.checkpoint)
    one_clip = Predictor(tiny_model.checkpoint, clips=1).predict_file(video)
    assert got["frames_used"] == 6  # one clip of 6 frames (3 clips take all 12 stored ones)
    assert got["topk"] == one_clip.topk(tiny_model.classes, 3)
    assert Predictor(tiny_model.checkpoint).clips == 1
    with_params(tmp_path, yaml.safe_dump({"eval": {"clips": 5}}), monkeypatch)
    assert Predictor(tiny_model.checkpoint).clips == 5


def test_the_command_line_overrides_params(tiny_model, video, tmp_path, monkeypatch, capsys):
    with_params(tmp_path, yaml.safe_dump({"eval": {"clips": 1}}), monkeypatch)
    assert predict_json(capsys, video, tiny_model.checkpoint, "--clips", "3")["frames_used"] == 12


@pytest.mark.parametrize("params", [None, "eval: {batch_size: 32}\n", "eval: {clips: 0}\n",
                                    "eval: [unclosed\n"],
                         ids=["no-params", "no-eval-clips", "not-positive", "not-yaml"])
def test_without_a_usable_eval_clips_the_fallback_is_3(tiny_model, tmp_path, monkeypatch, params):
    if params is None:
        monkeypatch.chdir(tmp_path)  # outside any project
    else:
        with_params(tmp_path, params, monkeypatch)
    assert FALLBACK_CLIPS == 3 and Predictor(tiny_model.checkpoint).clips == 3
