"""Freeze rules: trainable counts follow the documented layer counting, frozen BN stays frozen."""

import pytest
import torch
from torch import nn

from har.models import count_parameters, create_model
from har.models.freeze import weight_layers
from har.models.timedistributed import TRAINABLE_LAYERS


def _params(modules):
    return sum(p.numel() for m in modules for p in m.parameters(recurse=False))


@pytest.mark.parametrize("encoder", ["mobilenet", "resnet152"])
def test_trainable_layers_follow_the_keras_counting(encoder):
    model = create_model(f"td_{encoder}_lstm", 5, 4, 32)
    layers = weight_layers(model.encoder)
    n = TRAINABLE_LAYERS[encoder]
    trainable = [m for m in layers if any(p.requires_grad for p in m.parameters(recurse=False))]
    assert trainable == layers[-n:]
    head = count_parameters(model.rnn)[0] + count_parameters(model.classifier)[0]
    assert count_parameters(model)[1] == _params(layers[-n:]) + head


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
