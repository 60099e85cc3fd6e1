"""The ResNet encoder + LSTM decoder of the C-RNN paper (which uses ResNet-101; har/models/sources.py)."""

from __future__ import annotations

import torch
from torch import nn

from har.errors import InputError
from har.input_spec import CropHW
from har.models.crnn import LSTMDecoder
from har.models.features import FrameEncoderModel
from har.models.freeze import freeze
from har.models.pretrained import load_pretrained
from har.models.registry import register_model
from har.models.sources import CRNN_PAPER

RESNET_DEPTHS = (18, 34, 50, 101, 152)


def resnet_trunk(depth: int, pretrained: bool, freeze_what: str = "none") -> tuple[nn.Module, int]:
    """A torchvision ResNet with its fc removed, and its feature width.

    freeze_what="backbone" freezes all of it ("none" trains it).
    """
    if depth not in RESNET_DEPTHS:
        raise InputError(f"resnet depth must be one of {RESNET_DEPTHS}, got {depth}")
    if freeze_what not in ("none", "backbone"):
        raise InputError(f"freeze must be 'none' or 'backbone', got {freeze_what!r}")
    import torchvision.models  # here, not at the top: see har/models/video.py's _resnet3d

    net = getattr(torchvision.models, f"resnet{depth}")(weights=None)
    if pretrained:
        load_pretrained(net, f"resnet{depth}")
    width = net.fc.in_features
    net.fc = nn.Identity()
    if freeze_what == "backbone":
        freeze(net)
    return net, width


class ResNetCRNN(FrameEncoderModel):
    """Per frame: ResNet -> FC 1024 + BN -> FC 768 + BN -> dropout -> 512 embedding; then the LSTM decoder.

    With freeze="backbone" the ResNet (`encoder`) gets no gradient *and* stays in eval
    mode during training, so its BatchNorm statistics are the pretrained ones; its
    outputs can then be cached (the features stage).
    """

    def __init__(self, num_classes: int, depth: int, pretrained: bool, freeze_what: str,
                 fc, embed: int, dropout: float, lstm_hidden: int, lstm_layers: int, head: int):
        super().__init__()
        self.encoder, width = resnet_trunk(depth, pretrained, freeze_what)
        dims, layers = [width, *fc], []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.BatchNorm1d(b, momentum=0.01), nn.ReLU(inplace=True)]
        self.project = nn.Sequential(*layers, nn.Dropout(dropout), nn.Linear(dims[-1], embed))
        self.decoder = LSTMDecoder(embed, lstm_hidden, lstm_layers, head, num_classes, dropout)

    def forward_features(self, feats: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        n, t = feats.shape[:2]
        return self.decoder(self.project(feats.flatten(0, 1)).view(n, t, -1), lengths)


@register_model(family="c-rnn", layout="NTCHW",
                source=f"{CRNN_PAPER}: ResNet-101 encoder + LSTM decoder",
                weights=lambda o: f"resnet{o['depth']}")
def resnet_crnn(num_classes: int, frames: int, crop: CropHW, depth: int = 101, pretrained: bool = False,
                freeze: str = "none", fc=(1024, 768), embed: int = 512, dropout: float = 0.3,
                lstm_hidden: int = 512, lstm_layers: int = 3, head: int = 256) -> nn.Module:
    return ResNetCRNN(num_classes, depth, pretrained, freeze, tuple(fc), embed, dropout,
                      lstm_hidden, lstm_layers, head)
