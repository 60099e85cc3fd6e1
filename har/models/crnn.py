"""The CNN-encoder + LSTM-decoder "C-RNN" of the C-RNN paper (har/models/sources.py), and its
order-agnostic baseline."""

from __future__ import annotations

import torch
from torch import nn

from har.input_spec import CropHW
from har.models.registry import register_model
from har.models.sequence import last_valid_output, masked_mean
from har.models.sources import CRNN_PAPER


class FrameEncoder(nn.Module):
    """4 conv layers (stride 2, BN, ReLU), then FC layers down to an embedding per frame.

    The first FC layer takes the flattened feature map, so it is sized for frames of
    `crop` (height, width); the clip length is free.
    """

    def __init__(self, crop: CropHW, channels=(32, 64, 128, 256), kernels=(5, 3, 3, 3),
                 fc=(1024, 768), embed: int = 512, dropout: float = 0.3, fc_norm: bool = True):
        super().__init__()
        layers, cin = [], 3
        for cout, k in zip(channels, kernels, strict=True):
            layers += [nn.Conv2d(cin, cout, k, stride=2, padding=k // 2, bias=False),
                       nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            cin = cout
        self.conv = nn.Sequential(*layers)
        with torch.no_grad():
            flat = self.conv(torch.zeros(1, 3, *crop)).numel()
        dims = [flat, *fc]
        mlp = []
        for a, b in zip(dims[:-1], dims[1:]):
            # BatchNorm after each FC: without it the scratch encoder sat at chance for
            # many epochs on small data (the ResNet C-RNN of the same seed has it too).
            norm = [nn.BatchNorm1d(b)] if fc_norm else []
            mlp += [nn.Linear(a, b), *norm, nn.ReLU(inplace=True)]
        # Flattening (not global pooling) keeps where the object is: motion needs position.
        self.fc = nn.Sequential(nn.Flatten(), *mlp, nn.Dropout(dropout), nn.Linear(dims[-1], embed))
        self.embed_dim = embed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, C, H, W) -> (N, T, embed); the same weights for every frame."""
        n, t = x.shape[:2]
        return self.fc(self.conv(x.flatten(0, 1))).view(n, t, -1)


class LSTMDecoder(nn.Module):
    """LSTM over per-frame embeddings, read at each clip's last valid step, then FC + classifier."""

    def __init__(self, embed: int, hidden: int, layers: int, head: int, num_classes: int,
                 dropout: float):
        super().__init__()
        self.lstm = nn.LSTM(embed, hidden, num_layers=layers, batch_first=True)
        self.classifier = nn.Sequential(nn.Linear(hidden, head), nn.ReLU(inplace=True),
                                        nn.Dropout(dropout), nn.Linear(head, num_classes))

    def forward(self, seq: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """seq: (N, T, embed). lengths: valid steps per clip; padded steps are never read."""
        return self.classifier(last_valid_output(self.lstm, seq, lengths))


class CRNN(nn.Module):
    def __init__(self, num_classes: int, crop: CropHW, channels, kernels, fc, embed, dropout,
                 fc_norm: bool, lstm_hidden: int, lstm_layers: int, head: int):
        super().__init__()
        self.encoder = FrameEncoder(crop, channels, kernels, fc, embed, dropout, fc_norm)
        self.decoder = LSTMDecoder(embed, lstm_hidden, lstm_layers, head, num_classes, dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """x: (N, T, C, H, W)."""
        return self.decoder(self.encoder(x), lengths)


class FrameAverage(nn.Module):
    """The same encoder, averaged over time: it sees the set of frames, not their order."""

    def __init__(self, num_classes: int, crop: CropHW, channels, kernels, fc, embed, dropout,
                 fc_norm: bool, head: int):
        super().__init__()
        self.encoder = FrameEncoder(crop, channels, kernels, fc, embed, dropout, fc_norm)
        self.classifier = nn.Sequential(nn.Linear(embed, head), nn.ReLU(inplace=True),
                                        nn.Dropout(dropout), nn.Linear(head, num_classes))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.classifier(masked_mean(self.encoder(x), lengths))


@register_model(family="c-rnn", layout="NTCHW", source=f"{CRNN_PAPER}: CNN encoder + LSTM decoder")
def crnn(num_classes: int, frames: int, crop: CropHW, channels=(32, 64, 128, 256),
         kernels=(5, 3, 3, 3), fc=(1024, 768), embed: int = 512, dropout: float = 0.3,
         fc_norm: bool = True, lstm_hidden: int = 512, lstm_layers: int = 3,
         head: int = 256) -> nn.Module:
    return CRNN(num_classes, crop, tuple(channels), tuple(kernels), tuple(fc), embed, dropout,
                fc_norm, lstm_hidden, lstm_layers, head)


@register_model(family="c-rnn", layout="NTCHW", source="ours: order-agnostic baseline")
def frame_avg(num_classes: int, frames: int, crop: CropHW, channels=(32, 64, 128, 256),
              kernels=(5, 3, 3, 3), fc=(1024, 768), embed: int = 512, dropout: float = 0.3,
              fc_norm: bool = True, head: int = 256) -> nn.Module:
    return FrameAverage(num_classes, crop, tuple(channels), tuple(kernels), tuple(fc), embed,
                        dropout, fc_norm, head)
