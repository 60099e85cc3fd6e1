"""Clip sampling and the transforms shared by training, evaluation and prediction."""

import math

import pytest
import torch

from har.data import ClipDataset, Preprocessing, clip_indices, spatial_transform
from har.frames import FrameCache
from videos import frames_files

PREP = Preprocessing(source_frames=12, short_side=16, frames=4, crop=12, mean=(0.5, 0.5, 0.5),
                     std=(0.25, 0.25, 0.25), layout="NTCHW", hflip=False)


def test_training_clips_jitter_within_their_segments():
    torch.manual_seed(0)
    draws = [clip_indices(12, 4, None) for _ in range(200)]
    for idx in draws:
        assert idx == sorted(idx)  # frame order is kept: direction is the signal
        assert all(3 * s <= i < 3 * (s + 1) for s, i in enumerate(idx))
    assert len({tuple(d) for d in draws}) > 20


def test_evaluation_clips_are_fixed_and_distinct():
    a = [clip_indices(12, 4, c, 3) for c in range(3)]
    assert a == [clip_indices(12, 4, c, 3) for c in range(3)]
    assert a == [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8, 11]]


def test_one_crop_for_every_frame_of_a_clip():
    torch.manual_seed(0)
    still = torch.randint(0, 255, (1, 3, 16, 20), dtype=torch.uint8).repeat(4, 1, 1, 1)
    for _ in range(20):
        x = spatial_transform(still, PREP, train=True)
        assert x.shape == (4, 3, 12, 12)
        assert all(torch.equal(x[0], x[t]) for t in range(1, 4))


def test_evaluation_crop_is_centred_and_normalised():
    frames = torch.arange(16 * 20, dtype=torch.float32).view(1, 1, 16, 20).repeat(2, 3, 1, 1)
    x = spatial_transform(frames.clamp(max=255).to(torch.uint8), PREP, train=False)
    expected = frames[:, :, 2:14, 4:16].clamp(max=255) / 255
    torch.testing.assert_close(x, (expected - 0.5) / 0.25)
    layout = Preprocessing(**{**PREP.to_dict(), "layout": "NCTHW"})
    assert spatial_transform(frames.to(torch.uint8), layout, train=False).shape == (3, 2, 12, 12)


def test_no_flip_unless_asked():
    torch.manual_seed(0)
    asym = torch.zeros(1, 3, 12, 12, dtype=torch.uint8)
    asym[..., :6] = 255  # bright left half
    for _ in range(20):
        assert spatial_transform(asym, PREP, train=True)[0, 0, 0, 0] > 0
    flipping = Preprocessing(**{**PREP.to_dict(), "hflip": True})
    firsts = {float(spatial_transform(asym, flipping, train=True)[0, 0, 0, 0]) for _ in range(30)}
    assert len(firsts) == 2


def test_dataset_yields_every_clip_of_every_video(tmp_path):
    rows = frames_files(tmp_path, [12] * 3, 16, 20, classes=3)
    ds = ClipDataset(rows, tmp_path, PREP, train=False, num_clips=3)
    assert len(ds) == 9
    items = [ds[i] for i in range(len(ds))]
    assert [(lab, vid) for _, lab, vid in items] == [(v, v) for v in range(3) for _ in range(3)]
    assert not torch.equal(items[0][0], items[1][0])  # different clips of one video
    assert items[0][0].shape == (4, 3, 12, 12)


# The seed report's augmentation (zoom 0.1, flip, rotation 8 degrees, shifts 0.2), training only.

def dot(size=32, at=(16, 16)) -> torch.Tensor:
    """Four identical frames of one bright pixel on black, (T, 3, H, W) uint8."""
    frames = torch.zeros(4, 3, size, size, dtype=torch.uint8)
    frames[:, :, at[0], at[1]] = 255
    return frames


def centroid(clip: torch.Tensor) -> torch.Tensor:
    """(row, col) centre of brightness of the first frame of a normalised clip."""
    img = clip[0, 0] - clip[0, 0].min()
    rows, cols = torch.meshgrid(torch.arange(img.shape[0]), torch.arange(img.shape[1]), indexing="ij")
    return torch.stack([(img * rows).sum(), (img * cols).sum()]) / img.sum()


AUGMENTED = Preprocessing(**{**PREP.to_dict(), "crop": 32, "zoom": 0.1, "rotation": 8.0,
                             "shift": 0.2, "hflip": True})


def test_augmentation_is_one_draw_for_the_whole_clip():
    torch.manual_seed(0)
    frames = torch.randint(0, 255, (1, 3, 32, 32), dtype=torch.uint8).repeat(4, 1, 1, 1)
    clips = [spatial_transform(frames, AUGMENTED, train=True) for _ in range(10)]
    assert all(torch.equal(x[0], x[t]) for x in clips for t in range(1, 4))
    assert len({float(x.sum()) for x in clips}) == 10  # but a new draw for every clip


