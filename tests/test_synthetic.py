"""The built-in dataset: UCF101's layout and split format, and classes only time can tell."""

import hashlib

import av
import numpy as np
import pytest

from har.config import SyntheticConfig
from har.datasets.splits import assert_disjoint_groups, carve_validation
from har.datasets.synthetic import MOTIONS, generate, group_style, render_clip
from har.datasets.ucf101 import read_ucf_split

pytestmark = pytest.mark.slow  # generated videos decoded frame by frame

SMALL = SyntheticConfig(classes=["MoveLeft", "MoveRight", "ZoomIn"], groups=25, clips_per_group=1,
                        min_frames=12, max_frames=16, width=64, height=48, fps=25)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    generate(out, SMALL, seed=3, workers=2)
    return out


def test_layout_and_codec_are_ucf101s(generated):
    videos = sorted(p.relative_to(generated / "videos").as_posix()
                    for p in (generated / "videos").rglob("*.avi"))
    assert len(videos) == 3 * 25
    assert "MoveLeft/v_MoveLeft_g01_c01.avi" in videos and "ZoomIn/v_ZoomIn_g25_c01.avi" in videos
    with av.open(str(generated / "videos" / videos[0])) as c:
        assert c.format.name == "avi"
        stream = c.streams.video[0]
        assert stream.codec_context.name == "mpeg4"  # MPEG-4 Part 2, as UCF101's XviD
        assert (stream.codec_context.width, stream.codec_context.height) == (64, 48)
        assert 12 <= stream.frames <= 16


def test_split_files_parse_with_the_ucf101_code(generated):
    splits = generated / "splits"
    for name in ("classInd.txt", "trainlist01.txt", "testlist03.txt"):
        raw = (splits / name).read_bytes()
        assert raw.endswith(b"\r\n") and raw.count(b"\n") == raw.count(b"\r\n")
    assert (splits / "classInd.txt").read_text().splitlines() == ["1 MoveLeft", "2 MoveRight", "3 ZoomIn"]
    assert len((splits / "testlist01.txt").read_text().split("\n")[0].split()) == 1  # no label
    for k in (1, 2, 3):
        classes, train, test = read_ucf_split(splits, k)
        assert classes == ["MoveLeft", "MoveRight", "ZoomIn"]
        assert {e.group for e in test} == {f"g{g:02d}" for g in range(7 * k - 6, 7 * k + 1)}
        assert len(train) == 3 * 18 and len(test) == 3 * 7
        kept, val = carve_validation(train, 0.15, seed=0)
        assert_disjoint_groups({"train": kept, "val": val, "test": test})


def test_generation_is_deterministic_in_the_seed(generated, tmp_path):
    generate(tmp_path, SMALL, seed=3, workers=1)

    def digest(root):
        return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file()}

    assert digest(tmp_path) == digest(generated)
    other = render_clip("MoveLeft", 1, 1, seed=4, cfg=SMALL)
    assert not np.array_equal(other, render_clip("MoveLeft", 1, 1, seed=3, cfg=SMALL))


def test_a_group_shares_its_style_across_classes():
    cfg = SyntheticConfig(list(MOTIONS), 25, 1, 20, 20, 96, 72, 25)
    a = render_clip("MoveLeft", 5, 1, 0, cfg).astype(float)
    b = render_clip("ZoomOut", 5, 2, 0, cfg).astype(float)
    c = render_clip("ZoomOut", 6, 1, 0, cfg).astype(float)
    # Same group: nearly the same background (median ignores the object); other group: not.
    assert np.median(np.abs(a[0] - b[0])) < 12
    assert np.median(np.abs(a[0] - c[0])) > 3 * np.median(np.abs(a[0] - b[0]))


def _object_track(frames, background):
    """Centroid x, y and area of the object in each frame."""
    mask = np.abs(frames.astype(float) - background[None]).sum(-1) > 60
    ys, xs = np.mgrid[0:frames.shape[1], 0:frames.shape[2]]
    area = mask.sum((1, 2))
    return (mask * xs).sum((1, 2)) / area, (mask * ys).sum((1, 2)) / area, area


CFG = SyntheticConfig(list(MOTIONS), 25, 1, 30, 30, 160, 120, 25)


@pytest.mark.parametrize("cls,check", [
    ("MoveLeft", lambda x, y, a: x[-1] < x[0] - 10),
    ("MoveRight", lambda x, y, a: x[-1] > x[0] + 10),
    ("MoveUp", lambda x, y, a: y[-1] < y[0] - 5),
    ("MoveDown", lambda x, y, a: y[-1] > y[0] + 5),
    ("ZoomIn", lambda x, y, a: a[-1] > 2 * a[0]),
    ("ZoomOut", lambda x, y, a: a[0] > 2 * a[-1]),
])
def test_each_class_moves_the_way_its_name_says(cls, check):
    for group in (1, 9, 17):
        frames = render_clip(cls, group, 1, 0, CFG)
        x, y, area = _object_track(frames, group_style(0, group, CFG).background)
        assert check(x, y, area), f"{cls} group {group}"


@pytest.mark.parametrize("cls,grows", [("FadeIn", True), ("FadeOut", False)])
def test_fades_change_contrast_the_way_their_name_says(cls, grows):
    for group in (2, 11, 20):
        frames = render_clip(cls, group, 1, 0, CFG).astype(float)
        diff = np.abs(frames - group_style(0, group, CFG).background[None]).sum(-1)
        contrast = np.percentile(diff.reshape(len(diff), -1), 99.5, axis=1)  # the object, not noise
        first, last = contrast[:3].mean(), contrast[-3:].mean()
        assert (last > 2 * first) if grows else (first > 2 * last), f"{cls} group {group}"


def _orientation(frames, background):
    mask = np.abs(frames.astype(float) - background[None]).sum(-1) > 60
    out = []
    for m in mask:
        ys, xs = np.nonzero(m)
        cov = np.cov(np.stack([xs - xs.mean(), ys - ys.mean()]))
        out.append(0.5 * np.arctan2(2 * cov[0, 1], cov[0, 0] - cov[1, 1]))
    return np.array(out)


@pytest.mark.parametrize("cls,sign", [("RotateClockwise", 1), ("RotateCounterClockwise", -1)])
def test_rotations_turn_the_way_their_name_says(cls, sign):
    """Image y points down, so a clockwise turn increases the angle of the principal axis."""
    for group in (3, 12, 21):
        frames = render_clip(cls, group, 1, 0, CFG)[::4]
        axis = _orientation(frames, group_style(0, group, CFG).background)
        steps = np.angle(np.exp(2j * np.diff(axis))) / 2  # axes are defined modulo 180 degrees
        assert np.sign(steps.sum()) == sign, f"{cls} group {group}"


def test_opposite_directions_have_the_same_frames_without_order():
    """Without order, MoveLeft and MoveRight must look alike: same spread of positions."""
    def positions(cls):
        out = []
        for group in range(1, 26):
            for clip in (1, 2):
                frames = render_clip(cls, group, clip, 0, CFG)
                x, _, _ = _object_track(frames, group_style(0, group, CFG).background)
                out.append((x.mean(), x.min(), x.max()))
        return np.array(out)

    left, right = positions("MoveLeft"), positions("MoveRight")
    # Same distribution of where the object is (mean, leftmost, rightmost), within noise...
    assert np.abs(left.mean(0) - right.mean(0)).max() < 8
    # ...while the direction in time is always opposite (checked per class above).
