"""Spatial views in the test protocol (issue 24, point 2): eval.crops 1 is the centre crop, exactly
as before views existed; 3 is both ends and the middle of the long side, and the evaluate
stage, `har predict`, `har serve` and .onnx models average the softmax over clips x crops.

The 3-crop check is a hand computation on a fixed model (the tiny trained checkpoint): every
view cut by explicit slicing, run one by one, softmax averaged."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from har.cli import main
from har.config import PARAMS_FILE, ConfigError, parse_params
from har.data import ClipDataset, clip_indices, preprocess_frames
from har.engine import make_loader, predict_clips, video_scores
from har.frames import jpeg_round_trip, load_frames
from har.predict import Predictor, eval_views
from har.preprocessing import crop_origin, eval_clips
from har.checkpoint import load_model
from har.video import read_frames


def test_the_views_are_the_ends_and_the_middle_of_the_long_side():
    # (height, width), crop (height, width): origins (top, left) of views 0, 1, 2
    cases = {((36, 48), (32, 44)): [(2, 0), (2, 2), (2, 4)],  # landscape: along the width
             ((64, 36), (32, 32)): [(0, 2), (16, 2), (32, 2)],  # portrait: along the height
             ((36, 36), (32, 32)): [(2, 0), (2, 2), (2, 4)]}  # square: the width
    for ((h, w), crop), origins in cases.items():
        assert [crop_origin(h, w, crop, k, 3) for k in range(3)] == origins
        assert crop_origin(h, w, crop, 1, 3) == crop_origin(h, w, crop)  # the middle is the centre
    with pytest.raises(ValueError):
        crop_origin(36, 48, (32, 32), 0, 2)


def test_eval_crops_is_validated():
    data = yaml.safe_load(open(PARAMS_FILE))
    assert parse_params(data).eval.crops == 1  # the default: today's centre crop
    data["eval"]["crops"] = 3
    assert parse_params(data).eval.crops == 3
    for bad in (0, 2, 5):
        data["eval"]["crops"] = bad
        with pytest.raises(ConfigError, match="eval.crops"):
            parse_params(data)


def hand_view(frames: torch.Tensor, prep, top: int, left: int) -> torch.Tensor:
    """A view cut by hand from (T, 3, H, W) uint8 frames: slice, scale, normalise, layout."""
    ch, cw = prep.crop_hw
    x = frames[:, :, top:top + ch, left:left + cw].float() / 255
    x = (x - torch.tensor(prep.mean).view(1, 3, 1, 1)) / torch.tensor(prep.std).view(1, 3, 1, 1)
    return x.permute(1, 0, 2, 3).contiguous() if prep.layout == "NCTHW" else x


def test_one_crop_is_exactly_the_centre_crop_of_before(tiny_model):
    prep, rows = tiny_model.prep, tiny_model.test_rows[:4]
    dataset = ClipDataset(rows, tiny_model.frames, prep, train=False, num_clips=3)
    assert len(dataset) == len(rows) * 3 and dataset.num_crops == 1
    ch, cw = prep.crop_hw
    for i in range(len(dataset)):
        video, clip = divmod(i, 3)  # the pre-views item order
        row = rows[video]
        frames = load_frames(tiny_model.frames / row["frames"],
                             clip_indices(int(row["frames_stored"]), prep.frames, clip, 3))
        h, w = frames.shape[-2:]
        x, label, v = dataset[i]
        assert torch.equal(x, hand_view(frames, prep, (h - ch) // 2, (w - cw) // 2))
        assert v == video
    frames = np.random.default_rng(0).integers(0, 256, (12, 32, 43, 3), dtype=np.uint8)
    assert np.array_equal(eval_views(frames, prep, 3, 1), eval_clips(frames, prep, 3))


def test_three_crop_evaluation_equals_a_hand_computation(tiny_model):
    prep, rows = tiny_model.prep, tiny_model.test_rows[:5]
    model, _, _ = load_model(tiny_model.checkpoint, torch.device("cpu"))
    clips, crops = 2, 3
    # The evaluate stage's path: the dataset of clips x crops views, a loader, the softmax average.
    dataset = ClipDataset(rows, tiny_model.frames, prep, train=False, num_clips=clips, num_crops=crops)
    assert len(dataset) == len(rows) * clips * crops
    logits, labels, videos = predict_clips(model, make_loader(dataset, 4, False, 0, 0),
                                           torch.device("cpu"))
    probs, _ = video_scores(logits, labels, videos)
    one_crop = ClipDataset(rows, tiny_model.frames, prep, train=False, num_clips=clips)
    probs_1, _ = video_scores(*predict_clips(model, make_loader(one_crop, 4, False, 0, 0),
                                             torch.device("cpu")))
    ch, cw = prep.crop_hw
    with torch.no_grad():
        for video, row in enumerate(rows):
            views = []
            for clip in range(clips):
                frames = load_frames(tiny_model.frames / row["frames"],
                                     clip_indices(int(row["frames_stored"]), prep.frames, clip, clips))
                h, w = frames.shape[-2:]
                assert w > h and w > cw  # landscape frames wider than the crop: 3 distinct views
                for left in (0, (w - cw) // 2, w - cw):
                    views.append(model(hand_view(frames, prep, (h - ch) // 2, left)[None])[0])
            expected = torch.stack(views).softmax(1).mean(0)
            assert torch.allclose(probs[video], expected, atol=1e-6), video
        assert not torch.allclose(probs, probs_1, atol=1e-4)  # the side views changed something


@pytest.fixture(scope="module")
def exported(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    assert main(["export", str(tiny_model.checkpoint), str(out)]) == 0
    return out


@pytest.mark.parametrize("portrait", [False, True], ids=["landscape", "portrait"])
def test_predict_serve_and_onnx_average_the_same_views(tiny_model, exported, portrait):
    video = tiny_model.videos / tiny_model.test_rows[0]["source"]
    pt = Predictor(tiny_model.checkpoint, clips=2, crops=3)
    sampled = read_frames(video, pt.prep.source_frames, pt.prep.short_side).array
    if portrait:  # a portrait video's frames: the views move along the height
        sampled = np.ascontiguousarray(np.concatenate([sampled, sampled], axis=1)[:, :, :32])
    batch = pt.clip_batch(sampled)
    assert batch.shape[0] == 6
    # har.data's torch transform (the evaluate stage's), view by view, clip-major.
    stored = torch.from_numpy(jpeg_round_trip(sampled, pt.prep.jpeg_quality)).permute(0, 3, 1, 2)
    expected = torch.stack([preprocess_frames(stored, pt.prep, c, 2, k, 3)
                            for c in range(2) for k in range(3)])
    assert np.array_equal(batch, expected.numpy())
    logits = pt.model.logits(batch)
    shifted = np.exp(logits - logits.max(1, keepdims=True))
    by_hand = (shifted / shifted.sum(1, keepdims=True)).mean(0)
    assert np.allclose(pt.probabilities(sampled), by_hand, atol=1e-6)
    # The .onnx model is fed the same views (its graph takes one clip; they run one by one).
    onnx = Predictor(exported, clips=2, crops=3)
    assert np.array_equal(onnx.clip_batch(sampled), batch)
    assert np.abs(onnx.probabilities(sampled) - pt.probabilities(sampled)).max() <= 1e-4


def test_crops_default_to_eval_crops_of_the_params(tiny_model, tmp_path, monkeypatch):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"eval": {"clips": 2, "crops": 3}}))
    monkeypatch.chdir(tmp_path)
    assert Predictor(tiny_model.checkpoint).crops == 3
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"eval": {"clips": 2}}))
    assert Predictor(tiny_model.checkpoint).crops == 1  # today's centre crop
