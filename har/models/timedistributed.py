"""Seed 2: a TimeDistributed CNN encoder with an LSTM or GRU head (the Keras report).

"TimeDistributed" means one encoder with shared weights applied to every frame.
Six variants: encoder scratch / mobilenet / resnet152 x head lstm / gru.
"""

from __future__ import annotations

import torch
from torch import nn

from har.errors import InputError
from har.input_spec import CropHW
from har.models.features import FrameEncoderModel
from har.models.freeze import train_last_layers
from har.models.pretrained import load_pretrained
from har.models.registry import register_model
from har.models.sequence import last_valid_output
from har.models.sources import TD_REPORT

# The report's transfer-learning rule: only the last N Keras-style layers train.
TRAINABLE_LAYERS = {"mobilenet": 9, "resnet152": 24}
# The weights each pretrained encoder loads (keys of har.weights).
ENCODER_WEIGHTS = {"mobilenet": lambda o: "mobilenet_v2", "resnet152": lambda o: "resnet152"}


class ScratchEncoder(nn.Module):
    """VGG-like: pairs of 3x3 convs at 64/128/256/512, each pair then BN and max-pool; global max pool."""

    def __init__(self, channels=(64, 128, 256, 512)):
        super().__init__()
        layers, cin = [], 3
        for c in channels:
            layers += [nn.Conv2d(cin, c, 3, padding=1), nn.ReLU(inplace=True),
                       nn.Conv2d(c, c, 3, padding=1), nn.ReLU(inplace=True),
                       nn.BatchNorm2d(c), nn.MaxPool2d(2)]
            cin = c
        self.features = nn.Sequential(*layers, nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.out_dim = cin

    def forward(self, x):
        return self.features(x)


def mobilenet_encoder(pretrained: bool) -> nn.Module:
    """torchvision MobileNetV2 features + global average pool (Keras MobileNet with pooling='avg')."""
    from torchvision.models import mobilenet_v2  # imported late: see har/models/video.py's _resnet3d

    net = mobilenet_v2(weights=None)
    if pretrained:
        load_pretrained(net, "mobilenet_v2")
    enc = nn.Sequential(net.features, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    enc.out_dim = net.last_channel
    return enc


def resnet152_encoder(pretrained: bool) -> nn.Module:
    """torchvision ResNet-152 without its fc.

    The report used Keras ResNet152V2, a pre-activation ResNet (BN-ReLU before each
    convolution). torchvision ships only the original post-activation ResNet-152, so
    that is what this is; its ImageNet weights differ from the report's.
    """
    from torchvision.models import resnet152  # imported late: see har/models/video.py's _resnet3d

    net = resnet152(weights=None)
    if pretrained:
        load_pretrained(net, "resnet152")
    out_dim = net.fc.in_features
    net.fc = nn.Identity()
    net.out_dim = out_dim
    return net


class TimeDistributedRNN(FrameEncoderModel):
    def __init__(self, num_classes: int, encoder: str, head: str, pretrained: bool, units: int,
                 dense, dropout: float, scratch_channels, trainable_layers: int | None):
        super().__init__()
        if encoder == "scratch":
            if pretrained:
                raise InputError("td_scratch_*: the scratch encoder has no pretrained weights")
            self.encoder = ScratchEncoder(tuple(scratch_channels))
        elif encoder == "mobilenet":
            self.encoder = mobilenet_encoder(pretrained)
        elif encoder == "resnet152":
            self.encoder = resnet152_encoder(pretrained)
        else:
            raise InputError(f"encoder must be scratch, mobilenet or resnet152, got {encoder!r}")
        if trainable_layers is None:
            trainable_layers = TRAINABLE_LAYERS.get(encoder)
        elif encoder == "scratch":
            raise InputError("td_scratch_*: trainable_layers applies to pretrained encoders only")
        if trainable_layers is not None:
            # 0 freezes the whole encoder: its outputs can then be cached (features stage).
            train_last_layers(self.encoder, trainable_layers)
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}.get(head)
        if rnn is None:
            raise InputError(f"head must be lstm or gru, got {head!r}")
        self.rnn = rnn(self.encoder.out_dim, units, batch_first=True)
        dims, layers = [units, *dense], []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.ReLU(inplace=True), nn.Dropout(dropout)]
        self.classifier = nn.Sequential(*layers, nn.Linear(dims[-1], num_classes))

    def forward_features(self, feats: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.classifier(last_valid_output(self.rnn, feats, lengths))


def _build(encoder: str, head: str):
    def build(num_classes: int, frames: int, crop: CropHW, pretrained: bool = False, units: int = 128,
              dense=(1024, 512, 128, 64), dropout: float = 0.5,
              scratch_channels=(64, 128, 256, 512), trainable_layers: int | None = None) -> nn.Module:
        """trainable_layers: None keeps the report's rule (mobilenet 9, resnet152 24)."""
        return TimeDistributedRNN(num_classes, encoder, head, pretrained, units, tuple(dense),
                                  dropout, scratch_channels, trainable_layers)
    return build


def _register(name: str, encoder: str, head: str) -> None:
    register_model(name=name, family="timedistributed", layout="NTCHW",
                   source=f"{TD_REPORT}: {encoder} encoder + {head.upper()}",
                   weights=ENCODER_WEIGHTS.get(encoder))(_build(encoder, head))


# Each name written out, so that a search for the name in params.yaml finds its registration.
_register("td_scratch_lstm", "scratch", "lstm")
_register("td_scratch_gru", "scratch", "gru")
_register("td_mobilenet_lstm", "mobilenet", "lstm")
_register("td_mobilenet_gru", "mobilenet", "gru")
_register("td_resnet152_lstm", "resnet152", "lstm")
_register("td_resnet152_gru", "resnet152", "gru")
