"""The frozen-encoder feature cache: same logits as the live encoder, and refused when stale."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from har.data import ClipDataset, Preprocessing, clip_indices
from har.features import FeatureCacheError, FeatureClipDataset, load_cache, write_cache, write_not_cached
from har.models import create_model, get_entry
from har.models.features import FeatureHead, frozen_encoder
from videos import frames_files

FROZEN = [
    ("resnet_crnn", {"depth": 18, "freeze": "backbone", "lstm_hidden": 16, "lstm_layers": 2}),
    ("tsn", {"depth": 18, "freeze": "backbone"}),
    ("td_mobilenet_gru", {"trainable_layers": 0}),
]


def _prep(arch: str, crop: int = 32) -> Preprocessing:
    entry = get_entry(arch)
    return Preprocessing(source_frames=10, short_side=40, frames=4, crop=crop, mean=entry.mean,
                         std=entry.std, layout=entry.layout, hflip=False)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Frames files of 5 videos (one of them shorter) and their split rows."""
    root = tmp_path_factory.mktemp("frames")
    return root, frames_files(root, [10, 10, 7, 10, 10], 40, 48)


def _model(arch, cfg, seed=0):
    torch.manual_seed(seed)
    return create_model(arch, 2, 4, 32, **cfg)


@pytest.mark.parametrize("arch, cfg", FROZEN, ids=[a for a, _ in FROZEN])
def test_cached_features_give_the_live_encoders_logits(videos, tmp_path, arch, cfg):
    root, rows = videos
    prep = _prep(arch)
    model = _model(arch, cfg).eval()
    encoder = frozen_encoder(model)
    assert encoder is not None
    write_cache(tmp_path, encoder, {"train": rows, "val": rows[:2]}, root, prep, torch.device("cpu"))

    live = ClipDataset(rows, root, prep, train=False, num_clips=2)
    cached = FeatureClipDataset(rows, load_cache(tmp_path, "train", rows, encoder, prep), prep,
                                train=False, num_clips=2)
    assert len(live) == len(cached) == 10
    clips = torch.stack([live[i][0] for i in range(len(live))])
    feats = torch.stack([cached[i][0] for i in range(len(cached))])
    assert [live[i][1:] for i in range(10)] == [cached[i][1:] for i in range(10)]
    with torch.no_grad():
        expected = model(clips)
        got = FeatureHead(model)(feats)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_training_draws_the_same_frames_as_clip_dataset(videos, tmp_path):
    root, rows = videos
    arch, cfg = FROZEN[1]
    prep = _prep(arch)
    encoder = frozen_encoder(_model(arch, cfg))
    write_cache(tmp_path, encoder, {"train": rows}, root, prep, torch.device("cpu"))
    features = load_cache(tmp_path, "train", rows, encoder, prep)
    cached = FeatureClipDataset(rows, features, prep, train=True)
    torch.manual_seed(3)
    got = [cached[i][0] for i in range(len(rows))]
    # Rows of video 2 (7 stored frames) start after videos 0 and 1 (10 each).
    torch.manual_seed(3)
    for i, row in enumerate(rows):
        idx = clip_indices(int(row["frames_stored"]), prep.frames, None)
        start = sum(int(r["frames_stored"]) for r in rows[:i])
        assert torch.equal(got[i], torch.from_numpy(np.asarray(features[[start + j for j in idx]])))


def test_frozen_batchnorm_stays_in_eval_when_training_on_features():
    model = _model(*FROZEN[0])
    FeatureHead(model).train()
    norms = [m for m in model.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and not any(m.training for m in norms)
    assert model.project.training


def test_cache_of_another_encoder_is_refused(videos, tmp_path):
    root, rows = videos
    arch, cfg = FROZEN[1]
    prep = _prep(arch)
    write_cache(tmp_path, frozen_encoder(_model(arch, cfg, seed=0)), {"train": rows}, root, prep,
                torch.device("cpu"))
    other = frozen_encoder(_model(arch, cfg, seed=1))  # e.g. train.seed changed
    with pytest.raises(FeatureCacheError, match="different encoder"):
        load_cache(tmp_path, "train", rows, other, prep)


def test_cache_with_other_preprocessing_or_videos_is_refused(videos, tmp_path):
    root, rows = videos
    arch, cfg = FROZEN[1]
    encoder = frozen_encoder(_model(arch, cfg))
    write_cache(tmp_path, encoder, {"train": rows}, root, _prep(arch), torch.device("cpu"))
    with pytest.raises(FeatureCacheError, match="preprocessing"):
        load_cache(tmp_path, "train", rows, encoder, _prep(arch, crop=24))
    with pytest.raises(FeatureCacheError, match="train videos differ"):
        load_cache(tmp_path, "train", rows[:-1], encoder, _prep(arch))


def test_nothing_cached_says_why(tmp_path):
    write_not_cached(tmp_path, "train.feature_cache is false")
    encoder = frozen_encoder(_model(*FROZEN[1]))
    with pytest.raises(FeatureCacheError, match="train.feature_cache is false"):
        load_cache(tmp_path, "train", [], encoder, _prep("tsn"))


@pytest.mark.parametrize("arch, cfg", [
    ("crnn", {}), ("cnn3d", {}), ("resnet_crnn", {"depth": 18}), ("tsn", {"depth": 18}),
    ("td_mobilenet_lstm", {}), ("td_scratch_gru", {}),
])
def test_trainable_encoders_are_not_cached(arch, cfg):
    assert frozen_encoder(_model(arch, cfg)) is None


def test_a_height_width_crop_and_eval_frames_give_the_live_logits(videos, tmp_path):
    """The cache records a [height, width] crop as JSON does, and evaluation clips take eval_frames."""
    root, rows = videos
    arch, cfg = FROZEN[0]  # resnet_crnn: the ucf101-paper preset's frozen C-RNN
    prep = Preprocessing.from_dict({**_prep(arch).to_dict(), "crop": [32, 44], "eval_frames": 6})
    torch.manual_seed(0)
    model = create_model(arch, 2, prep.frames, prep.crop, **cfg).eval()
    encoder = frozen_encoder(model)
    write_cache(tmp_path, encoder, {"val": rows}, root, prep, torch.device("cpu"))
    cached = FeatureClipDataset(rows, load_cache(tmp_path, "val", rows, encoder, prep), prep,
                                train=False, num_clips=2)
    live = ClipDataset(rows, root, prep, train=False, num_clips=2)
    feats = torch.stack([cached[i][0] for i in range(len(cached))])
    clips = torch.stack([live[i][0] for i in range(len(live))])
    assert feats.shape[1] == 6 and clips.shape[1:] == (6, 3, 32, 44)
    with torch.no_grad():
        torch.testing.assert_close(FeatureHead(model)(feats), model(clips), rtol=1e-5, atol=1e-5)
    with pytest.raises(FeatureCacheError, match="preprocessing"):  # another crop is another cache
        load_cache(tmp_path, "val", rows, encoder, Preprocessing.from_dict(
            {**prep.to_dict(), "crop": [32, 40]}))
