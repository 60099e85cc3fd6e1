"""What a model's input looks like, in one torch-free leaf module: the crop and the
normalisation constants. Config, preprocessing and the model registry all import these,
and this module imports nothing of har, so none of them pulls in another.
"""

from __future__ import annotations

from collections.abc import Sequence

Crop = int | tuple[int, int]  # as params.yaml gives it: a square's side, or (height, width)
CropHW = tuple[int, int]  # (height, width): what the models receive, from crop_hw alone

# ImageNet's statistics: what torchvision's pretrained weights were trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def crop_hw(crop: int | Sequence[int]) -> tuple[int, int]:
    """(height, width) of a crop given as a square's side or as [height, width]."""
    if isinstance(crop, int):
        return crop, crop
    height, width = crop
    return int(height), int(width)
