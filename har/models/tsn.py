"""TSN-style baseline: a 2D backbone on every frame, logits averaged over time."""

from __future__ import annotations

import torch
from torch import nn

from har.models.registry import register_model
from har.models.resnet_crnn import resnet_trunk
from har.models.sequence import masked_mean


class TSN(nn.Module):
    def __init__(self, num_classes: int, depth: int, pretrained: bool, dropout: float):
        super().__init__()
        self.backbone, width = resnet_trunk(depth, pretrained)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, num_classes))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        n, t = x.shape[:2]
        logits = self.classifier(self.backbone(x.flatten(0, 1))).view(n, t, -1)
        return masked_mean(logits, lengths)


@register_model(family="2d-segment", layout="NTCHW", source="TSN (Wang et al. 2016), the standard baseline")
def tsn(num_classes: int, frames: int, crop: int, depth: int = 50, pretrained: bool = False,
        dropout: float = 0.5) -> nn.Module:
    return TSN(num_classes, depth, pretrained, dropout)
