"""torchvision's video backbones, with their Kinetics-400 weights and preprocessing.

Each entry's mean/std are those of its torchvision weights entry (the Kinetics
statistics differ from ImageNet's), so the saved Preprocessing matches the weights.

The 3D ResNets and Swin3D also take size options (`layers`; `embed_dim`, `depths`,
`num_heads`, `window_size`) so the offline default profile can train a reduced
variant on CPU. The defaults are torchvision's, and pretrained weights need them.
"""

from __future__ import annotations

from torch import nn

from har.errors import InputError
from har.input_spec import CropHW
from har.models.pretrained import load_pretrained
from har.models.registry import register_model

KINETICS = ((0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989))
FAMILY = "torchvision-video"

_SWIN3D_T = {"embed_dim": 96, "depths": [2, 2, 6, 2], "num_heads": [3, 6, 12, 24],
             "window_size": [8, 7, 7]}


def _require_default_size(name: str, pretrained: bool, given: dict, default: dict) -> None:
    if pretrained and given != default:
        raise InputError(f"{name}: pretrained weights exist only for the full-size model "
                         f"({default}); got {given}. Use pretrained: false for a reduced one.")


def _pretrained_then_head(net: nn.Module, name: str, pretrained: bool, num_classes: int) -> nn.Module:
    """Load Kinetics-400 weights into the 400-class net, then swap only the last linear layer."""
    if pretrained:
        load_pretrained(net, name)
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


def _resnet3d(name: str, num_classes: int, pretrained: bool, layers) -> nn.Module:
    # torchvision is imported where a model is built, in every builder of har.models: it
    # takes 1.4 s to import, which every `har` command and stage would otherwise pay.
    from torchvision.models.video.resnet import (BasicBlock, BasicStem, Conv2Plus1D, Conv3DNoTemporal,
                                                 Conv3DSimple, R2Plus1dStem, VideoResNet)

    _require_default_size(name, pretrained, {"layers": list(layers)}, {"layers": [2, 2, 2, 2]})
    # (convolution of each of the 4 stages, stem) as torchvision builds them.
    convs, stem = {"r3d_18": ([Conv3DSimple] * 4, BasicStem),
                   "mc3_18": ([Conv3DSimple] + [Conv3DNoTemporal] * 3, BasicStem),
                   "r2plus1d_18": ([Conv2Plus1D] * 4, R2Plus1dStem)}[name]
    net = VideoResNet(BasicBlock, convs, list(layers), stem, num_classes=400)
    return _pretrained_then_head(net, name, pretrained, num_classes)


@register_model(family=FAMILY, layout="NCTHW", source="Tran et al. 2018 (R3D), torchvision, Kinetics-400",
                mean=KINETICS[0], std=KINETICS[1], weights=lambda o: "r3d_18")
def r3d_18(num_classes: int, frames: int, crop: CropHW, pretrained: bool = False,
           layers=(2, 2, 2, 2)) -> nn.Module:
    return _resnet3d("r3d_18", num_classes, pretrained, layers)


@register_model(family=FAMILY, layout="NCTHW", source="Tran et al. 2018 (MC3), torchvision, Kinetics-400",
                mean=KINETICS[0], std=KINETICS[1], weights=lambda o: "mc3_18")
def mc3_18(num_classes: int, frames: int, crop: CropHW, pretrained: bool = False,
           layers=(2, 2, 2, 2)) -> nn.Module:
    return _resnet3d("mc3_18", num_classes, pretrained, layers)


@register_model(family=FAMILY, layout="NCTHW", source="Tran et al. 2018 (R(2+1)D), torchvision, Kinetics-400",
                mean=KINETICS[0], std=KINETICS[1], weights=lambda o: "r2plus1d_18")
def r2plus1d_18(num_classes: int, frames: int, crop: CropHW, pretrained: bool = False,
                layers=(2, 2, 2, 2)) -> nn.Module:
    return _resnet3d("r2plus1d_18", num_classes, pretrained, layers)


@register_model(family=FAMILY, layout="NCTHW", source="Xie et al. 2018 (S3D), torchvision, Kinetics-400",
                mean=KINETICS[0], std=KINETICS[1], min_input=(8, 64), weights=lambda o: "s3d")
def s3d(num_classes: int, frames: int, crop: CropHW, pretrained: bool = False) -> nn.Module:
    from torchvision.models.video import s3d as torchvision_s3d

    net = torchvision_s3d(weights=None)
    # torchvision pools a fixed 2x7x7 window, which only fits 16+ frames of 224x224.
    # Adaptive pooling is the same operation there (the window is the whole map) and
    # also accepts smaller inputs; it has no weights, so pretrained loading is unaffected.
    net.avgpool = nn.AdaptiveAvgPool3d(1)
    return _pretrained_then_head(net, "s3d", pretrained, num_classes)


@register_model(family=FAMILY, layout="NCTHW", source="Li et al. 2022 (MViTv2), torchvision, Kinetics-400",
                mean=(0.45, 0.45, 0.45), std=(0.225, 0.225, 0.225), fixed_input=(16, 224), weights=lambda o: "mvit_v2_s")
def mvit_v2_s(num_classes: int, frames: int, crop: CropHW, pretrained: bool = False) -> nn.Module:
    # Its relative position tables are sized for 16x224x224 at construction, and
    # torchvision's builder hard-codes that size: no reduced variant.
    from torchvision.models.video import mvit_v2_s as torchvision_mvit_v2_s

    return _pretrained_then_head(torchvision_mvit_v2_s(weights=None), "mvit_v2_s", pretrained, num_classes)


@register_model(family=FAMILY, layout="NCTHW", source="Liu et al. 2022 (Video Swin), torchvision, Kinetics-400",
                weights=lambda o: "swin3d_t")
def swin3d_t(num_classes: int, frames: int, crop: CropHW, pretrained: bool = False,
             embed_dim: int = 96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24),
             window_size=(8, 7, 7)) -> nn.Module:
    size = {"embed_dim": embed_dim, "depths": list(depths), "num_heads": list(num_heads),
            "window_size": list(window_size)}
    _require_default_size("swin3d_t", pretrained, size, _SWIN3D_T)
    from torchvision.models.video.swin_transformer import SwinTransformer3d

    # The same class and arguments as torchvision's swin3d_t builder, so its weights load.
    net = SwinTransformer3d(patch_size=[2, 4, 4], stochastic_depth_prob=0.1, num_classes=400, **size)
    return _pretrained_then_head(net, "swin3d_t", pretrained, num_classes)
