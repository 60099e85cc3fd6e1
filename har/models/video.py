"""torchvision's video backbones, with their Kinetics-400 weights and preprocessing.

Each entry's mean/std are those of its torchvision weights entry (the Kinetics
statistics differ from ImageNet's), so the saved Preprocessing matches the weights.
"""

from __future__ import annotations

import torchvision.models.video as tv
from torch import nn

from har.models.pretrained import load_pretrained
from har.models.registry import register_model

KINETICS = ((0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989))


def _with_head(name: str, num_classes: int, pretrained: bool) -> nn.Module:
    net = getattr(tv, name)(weights=None)  # Kinetics-400 head: 400 classes
    if pretrained:
        load_pretrained(net, name)
    # Swap only the last linear layer, so the pretrained trunk is untouched.
    if name == "s3d":
        conv = net.classifier[1]
        net.classifier[1] = nn.Conv3d(conv.in_channels, num_classes, 1)
    elif name == "mvit_v2_s":
        net.head[1] = nn.Linear(net.head[1].in_features, num_classes)
    elif name == "swin3d_t":
        net.head = nn.Linear(net.head.in_features, num_classes)
    else:  # r3d_18, mc3_18, r2plus1d_18
        net.fc = nn.Linear(net.fc.in_features, num_classes)
    return net


@register_model(family="3d-resnet", layout="NCTHW", source="Tran et al. 2018, torchvision, Kinetics-400",
                mean=KINETICS[0], std=KINETICS[1])
def r3d_18(num_classes: int, frames: int, crop: int, pretrained: bool = False) -> nn.Module:
    return _with_head("r3d_18", num_classes, pretrained)


@register_model(family="3d-resnet", layout="NCTHW", source="Tran et al. 2018, torchvision, Kinetics-400",
                mean=KINETICS[0], std=KINETICS[1])
def mc3_18(num_classes: int, frames: int, crop: int, pretrained: bool = False) -> nn.Module:
    return _with_head("mc3_18", num_classes, pretrained)


@register_model(family="3d-resnet", layout="NCTHW", source="Tran et al. 2018, torchvision, Kinetics-400",
                mean=KINETICS[0], std=KINETICS[1])
def r2plus1d_18(num_classes: int, frames: int, crop: int, pretrained: bool = False) -> nn.Module:
    return _with_head("r2plus1d_18", num_classes, pretrained)


@register_model(family="separable-3d", layout="NCTHW", source="Xie et al. 2018 (S3D), torchvision, Kinetics-400",
                mean=KINETICS[0], std=KINETICS[1], min_input=(14, 224))
def s3d(num_classes: int, frames: int, crop: int, pretrained: bool = False) -> nn.Module:
    return _with_head("s3d", num_classes, pretrained)


@register_model(family="video-transformer", layout="NCTHW", source="Li et al. 2022 (MViTv2), torchvision, Kinetics-400",
                mean=(0.45, 0.45, 0.45), std=(0.225, 0.225, 0.225), fixed_input=(16, 224))
def mvit_v2_s(num_classes: int, frames: int, crop: int, pretrained: bool = False) -> nn.Module:
    return _with_head("mvit_v2_s", num_classes, pretrained)


@register_model(family="video-transformer", layout="NCTHW", source="Liu et al. 2022 (Video Swin), torchvision, Kinetics-400")
def swin3d_t(num_classes: int, frames: int, crop: int, pretrained: bool = False) -> nn.Module:
    return _with_head("swin3d_t", num_classes, pretrained)
