"""TSN-style baseline: a 2D backbone on every frame, logits averaged over time."""

from __future__ import annotations

import torch
from torch import nn

from har.input_spec import CropHW
from har.models.features import FrameEncoderModel
from har.models.registry import register_model
from har.models.resnet_crnn import resnet_trunk
from har.models.sequence import masked_mean


class TSN(FrameEncoderModel):
    """Per frame: ResNet -> dropout -> linear; the clip's logits are the mean over its frames.

    freeze="backbone" trains the linear layer only (a linear probe), on cached features.
    """

    def __init__(self, num_classes: int, depth: int, pretrained: bool, freeze_what: str,
                 dropout: float):
        super().__init__()
        self.encoder, width = resnet_trunk(depth, pretrained, freeze_what)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, num_classes))

    def forward_features(self, feats: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return masked_mean(self.classifier(feats), lengths)


@register_model(family="tsn", layout="NTCHW", source="TSN (Wang et al. 2016), the standard baseline",
                weights=lambda o: f"resnet{o['depth']}")
def tsn(num_classes: int, frames: int, crop: CropHW, depth: int = 50, pretrained: bool = False,
        freeze: str = "none", dropout: float = 0.5) -> nn.Module:
    return TSN(num_classes, depth, pretrained, freeze, dropout)
