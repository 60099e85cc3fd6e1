"""Reading variable-length clips: padded time steps must never count."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


def last_valid_output(rnn: nn.RNNBase, seq: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Top-layer output of `rnn` (batch_first) at each clip's last valid step: (N, hidden)."""
    if lengths is None:
        out, _ = rnn(seq)
        return out[:, -1]
    packed = pack_padded_sequence(seq, lengths.cpu(), batch_first=True, enforce_sorted=False)
    _, h = rnn(packed)
    return (h[0] if isinstance(h, tuple) else h)[-1]  # LSTM gives (h, c), GRU gives h


def masked_mean(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Mean over time (dim 1) of the valid steps only: (N, T, ...) -> (N, ...)."""
    if lengths is None:
        return x.mean(1)
    mask = torch.arange(x.shape[1], device=x.device)[None] < lengths.to(x.device)[:, None]
    mask = mask.view(*mask.shape, *([1] * (x.dim() - 2))).to(x.dtype)
    return (x * mask).sum(1) / mask.sum(1)
