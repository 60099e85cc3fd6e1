"""The 3D CNN of the C-RNN paper (har/models/sources.py)."""

from __future__ import annotations

import torch
from torch import nn

from har.input_spec import CropHW
from har.models.registry import register_model
from har.models.sources import CRNN_PAPER


class CNN3D(nn.Module):
    """Conv3d(5x5x5, s2) BN ReLU MaxPool -> Conv3d(3x3x3, s2) BN ReLU MaxPool -> FC, FC, classifier.

    Input (N, C, T, H, W). Pooling is 2x2x2, but never below one frame: with the
    short clips of the default profile, time would otherwise collapse to zero. The
    first FC layer takes the flattened features, so it is sized for exactly `frames`
    frames of `crop` (height, width): no other input fits.
    """

    def __init__(self, num_classes: int, frames: int, crop: CropHW,
                 channels: tuple[int, int] = (64, 128), fc: tuple[int, int] = (2048, 2048),
                 dropout: float = 0.5):
        super().__init__()
        c1, c2 = channels
        t = frames
        layers = []
        for cin, cout, k in ((3, c1, 5), (c1, c2, 3)):
            t = (t + 2 * (k // 2) - k) // 2 + 1  # after the stride-2 convolution
            pool_t = 2 if t >= 2 else 1
            t //= pool_t
            layers += [nn.Conv3d(cin, cout, k, stride=2, padding=k // 2, bias=False),
                       nn.BatchNorm3d(cout), nn.ReLU(inplace=True),
                       nn.MaxPool3d((pool_t, 2, 2))]
        self.features = nn.Sequential(*layers)
        with torch.no_grad():
            flat = self.features(torch.zeros(1, 3, frames, *crop)).numel()
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, fc[0]), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(fc[0], fc[1]), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(fc[1], num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@register_model(family="3d-cnn", layout="NCTHW", source=f"{CRNN_PAPER}: 3D CNN",
                fixed_frames=True)
def cnn3d(num_classes: int, frames: int, crop: CropHW, channels=(64, 128), fc=(2048, 2048),
          dropout: float = 0.5) -> nn.Module:
    return CNN3D(num_classes, frames, crop, tuple(channels), tuple(fc), dropout)
