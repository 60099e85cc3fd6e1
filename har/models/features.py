"""Models whose per-frame encoder can be frozen, and so computed once and cached.

A model that supports the feature cache splits its forward pass in two:
`encoder` (one frame -> one vector, shared over time) and `forward_features`
(the sequence of vectors -> logits). `forward` is always the composition, so a
checkpoint trained on cached features still runs on pixels.
"""

from __future__ import annotations

import torch
from torch import nn

from har.models.freeze import keep_frozen_norms_in_eval


class FrameEncoderModel(nn.Module):
    """Base for per-frame encoder + temporal head models. Subclasses set `self.encoder`."""

    encoder: nn.Module

    def train(self, mode: bool = True):
        super().train(mode)
        # A frozen BatchNorm left in train mode would still drift from its statistics.
        keep_frozen_norms_in_eval(self.encoder)
        return self

    def forward_features(self, feats: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(N, T, D) encoder outputs -> (N, classes) logits."""
        raise NotImplementedError

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, C, H, W) -> (N, T, D): the same encoder weights for every frame."""
        n, t = x.shape[:2]
        return self.encoder(x.flatten(0, 1)).view(n, t, -1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.forward_features(self.encode(x), lengths)


def frozen_encoder(model: nn.Module) -> nn.Module | None:
    """The model's per-frame encoder if it has one and none of its weights train, else None."""
    if not isinstance(model, FrameEncoderModel):
        return None
    if any(p.requires_grad for p in model.encoder.parameters()):
        return None
    return model.encoder


class FeatureHead(nn.Module):
    """Trains `model` on cached encoder outputs: forward takes (N, T, D) features, not pixels.

    It shares the model's parameters, so the optimizer, the train() / eval() switches
    (which keep frozen BatchNorm in eval mode) and the saved state_dict are the model's.
    """

    def __init__(self, model: FrameEncoderModel):
        super().__init__()
        self.model = model

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.model.forward_features(feats, lengths)
