"""Freeze rules: trainable counts follow the documented layer counting, frozen BN stays frozen."""

import pytest
import torch
from torch import nn

from har.models import count_parameters, create_model
from har.models.freeze import train_last_layers, weight_layers
from har.models.timedistributed import TRAINABLE_LAYERS

pytestmark = pytest.mark.slow  # full-size seed models built and run


# The TimeDistributed report's rule, as literals counted by hand from torchvision's layer
# shapes (conv: in * out * k * k, no bias; BN: 2 * channels), not by the code under test.
# MobileNetV2, last 9 weight layers: features.16's project BN (160); features.17's expand
# conv 160->960 1x1 + BN, depthwise 3x3 conv on 960 + BN, project conv 960->320 1x1 + BN;
# features.18's conv 320->1280 1x1 + BN.
MOBILENET_LAST_9 = (2 * 160 + 160 * 960 + 2 * 960 + 960 * 9 + 2 * 960 + 960 * 320 + 2 * 320
                    + 320 * 1280 + 2 * 1280)
# ResNet-152, last 24: layer3's last block's conv2 (3x3 256->256) + BN, conv3 (1x1 256->1024)
# + BN (4 layers); layer4 (20 layers): block 0 (1x1 1024->512, 3x3 512->512, 1x1 512->2048,
# each + BN, and the 1x1 1024->2048 downsample + BN), blocks 1 and 2 (1x1 2048->512, 3x3,
# 1x1 512->2048, each + BN).
_BOTTLENECK_4 = 512 * 512 * 9 + 2 * 512 + 512 * 2048 + 2 * 2048  # conv2, bn2, conv3, bn3
RESNET152_LAST_24 = (256 * 256 * 9 + 2 * 256 + 256 * 1024 + 2 * 1024
                     + 1024 * 512 + 2 * 512 + _BOTTLENECK_4 + 1024 * 2048 + 2 * 2048
                     + 2 * (2048 * 512 + 2 * 512 + _BOTTLENECK_4))
REPORT = {"mobilenet": (9, MOBILENET_LAST_9), "resnet152": (24, RESNET152_LAST_24)}


@pytest.mark.parametrize("encoder", ["mobilenet", "resnet152"])
def test_trainable_layers_follow_the_keras_counting(encoder):
    model = create_model(f"td_{encoder}_lstm", 5, 4, 32)
    layers = weight_layers(model.encoder)
    n, trainable_params = REPORT[encoder]
    assert TRAINABLE_LAYERS[encoder] == n
    trainable = [m for m in layers if any(p.requires_grad for p in m.parameters(recurse=False))]
    assert trainable == layers[-n:]
    assert count_parameters(model.encoder)[1] == trainable_params
    head = count_parameters(model.rnn)[0] + count_parameters(model.classifier)[0]
    assert count_parameters(model)[1] == trainable_params + head


def test_layer_counting_matches_a_hand_count():
    # Counted by hand: conv (3*4*9 + 4), BN (2*4), conv (4*4, no bias), linear (4*2 + 2) own
    # weights; ReLU, pooling, flatten and the containers do not.
    conv, bn, conv1x1, linear = (nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4),
                                 nn.Conv2d(4, 4, 1, bias=False), nn.Linear(4, 2))
    net = nn.Sequential(conv, bn, nn.ReLU(), nn.Sequential(conv1x1, nn.MaxPool2d(2)),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), linear)
    assert weight_layers(net) == [conv, bn, conv1x1, linear]
    train_last_layers(net, 2)
    assert count_parameters(net) == (112 + 8 + 16 + 10, 16 + 10)
    train_last_layers(net, 0)
    assert count_parameters(net)[1] == 0
    with pytest.raises(ValueError, match="cannot keep 5 trainable layers: the module has 4"):
        train_last_layers(net, 5)


def test_scratch_encoder_trains_everything():
    total, trainable = count_parameters(create_model("td_scratch_gru", 5, 4, 32))
    assert total == trainable


def test_frozen_backbone_has_no_trainable_weights():
    model = create_model("resnet_crnn", 5, 4, 32, depth=18, freeze="backbone")
    assert count_parameters(model.encoder)[1] == 0
    assert count_parameters(model)[1] == count_parameters(model)[0] - count_parameters(model.encoder)[0]
    with pytest.raises(ValueError, match="freeze must be 'none' or 'backbone'"):
        create_model("resnet_crnn", 5, 4, 32, depth=18, freeze="everything")


def _norms(module):
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def test_frozen_batchnorm_stays_in_eval_and_keeps_its_statistics():
    torch.manual_seed(0)
    model = create_model("resnet_crnn", 5, 4, 32, depth=18, freeze="backbone")
    model.train()
    assert all(not bn.training for bn in _norms(model.encoder))
    assert all(bn.training for bn in _norms(model.project))  # the trainable head still adapts
    before = [bn.running_mean.clone() for bn in _norms(model.encoder)]
    model(torch.randn(2, 4, 3, 32, 32) * 5 + 3)  # a batch far from ImageNet statistics
    after = [bn.running_mean for bn in _norms(model.encoder)]
    assert all(torch.equal(a, b) for a, b in zip(before, after))


def test_partly_frozen_encoder_freezes_only_the_frozen_norms():
    model = create_model("td_mobilenet_lstm", 5, 4, 32).train()
    norms = _norms(model.encoder)
    frozen = [bn for bn in norms if not bn.weight.requires_grad]
    trainable = [bn for bn in norms if bn.weight.requires_grad]
    assert frozen and trainable
    assert all(not bn.training for bn in frozen) and all(bn.training for bn in trainable)


@pytest.mark.parametrize("name,frames,crop,options", [
    ("resnet_crnn", 29, 90, {"depth": 101}),  # the paper: ResNet-101, 29 frames, 90x120
    ("td_resnet152_lstm", 5, 224, {}),  # the report: 5 frames of 224x224
    ("td_resnet152_gru", 5, 224, {}),
    ("cnn3d", 29, 90, {}),
])
def test_full_seed_size_builds_and_runs(name, frames, crop, options):
    model = create_model(name, 101, frames, crop, **options).eval()
    layout = "NCTHW" if name == "cnn3d" else "NTCHW"
    x = torch.randn((1, 3, frames, crop, crop) if layout == "NCTHW" else (1, frames, 3, crop, crop))
    with torch.no_grad():
        assert model(x).shape == (1, 101)
