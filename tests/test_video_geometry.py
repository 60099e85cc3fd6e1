"""The one display-geometry rule (har.video.display_size): the size a coded picture is shown
at, from its pixel aspect ratio and its display-matrix rotation. probe, the scaled frames, the
pixel budget and the poster all take their size from it."""

from __future__ import annotations

from fractions import Fraction

import pytest

from har.video import (VideoError, check_geometry, display_size, output_size, poster_frame,
                       probe, quarter_turns, read_frames)
from videos import noise, write_video


def test_an_odd_number_of_quarter_turns_swaps_the_sides():
    assert display_size(640, 480) == (640.0, 480.0)
    for rotation in (90, -90, 270, -270, 450):
        assert display_size(640, 480, rotation=rotation) == (480.0, 640.0), rotation
    for rotation in (0, None, 180, -180, 360):
        assert display_size(640, 480, rotation=rotation) == (640.0, 480.0), rotation
    # A matrix that is not a right angle turns the pixels by the nearest quarter turn
    # (upright_rgb), and the size follows the pixels.
    assert quarter_turns(89) == 1 and display_size(640, 480, rotation=89) == (480.0, 640.0)
    assert quarter_turns(44) == 0 and display_size(640, 480, rotation=44) == (640.0, 480.0)


def test_the_pixel_aspect_ratio_stretches_the_coded_width():
    assert display_size(640, 480, Fraction(2, 1)) == (1280.0, 480.0)  # SAR 2:1 widens
    assert display_size(640, 480, Fraction(1, 2)) == (320.0, 480.0)
    assert display_size(720, 576, Fraction(16, 15)) == pytest.approx((768.0, 576.0))  # PAL 4:3
    for square in (None, Fraction(0), Fraction(-2), Fraction(1)):  # unset or nonsense: square
        assert display_size(640, 480, square) == (640.0, 480.0), square


def test_the_pixel_aspect_applies_to_the_coded_width_before_the_turn():
    # SAR 2:1 on a 640x480 picture shown turned: 1280x480 as coded, 480x1280 upright.
    assert display_size(640, 480, Fraction(2, 1), 90) == (480.0, 1280.0)
    assert display_size(640, 480, Fraction(2, 1), 270) == (480.0, 1280.0)
    assert display_size(640, 480, Fraction(1, 2), -90) == (480.0, 320.0)


def test_the_budget_measures_the_shown_shape():
    check_geometry("ok", 100, 100, Fraction(16))  # 16:1 as shown
    with pytest.raises(VideoError, match="aspect ratio of 16.5"):
        check_geometry("x", 100, 100, Fraction(33, 2))
    with pytest.raises(VideoError, match="aspect ratio of 16.5"):  # narrow pixels: tall frames
        check_geometry("x", 100, 100, Fraction(2, 33))


def test_probe_frames_and_poster_take_their_size_from_the_rule(videos, tmp_path):
    wide_pixels = write_video(tmp_path / "sar.mp4", noise(100, 60, 6), sar=Fraction(3, 2))
    cases = [  # (file, coded width, coded height, SAR, rotation)
        (wide_pixels, 100, 60, Fraction(3, 2), 0),
        (videos / "FFMpegCore__input_3sec_rotation_negative_90deg.mp4", 1280, 720, None, -90),
    ]
    for path, width, height, sar, rotation in cases:
        shown = display_size(width, height, sar, rotation)
        info = probe(path)
        assert (info.width, info.height) == tuple(round(side) for side in shown), path.name
        assert info.rotation == rotation
        w, h = output_size(*shown, 32)
        assert read_frames(path, 2, 32).array.shape == (2, h, w, 3), path.name
        short = min(160, int(min(shown)))  # the poster never upscales
        w, h = output_size(*shown, short)
        assert poster_frame(path, 160).shape == (h, w, 3), path.name
