"""Clip sampling and the transforms shared by training, evaluation and prediction."""

import numpy as np
import torch

from har.data import ClipDataset, Preprocessing, clip_indices, spatial_transform
from har.frames import save_frames

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
    rng = np.random.default_rng(0)
    rows = []
    for v in range(3):
        save_frames(tmp_path / f"v{v}.npz", rng.integers(0, 255, (12, 16, 20, 3), dtype=np.uint8))
        rows.append({"frames": f"v{v}.npz", "frames_stored": "12", "label": str(v)})
    ds = ClipDataset(rows, tmp_path, PREP, train=False, num_clips=3)
    assert len(ds) == 9
    items = [ds[i] for i in range(len(ds))]
    assert [(lab, vid) for _, lab, vid in items] == [(v, v) for v in range(3) for _ in range(3)]
    assert not torch.equal(items[0][0], items[1][0])  # different clips of one video
    assert items[0][0].shape == (4, 3, 12, 12)
