"""Non-square crops ([height, width]) and a separate evaluation clip length (eval_frames).

The default path (a square int crop, eval_frames null) must give the tensors it gave
before either existed: the reference functions below are that code, as it was.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from har.checkpoint import load_model, write_checkpoint
from har.data import (ClipDataset, Preprocessing, affine_theta, clip_indices, preprocess_frames,
                      spatial_transform)
from har.frames import jpeg_round_trip, save_frames
from har.models import create_model, get_entry
from har.predict import Predictor

ROOT = Path(__file__).resolve().parents[1]
SQUARE = Preprocessing(source_frames=12, short_side=16, frames=4, crop=12, mean=(0.5, 0.4, 0.3),
                       std=(0.2, 0.25, 0.3), layout="NTCHW", hflip=True)
WIDE = Preprocessing.from_dict({**SQUARE.to_dict(), "crop": [10, 14], "eval_frames": 6})


def frames_of(t=4, h=16, w=20, seed=0) -> torch.Tensor:
    return torch.randint(0, 256, (t, 3, h, w), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(seed))


# --- The code before non-square crops and eval_frames, for the default path -------------

def old_spatial_transform(frames, prep, train):
    _, _, h, w = frames.shape
    c = prep.crop
    if train:
        top = int(torch.randint(0, h - c + 1, (1,)))
        left = int(torch.randint(0, w - c + 1, (1,)))
    else:
        top, left = (h - c) // 2, (w - c) // 2
    x = frames[:, :, top:top + c, left:left + c]
    if train and prep.hflip and bool(torch.rand(1) < 0.5):
        x = x.flip(-1)
    x = x.float().div_(255)
    mean = torch.tensor(prep.mean).view(1, 3, 1, 1)
    std = torch.tensor(prep.std).view(1, 3, 1, 1)
    x = (x - mean) / std
    if prep.layout == "NCTHW":
        x = x.permute(1, 0, 2, 3)
    return x.contiguous()


def old_theta(draw, zoom, rotation, shift):
    zx, zy = 1 + zoom * draw[0], 1 + zoom * draw[1]
    angle = math.radians(rotation) * draw[2]
    cos, sin = torch.cos(angle), torch.sin(angle)
    return torch.stack([torch.stack([cos * zx, -sin * zy, 2 * shift * draw[3]]),
                        torch.stack([sin * zx, cos * zy, 2 * shift * draw[4]])])


@pytest.mark.parametrize("layout", ["NTCHW", "NCTHW"])
def test_the_default_path_gives_the_tensors_it_gave_before(layout):
    prep = Preprocessing(**{**SQUARE.to_dict(), "layout": layout})
    stored = frames_of(t=12, w=21)
    for clip in range(3):  # evaluation and prediction
        idx = clip_indices(12, prep.frames, clip, 3)
        assert torch.equal(preprocess_frames(stored, prep, clip, 3),
                           old_spatial_transform(stored[idx], prep, train=False))
    for seed in range(5):  # training: the same random draws, in the same order
        torch.manual_seed(seed)
        new = spatial_transform(stored[:4], prep, train=True)
        torch.manual_seed(seed)
        assert torch.equal(new, old_spatial_transform(stored[:4], prep, train=True))


def test_a_square_frames_affine_map_is_the_old_one_exactly():
    torch.manual_seed(0)
    for _ in range(20):
        draw = torch.rand(5) * 2 - 1
        assert torch.equal(affine_theta(draw, 0.1, 8.0, 0.2, height=32, width=32),
                           old_theta(draw, 0.1, 8.0, 0.2))


# --- Non-square crops ---------------------------------------------------------------------

@pytest.mark.parametrize("layout, shape", [("NTCHW", (4, 3, 10, 14)), ("NCTHW", (3, 4, 10, 14))])
@pytest.mark.parametrize("train", [True, False])
def test_a_height_width_crop_has_that_shape_in_both_layouts(layout, shape, train):
    prep = Preprocessing(**{**WIDE.to_dict(), "layout": layout})
    torch.manual_seed(0)
    assert spatial_transform(frames_of(h=16, w=20), prep, train).shape == shape


def test_the_evaluation_crop_of_a_height_width_crop_is_centred():
    values = torch.arange(16 * 20).view(1, 1, 16, 20).repeat(2, 3, 1, 1) % 256
    x = spatial_transform(values.to(torch.uint8), WIDE, train=False)
    # (16 - 10) // 2 = 3 rows above, (20 - 14) // 2 = 3 columns left of the crop.
    expected = (values[:, :, 3:13, 3:17].float() / 255 - torch.tensor(WIDE.mean).view(1, 3, 1, 1))
    torch.testing.assert_close(x, expected / torch.tensor(WIDE.std).view(1, 3, 1, 1))


def test_random_training_crops_cover_every_position_and_stay_inside():
    # Each pixel holds its own (row, col): the crop's corner gives where it was cut.
    rows, cols = torch.meshgrid(torch.arange(16), torch.arange(20), indexing="ij")
    frames = torch.stack([rows, cols, rows]).unsqueeze(0).to(torch.uint8)
    prep = Preprocessing(**{**WIDE.to_dict(), "hflip": False, "mean": (0, 0, 0), "std": (1, 1, 1)})
    torch.manual_seed(0)
    corners = set()
    for _ in range(600):
        x = (spatial_transform(frames, prep, train=True) * 255).round().long()
        top, left = int(x[0, 0, 0, 0]), int(x[0, 1, 0, 0])
        assert torch.equal(x[0, 1, 0], torch.arange(left, left + 14))  # 14 wide, contiguous
        corners.add((top, left))
    assert corners == {(t, l) for t in range(16 - 10 + 1) for l in range(20 - 14 + 1)}


@pytest.mark.parametrize("train", [True, False])
def test_a_crop_larger_than_the_frames_is_cut_from_frames_scaled_to_hold_it(train):
    # Before: refused (and before that, training failed in torch.randint and evaluation
    # silently cut a smaller clip). Now the frames are scaled, aspect kept, until the crop
    # fits (har.preprocessing.fit_crop; tests/test_aspect.py): 16x20 becomes 18x23 here.
    tall = Preprocessing(**{**WIDE.to_dict(), "crop": [18, 14]})
    torch.manual_seed(0)
    assert spatial_transform(frames_of(h=16, w=20), tall, train).shape == (4, 3, 18, 14)


def test_a_clip_dataset_takes_a_portrait_video_under_a_landscape_crop(tmp_path):
    save_frames(tmp_path / "v.npz", np.zeros((12, 16, 12, 3), np.uint8))  # a portrait video
    rows = [{"frames": "v.npz", "frames_stored": "12", "label": "0"}]
    assert ClipDataset(rows, tmp_path, WIDE, train=False)[0][0].shape == (6, 3, 10, 14)


def bright_spot(h, w, row, col) -> torch.Tensor:
    x = torch.zeros(1, 1, h, w)
    x[..., row - 1:row + 2, col - 1:col + 2] = 1.0
    return x


def spot_centre(x: torch.Tensor) -> torch.Tensor:
    img = x[0, 0]
    rows, cols = torch.meshgrid(torch.arange(img.shape[0]), torch.arange(img.shape[1]), indexing="ij")
    return torch.stack([(img * rows).sum(), (img * cols).sum()]) / img.sum()


def warp(x, draw, zoom=0.0, rotation=0.0, shift=0.0):
    theta = affine_theta(draw, zoom, rotation, shift, height=x.shape[-2], width=x.shape[-1])
    grid = F.affine_grid(theta[None], list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def test_rotation_on_a_wide_frame_is_a_rotation_in_pixels():
    # 51 x 81 pixels, a spot 20 px right of the centre (25, 40). A quarter turn must put it
    # 20 px above or below; a rotation in [-1, 1] coordinates would put it 12.6 px away.
    spot = bright_spot(51, 81, 25, 60)
    draw = torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0])  # the full angle, nothing else
    row, col = spot_centre(warp(spot, draw, rotation=90.0)) - torch.tensor([25.0, 40.0])
    assert abs(float(col)) < 0.5 and abs(abs(float(row)) - 20) < 0.5


def test_a_shift_is_a_fraction_of_each_side():
    spot = bright_spot(40, 80, 20, 40)
    draw = torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0])  # the full shift on both axes
    moved = spot_centre(warp(spot, draw, shift=0.25)) - torch.tensor([20.0, 40.0])
    torch.testing.assert_close(moved.abs(), torch.tensor([0.25 * 40, 0.25 * 80]), atol=0.5, rtol=0)


# --- Preprocessing in checkpoints ---------------------------------------------------------

def test_a_height_width_crop_round_trips_through_dict_and_json():
    assert WIDE.crop == (10, 14) and WIDE.crop_hw == (10, 14)
    d = WIDE.to_dict()
    assert d["crop"] == [10, 14] and d["eval_frames"] == 6
    assert Preprocessing.from_dict(json.loads(json.dumps(d))) == WIDE
    # A square given as [h, w] is the int form: equal crops save and compare equal.
    assert Preprocessing(**{**d, "crop": [12, 12]}) == Preprocessing(**{**d, "crop": 12})
    assert SQUARE.to_dict()["crop"] == 12


def old_checkpoint_prep() -> dict:
    """A Preprocessing dict as checkpoints stored it before jpeg_quality and eval_frames."""
    d = SQUARE.to_dict()
    del d["jpeg_quality"], d["eval_frames"]
    return d


def test_old_checkpoints_evaluate_on_their_training_length():
    prep = Preprocessing.from_dict(old_checkpoint_prep())
    assert (prep.crop, prep.crop_hw, prep.eval_frames) == (12, (12, 12), None)
    assert prep.clip_frames(train=False) == prep.clip_frames(train=True) == 4


def save_checkpoint(path, arch, model, prep_dict, config) -> None:
    write_checkpoint(path, model_name="m", arch=arch, model_config=config,
                     class_names=["a", "b", "c"], preprocessing=prep_dict, weights=model)


def test_an_old_checkpoint_still_loads_and_predicts(tmp_path):
    config = {"channels": [4, 8], "fc": [8, 8]}
    entry = get_entry("cnn3d")
    d = {**old_checkpoint_prep(), "mean": list(entry.mean), "std": list(entry.std), "layout": "NCTHW"}
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "model.pt", "cnn3d", create_model("cnn3d", 3, 4, 12, **config), d, config)
    predictor = Predictor(tmp_path / "model.pt", clips=2)
    assert predictor.prep.eval_frames is None and predictor.prep.crop == 12
    sampled = np.random.default_rng(0).integers(0, 256, (12, 16, 21, 3), dtype=np.uint8)
    assert predictor.clip_batch(sampled).shape == (2, 3, 4, 12, 12)
    assert predictor.probabilities(sampled).sum().item() == pytest.approx(1.0)


# --- eval_frames ----------------------------------------------------------------------------

def test_clip_dataset_takes_frames_in_training_and_eval_frames_in_evaluation(tmp_path):
    save_frames(tmp_path / "v.npz", frames_of(t=12).permute(0, 2, 3, 1).numpy())
    rows = [{"frames": "v.npz", "frames_stored": "12", "label": "1"}]
    assert ClipDataset(rows, tmp_path, WIDE, train=True)[0][0].shape == (4, 3, 10, 14)
    evaluation = ClipDataset(rows, tmp_path, WIDE, train=False, num_clips=2)
    assert [evaluation[c][0].shape for c in range(2)] == [(6, 3, 10, 14)] * 2
    stored = torch.from_numpy(jpeg_round_trip(frames_of(t=12).permute(0, 2, 3, 1).numpy(), 90))
    assert torch.equal(evaluation[1][0], preprocess_frames(stored.permute(0, 3, 1, 2), WIDE, 1, 2))


def test_a_checkpoint_with_eval_frames_predicts_from_that_many_frames(tmp_path):
    arch, config = "td_scratch_gru", {"scratch_channels": [4, 4, 8, 8], "units": 8, "dense": [8]}
    entry = get_entry(arch)
    prep = Preprocessing(source_frames=8, short_side=16, frames=3, eval_frames=5, crop=(16, 24),
                         mean=entry.mean, std=entry.std, layout=entry.layout, hflip=False)
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "model.pt", arch, create_model(arch, 3, 3, (16, 24), **config),
                    prep.to_dict(), config)
    predictor = Predictor(tmp_path / "model.pt", clips=2)
    assert predictor.prep == prep
    sampled = np.random.default_rng(1).integers(0, 256, (8, 16, 24, 3), dtype=np.uint8)
    batch = predictor.clip_batch(sampled)
    assert batch.shape == (2, 5, 3, 16, 24)
    # The evaluate stage's input for the same video, stored by the extract stage.
    save_frames(tmp_path / "v.npz", sampled)
    evaluated = ClipDataset([{"frames": "v.npz", "frames_stored": "8", "label": "0"}], tmp_path,
                            prep, train=False, num_clips=2)
    assert torch.equal(torch.from_numpy(batch), torch.stack([evaluated[0][0], evaluated[1][0]]))
    assert predictor.probabilities(sampled).sum().item() == pytest.approx(1.0)
    # 2 clips of 5 of the 8 frames take all 8; of 3 frames (the training length) only 6.
    assert predictor.frames_used(list(range(8))) == 8


def test_load_model_builds_for_the_training_clip(tmp_path):
    config = {"channels": [4, 4, 8, 8], "fc": [8], "embed": 8, "lstm_hidden": 8, "lstm_layers": 1,
              "head": 8}
    prep = Preprocessing.from_dict({**WIDE.to_dict(), "crop": [32, 48]})
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "model.pt", "crnn", create_model("crnn", 3, 4, (32, 48), **config),
                    prep.to_dict(), config)
    model, loaded, _ = load_model(tmp_path / "model.pt")
    assert loaded.crop == (32, 48) and loaded.clip_frames(train=False) == 6
    with torch.no_grad():  # trained on 4 frames, evaluated on 6
        assert model(torch.randn(2, 6, 3, 32, 48)).shape == (2, 3)


def test_the_metrics_input_record_says_height_width_and_the_evaluation_length():
    spec = importlib.util.spec_from_file_location("evaluate_stage", ROOT / "stages" / "evaluate.py")
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    assert stage.input_record(SQUARE) == {"frames": 4, "eval_frames": 4, "height": 12, "width": 12}
    assert stage.input_record(WIDE) == {"frames": 4, "eval_frames": 6, "height": 10, "width": 14}
