"""Extraction against real videos with awkward properties, and against broken files."""

import hashlib
import shutil

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import commands
from har.datasets.synthetic import encode_avi
from har.extract import ExtractionError, ExtractSettings, extract_all
from har.fileio import read_csv
from har.frames import load_frames
from har.video import VideoError, ffmpeg_exe, read_frames, sample_indices
from videos import flat

SIZE = 64


def _aspect(a: np.ndarray) -> float:
    return a.shape[2] / a.shape[1]


def test_sampling_spreads_over_the_whole_video():
    assert sample_indices(100, 4) == [12, 37, 62, 87]
    assert sample_indices(3, 6) == [0, 0, 1, 1, 2, 2]  # too short: frames repeat, in order
    assert sample_indices(0, 4) == []


def test_ucf101_xvid_avi(videos):
    r = read_frames(videos / "mmaction2__tests_data__test.avi", 16, SIZE)
    assert r.array.shape[:2] == (16, SIZE) and r.array.dtype == np.uint8
    assert r.info.codec == "mpeg4" and r.decoded == 164 and r.info.fps == pytest.approx(25)
    assert _aspect(r.array) == pytest.approx(320 / 240, rel=0.03)


def test_h264_in_avi_with_b_frames(videos):
    r = read_frames(videos / "mmaction2__S001C001P001R001A001_rgb.avi", 8, SIZE)
    assert r.info.codec == "h264" and r.decoded == 103
    assert r.array.shape[1] == SIZE and _aspect(r.array) == pytest.approx(16 / 9, rel=0.03)


def test_non_square_pixels_are_corrected(videos):
    r = read_frames(videos / "mmaction2__demo__demo.mp4", 8, SIZE)
    display = 340 * 64 / 51 / 256  # storage 340x256 with SAR 64:51
    assert _aspect(r.array) == pytest.approx(display, rel=0.03)
    assert abs(_aspect(r.array) - 340 / 256) > 0.2


def test_rotated_phone_clip_comes_out_upright(videos):
    path = videos / "FFMpegCore__input_3sec_rotation_negative_90deg.mp4"
    r = read_frames(path, 4, SIZE)
    assert r.info.rotation == -90
    assert r.array.shape[1:3] == (114, SIZE)  # portrait: coded 1280x720 is displayed 720x1280
    with av.open(str(path)) as c:
        raw = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    first = raw[sample_indices(len(raw), 4)[0]]
    ours = torch.from_numpy(r.array[0]).permute(2, 0, 1).float()

    def distance(k):
        turned = torch.from_numpy(np.ascontiguousarray(np.rot90(first, k=k))).permute(2, 0, 1)
        small = F.interpolate(turned[None].float(), size=ours.shape[1:], mode="area")[0]
        return (small - ours).abs().mean().item()

    # Upright means the coded frame turned clockwise, and clearly not counter-clockwise.
    assert distance(-1) < 3 and distance(1) > 2 * distance(-1)


def test_multi_stream_mp4_uses_the_largest_default_stream(videos):
    # Both streams are marked default: the larger one (pixels x frames) is the recording.
    r = read_frames(videos / "torchcodec__nasa_13013.mp4", 8, SIZE)
    assert r.info.video_streams == 2
    assert (r.info.width, r.info.height) == (480, 270)  # not the first stream's 320x180
    assert r.decoded == 390 and r.info.fps == pytest.approx(30000 / 1001)
    assert _aspect(r.array) == pytest.approx(480 / 270, rel=0.03)


def test_short_video_repeats_frames_and_says_so(videos):
    r = read_frames(videos / "FFMpegCore__input_3sec_rotation_negative_90deg.mp4", 50, 32)
    assert len(r.array) == 50 and r.decoded == 35
    assert any("repeated" in n for n in r.notes)


