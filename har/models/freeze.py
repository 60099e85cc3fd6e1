"""Freezing rules, defined once.

A "layer" follows Keras, which the seed report used: a module that owns weights
itself (Conv, Linear, BatchNorm, ...), counted in registration order; containers
and weightless modules (ReLU, pooling) are not layers. "Only the last 9 layers are
trainable" therefore means: the last 9 such modules keep requires_grad.
"""

from __future__ import annotations

from torch import nn

from har.errors import InputError


def weight_layers(module: nn.Module) -> list[nn.Module]:
    """Modules that own parameters directly, in registration order."""
    return [m for m in module.modules() if any(True for _ in m.parameters(recurse=False))]


def freeze(module: nn.Module) -> None:
    for p in module.parameters():
        p.requires_grad_(False)


def train_last_layers(module: nn.Module, n: int) -> None:
    """Freeze every weight layer of `module` except the last `n`."""
    layers = weight_layers(module)
    if not 0 <= n <= len(layers):
        raise InputError(f"cannot keep {n} trainable layers: the module has {len(layers)}")
    for i, layer in enumerate(layers):
        for p in layer.parameters(recurse=False):
            p.requires_grad_(i >= len(layers) - n)


def keep_frozen_norms_in_eval(module: nn.Module) -> None:
    """Put BatchNorm layers whose weights are frozen back in eval mode.

    Call after model.train(): a frozen BN that stays in train mode still updates its
    running mean and variance from our batches, so the "frozen" encoder drifts away
    from its pretrained statistics. (A well-known public C-RNN does exactly that.)
    """
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if not any(p.requires_grad for p in m.parameters(recurse=False)):
                m.eval()