def test_evaluation_and_prediction_are_unchanged_by_augmentation_params():
    frames = torch.randint(0, 255, (4, 3, 32, 40), dtype=torch.uint8)
    plain = Preprocessing(**{**AUGMENTED.to_dict(), "zoom": 0.0, "rotation": 0.0, "shift": 0.0,
                             "hflip": False})
    assert torch.equal(spatial_transform(frames, AUGMENTED, train=False),
                       spatial_transform(frames, plain, train=False))


# A shift moves content by up to 0.2 x 32 px per axis (the dot at 24 stays inside); a zoom
# factor in [0.9, 1.1] moves a dot 14.5 px from the centre (15.5) by up to 14.5 x (1/0.9 - 1) px.
@pytest.mark.parametrize("kind, value, at, moves", [("shift", 0.2, 24, 0.2 * 32),
                                                    ("zoom", 0.1, 30, 14.5 / 9)])
def test_shift_and_zoom_move_content_within_their_range(kind, value, at, moves):
    torch.manual_seed(1)
    prep = Preprocessing(**{**PREP.to_dict(), "crop": 32, kind: value})
    start = centroid(spatial_transform(dot(at=(at, at)), prep, train=False))
    offsets = [float((centroid(spatial_transform(dot(at=(at, at)), prep, True)) - start).abs().max())
               for _ in range(40)]
    assert max(offsets) <= moves * 1.05 + 0.5  # never beyond the range (bilinear blur aside)
    assert max(offsets) > moves / 2  # and it does use it


def test_rotation_turns_about_the_centre_within_its_range():
    torch.manual_seed(2)
    prep = Preprocessing(**{**PREP.to_dict(), "crop": 33, "rotation": 8.0})
    centre = torch.tensor(16.0)
    angles = []
    for _ in range(40):
        row, col = centroid(spatial_transform(dot(33, at=(16, 30)), prep, True))
        assert abs(((row - centre) ** 2 + (col - centre) ** 2).sqrt() - 14) < 0.6  # same radius
        angles.append(math.degrees(math.atan2(float(row - centre), float(col - centre))))
    assert max(map(abs, angles)) <= 8.5 and max(map(abs, angles)) > 4


# The frame cache (train.frame_cache_mb): the same clips, decoded once.

def training_epochs(rows, root, frame_cache, epochs=3):
    torch.manual_seed(0)  # the draws of the clips' frames and crops
    ds = ClipDataset(rows, root, PREP, train=True, frame_cache=frame_cache)
    return [torch.stack([ds[i][0] for i in range(len(ds))]) for _ in range(epochs)]


def test_cached_frames_give_the_very_clips_of_decoding_each_time(tmp_path):
    rows = frames_files(tmp_path, [12] * 4, 16, 20)
    cache = FrameCache(budget_mb=64)
    decoded = training_epochs(rows, tmp_path, None)
    cached = training_epochs(rows, tmp_path, cache)
    assert cache.videos == 4 and not cache.full  # it did serve them from memory
    assert all(torch.equal(a, b) for a, b in zip(decoded, cached))
    assert not torch.equal(decoded[0], decoded[1])  # the epochs differ: random draws compared


def test_the_cache_stays_within_its_budget_and_the_rest_is_decoded(tmp_path):
    rows = frames_files(tmp_path, [12] * 4, 16, 20)
    one_video = 12 * 3 * 16 * 20  # bytes of one video's decoded frames
    cache = FrameCache(budget_mb=2.5 * one_video / 2**20)  # room for two videos, not three
    decoded = training_epochs(rows, tmp_path, None)
    cached = training_epochs(rows, tmp_path, cache)
    assert cache.videos == 2 and cache.used == 2 * one_video and cache.full
    assert all(torch.equal(a, b) for a, b in zip(decoded, cached))
    assert FrameCache(budget_mb=0).full  # 0 turns it off


def test_a_cached_clip_can_be_changed_without_changing_the_cache(tmp_path):
    path = tmp_path / frames_files(tmp_path, [12], 16, 20)[0]["frames"]
    cache = FrameCache(budget_mb=64)
    first = cache.load(path, [0, 1])
    expected = first.clone()
    first.zero_()  # as an in-place transform would
    assert torch.equal(cache.load(path, [0, 1]), expected)


def test_a_frame_the_file_lacks_is_an_error_naming_the_file_cached_or_not(tmp_path):
    path = tmp_path / frames_files(tmp_path, [12], 16, 20)[0]["frames"]
    cache = FrameCache(budget_mb=64)
    cache.load(path, [0])
    with pytest.raises(IndexError, match=r"v0\.npz: has 12 frames, asked for \[3, 12\]"):
        cache.load(path, [3, 12])
    with pytest.raises(IndexError, match=r"v0\.npz: has 12 frames"):
        FrameCache(budget_mb=0).load(path, [12])
