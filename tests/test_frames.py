"""The frames file: what load_frames returns is exactly what PIL decodes from the stored JPEGs,
a damaged file is a named error, and writing frames never imports torch."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from commands import python
from har.frames import jpeg_round_trip, load_frames, save_frames
from har.video import read_frames


def pil_decode_all(path) -> np.ndarray:
    """(T, H, W, 3) of every stored JPEG, decoded by PIL: the reader before torchvision's."""
    with np.load(path) as z:
        jpeg, offsets = z["jpeg"], z["offsets"]
    return np.stack([np.asarray(Image.open(io.BytesIO(jpeg[a:b].tobytes())).convert("RGB"))
                     for a, b in zip(offsets[:-1], offsets[1:])])


# The fixture videos of every shape (see ../shared/fixtures/README.md): XviD AVI, H.264 in AVI
# at 1080p, a rotated phone clip, non-square pixels, two video streams.
AWKWARD = {"mmaction2__tests_data__test.avi", "mmaction2__S001C001P001R001A001_rgb.avi",
           "FFMpegCore__input_3sec_rotation_negative_90deg.mp4", "mmaction2__demo__demo.mp4",
           "torchcodec__nasa_13013.mp4"}


@pytest.mark.parametrize("quality", [90, 50])
def test_stored_frames_decode_to_the_pixels_pil_gives(tmp_path, videos, quality):
    # Checkpoints were trained on PIL-decoded frames: the faster decoder must not move a pixel.
    # Real videos of every shape in the fixtures, at an odd size so chroma is subsampled unevenly.
    found = sorted(p for p in videos.iterdir() if p.suffix in (".avi", ".mp4", ".mov"))
    assert AWKWARD <= {p.name for p in found}  # an empty or moved folder must not pass
    for video in found:
        frames = read_frames(video, 6, 57).array
        path = tmp_path / f"{video.stem}.npz"
        save_frames(path, frames, quality)
        loaded = load_frames(path).permute(0, 2, 3, 1).numpy()
        expected = pil_decode_all(path)
        assert np.array_equal(loaded, expected), video.name
        assert np.array_equal(jpeg_round_trip(frames, quality), expected), video.name


def test_a_damaged_frame_is_an_error_naming_the_file(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    path = tmp_path / "clip.npz"
    save_frames(path, frames)
    with np.load(path) as z:
        jpeg, offsets, shape = z["jpeg"].copy(), z["offsets"], z["shape"]
    jpeg[offsets[1]:offsets[2]] = 7  # the second frame's bytes are no JPEG any more
    with open(path, "wb") as f:
        np.savez(f, jpeg=jpeg, offsets=offsets, shape=shape)
    assert load_frames(path, [0]).shape == (1, 3, 16, 16)  # an intact frame still reads
    with pytest.raises(ValueError, match=r"clip\.npz: a stored frame is not a valid JPEG"):
        load_frames(path, [0, 1])


def test_extracting_never_imports_torch():
    # The extract stage only writes frames: torch would cost it a second and 300+ MB per run.
    code = "import sys, har.extract; print('torch' in sys.modules)"
    out = python("-c", code, check=True)
    assert out.stdout.strip() == "False"