@pytest.fixture
def dataset_with_broken_files(tmp_path, videos):
    root = tmp_path / "videos"
    (root / "Good").mkdir(parents=True)
    (root / "Bad").mkdir()
    good = (videos / "mmaction2__tests_data__test.avi").read_bytes()
    shutil.copy(videos / "mmaction2__tests_data__test.avi", root / "Good" / "v_Good_g01_c01.avi")
    (root / "Bad" / "v_Bad_g01_c01.avi").write_bytes(b"")
    (root / "Bad" / "v_Bad_g01_c02.avi").write_bytes(good[: len(good) // 3])
    (root / "Bad" / "v_Bad_g01_c03.avi").write_bytes(np.random.default_rng(0).bytes(20000))
    return root


def test_broken_files_are_recorded_as_failed_not_fatal(tmp_path, dataset_with_broken_files):
    settings = ExtractSettings(frames=8, short_side=32, jpeg_quality=90, max_failed_fraction=1.0, workers=2)
    extract_all(dataset_with_broken_files, tmp_path / "frames", tmp_path / "manifest.csv", settings)
    rows = {r["id"]: r for r in read_csv(tmp_path / "manifest.csv")}
    assert len(rows) == 4
    good = rows["Good/v_Good_g01_c01"]
    assert good["status"] == "ok" and good["group"] == "g01" and good["class"] == "Good"
    assert int(good["frame_count"]) == 164 and good["width"] == "320" and good["height"] == "240"
    frames = load_frames(tmp_path / "frames" / good["frames"])
    assert frames.shape == (8, 3, 32, 42)  # 320x240 -> short side 32, even width
    # The stages that read frames depend on the manifest: it must change with the file's bytes.
    written = (tmp_path / "frames" / good["frames"]).read_bytes()
    assert good["frames_md5"] == hashlib.md5(written).hexdigest()
    errors = {vid: r["error"] for vid, r in rows.items() if r["status"] == "failed"}
    assert set(errors) == {"Bad/v_Bad_g01_c01", "Bad/v_Bad_g01_c02", "Bad/v_Bad_g01_c03"}
    assert "empty file" in errors["Bad/v_Bad_g01_c01"]
    assert "truncated" in errors["Bad/v_Bad_g01_c02"]
    assert "not a readable video" in errors["Bad/v_Bad_g01_c03"]
    for vid, message in errors.items():
        assert vid.split("/")[1] in message  # every error names its file
        assert not (tmp_path / "frames" / f"{vid}.npz").exists()
    # One file per video, and no temporary leftovers.
    assert sorted(p.name for p in (tmp_path / "frames").rglob("*") if p.is_file()) == ["v_Good_g01_c01.npz"]


def test_too_many_failures_fail_the_stage_listing_the_files(tmp_path, dataset_with_broken_files):
    settings = ExtractSettings(frames=8, short_side=32, jpeg_quality=90, max_failed_fraction=0.5, workers=1)
    with pytest.raises(ExtractionError) as err:
        extract_all(dataset_with_broken_files, tmp_path / "frames", tmp_path / "manifest.csv", settings)
    message = str(err.value)
    assert "3 of 4 videos failed" in message
    for name in ("v_Bad_g01_c01.avi", "v_Bad_g01_c02.avi", "v_Bad_g01_c03.avi"):
        assert name in message
    assert (tmp_path / "manifest.csv").is_file()  # the manifest still says why


def test_unreadable_single_file_raises_a_named_error(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    with pytest.raises(VideoError, match="notes.mp4: not a readable video"):
        read_frames(text, 4, 32)


def _ramp_video(path):
    """A video whose frame i has grey level 4*i: the decoded brightness tells the index."""
    encode_avi(flat(64, 48, [4 * i for i in range(50)]), path, fps=25)
    return path


def test_frames_are_sampled_from_the_whole_video_in_one_pass(tmp_path):
    r = read_frames(_ramp_video(tmp_path / "ramp.avi"), 5, 32)
    levels = r.array.reshape(5, -1).mean(1) / 4
    np.testing.assert_allclose(levels, sample_indices(50, 5), atol=1.0)  # [5, 15, 25, 35, 45]
    assert r.notes == []


def test_container_without_frame_count_is_decoded_fully(tmp_path):
    mkv = tmp_path / "ramp.mkv"
    commands.run([ffmpeg_exe(), "-v", "error", "-i", _ramp_video(tmp_path / "ramp.avi"), "-c", "copy",
                  mkv], check=True)
    r = read_frames(mkv, 5, 32)
    assert r.info.frame_count_exact is False and r.decoded == 50
    assert any("no frame count" in n for n in r.notes)
    np.testing.assert_allclose(r.array.reshape(5, -1).mean(1) / 4, sample_indices(50, 5), atol=1.0)
