"""Every registered model trains: forward and backward on a tiny clip."""

from pathlib import Path

import pytest
import torch
from torchvision.ops import StochasticDepth

from commands import python
from har.cli import main
from har.config import load_params
from har.input_spec import crop_hw
from har.models import count_parameters, create_model, get_entry, list_models

pytestmark = pytest.mark.slow  # every architecture forward and backward, full sizes: minutes

FRAMES, CROP, CLASSES = 4, 32, 5


def tiny_clip(name, batch=2, frames=FRAMES, crop=CROP):
    layout = get_entry(name).layout
    shape = (batch, 3, frames, crop, crop) if layout == "NCTHW" else (batch, frames, 3, crop, crop)
    return torch.randn(shape, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", list_models())
def test_forward_and_backward(name):
    """Every registered model, at the smallest input it accepts (MViT and S3D need 224)."""
    torch.manual_seed(0)
    frames, crop = get_entry(name).min_input
    model = create_model(name, CLASSES, frames, crop)
    model.train()
    # Stochastic depth (MViT, Swin) skips whole blocks at random in training; off here,
    # so "every trainable parameter gets a gradient" is a fair check.
    for m in model.modules():
        if isinstance(m, StochasticDepth):
            m.p = 0.0
    logits = model(tiny_clip(name, frames=frames, crop=crop))
    assert logits.shape == (2, CLASSES)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 3])).backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trainable
    detached = [n for n, p in trainable if p.grad is None]
    assert not detached, f"trainable parameters not connected to the loss: {detached}"
    # Exactly-zero gradients can be structural (MViT's last block only feeds the class
    # token), so ask that almost all weights, by count, receive a signal.
    live = sum(p.numel() for _, p in trainable if p.grad.abs().sum() > 0)
    assert live >= 0.99 * sum(p.numel() for _, p in trainable)


def clip_of(name, batch, frames, height, width):
    layout = get_entry(name).layout
    shape = (batch, 3, frames, height, width) if layout == "NCTHW" else (batch, frames, 3, height, width)
    return torch.randn(shape, generator=torch.Generator().manual_seed(0))


# The same code paths at a smaller depth: building ResNet-101 or -50 costs seconds of CPU.
SMALLER = {"resnet_crnn": {"depth": 18}, "tsn": {"depth": 18}}


@pytest.mark.parametrize("name", list_models())
def test_non_square_input_and_another_evaluation_length(name):
    """Every model builds for a (height, width) crop; all but the fixed-length ones (cnn3d's FC,
    MViT's fixed input) also evaluate on clips of another length than they were built for."""
    entry = get_entry(name)
    frames, side = entry.min_input
    crop = (side, side + side // 2)  # wider than high, as landscape video
    if entry.fixed_input:
        with pytest.raises(ValueError, match=rf"needs {frames} frames of {side}x{side}, got "
                                             rf"{frames} of {crop[0]}x{crop[1]} \(height x width\)"):
            create_model(name, CLASSES, frames, crop)
        return
    torch.manual_seed(0)
    model = create_model(name, CLASSES, frames, crop, **SMALLER.get(name, {})).eval()
    with torch.no_grad():
        assert model(clip_of(name, 1, frames, *crop)).shape == (1, CLASSES)
        if entry.fixed_frames:
            # 4x as long, so time survives its pooling longer: the flattened size differs.
            with pytest.raises(RuntimeError):  # why config refuses eval_frames != frames for it
                model(clip_of(name, 1, 4 * frames, *crop))
        else:
            assert model(clip_of(name, 1, frames + 3, *crop)).shape == (1, CLASSES)


def test_a_square_crop_as_height_width_builds_the_same_model():
    torch.manual_seed(0)
    side = create_model("cnn3d", CLASSES, FRAMES, CROP, channels=[4, 8], fc=[8, 8])
    torch.manual_seed(0)
    pair = create_model("cnn3d", CLASSES, FRAMES, (CROP, CROP), channels=[4, 8], fc=[8, 8])
    assert all(torch.equal(a, b) for a, b in zip(side.state_dict().values(), pair.state_dict().values()))


def test_the_registry_lists_every_variant():
    td = {f"td_{e}_{h}" for e in ("scratch", "mobilenet", "resnet152") for h in ("lstm", "gru")}
    video = {"r3d_18", "mc3_18", "r2plus1d_18", "s3d", "mvit_v2_s", "swin3d_t"}
    assert {"cnn3d", "crnn", "frame_avg", "resnet_crnn", "tsn"} | td | video <= set(list_models())


def test_fixed_input_models_refuse_other_sizes():
    with pytest.raises(ValueError, match="'mvit_v2_s' needs 16 frames of 224x224"):
        create_model("mvit_v2_s", CLASSES, 8, 112)


def test_seed_sizes_match_the_papers_layers():
    m = create_model("cnn3d", 101, 8, 112)
    convs = [l for l in m.modules() if isinstance(l, torch.nn.Conv3d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (64, (5, 5, 5), (2, 2, 2)), (128, (3, 3, 3), (2, 2, 2))]
    assert [l.out_features for l in m.modules() if isinstance(l, torch.nn.Linear)] == [2048, 2048, 101]
    r = create_model("crnn", 101, 8, 112)
    convs = [l for l in r.modules() if isinstance(l, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == [
        (32, 5, 2), (64, 3, 2), (128, 3, 2), (256, 3, 2)]
    assert (r.decoder.lstm.num_layers, r.decoder.lstm.hidden_size) == (3, 512)


def test_widths_come_from_options_and_unknown_options_are_refused():
    small = create_model("crnn", CLASSES, FRAMES, CROP, channels=[4, 4, 8, 8], fc=[16, 16],
                         embed=8, lstm_hidden=8, lstm_layers=1, head=8)
    assert count_parameters(small)[0] < count_parameters(create_model("crnn", CLASSES, FRAMES, CROP))[0] / 50
    with pytest.raises(ValueError, match="model 'crnn': unknown option.*lstm_hiden"):
        create_model("crnn", CLASSES, FRAMES, CROP, lstm_hiden=8)
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        create_model("resnet", CLASSES, FRAMES, CROP)


@pytest.mark.parametrize("name", ["crnn", "frame_avg", "td_scratch_gru", "td_scratch_lstm", "tsn"])
def test_padded_steps_do_not_count(name):
    torch.manual_seed(0)
    model = create_model(name, CLASSES, FRAMES, CROP).eval()
    clip = tiny_clip(name, batch=1)[:, :3]  # 3 valid frames
    padded = torch.cat([clip, torch.randn(1, 1, 3, CROP, CROP)], 1)  # one junk step after them
    batch = torch.cat([padded, tiny_clip(name, batch=1)], 0)
    with torch.no_grad():
        alone = model(clip)
        in_batch = model(batch, lengths=torch.tensor([3, FRAMES]))
    torch.testing.assert_close(in_batch[:1], alone, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name, frames, crop", [
    ("cnn3d", 16, 112),  # the C-RNN paper's 3D CNN, FC 2048
    ("resnet_crnn", 5, 224),  # ResNet-101 encoder, 3x512 LSTM
    ("td_resnet152_lstm", 5, 224),  # the report's 224x224, 5 frames
    ("td_resnet152_gru", 5, 224),
])
def test_full_seed_size_builds_and_runs_forward(name, frames, crop):
    model = create_model(name, 101, frames, crop).eval()
    layout = get_entry(name).layout
    shape = (1, 3, frames, crop, crop) if layout == "NCTHW" else (1, frames, 3, crop, crop)
    with torch.no_grad():
        assert model(torch.randn(shape)).shape == (1, 101)


@pytest.mark.parametrize("name, options", [
    ("r3d_18", {"layers": [1, 1, 1, 1]}),
    ("r2plus1d_18", {"layers": [1, 1, 1, 1]}),
    ("swin3d_t", {"embed_dim": 24, "depths": [1, 1, 1, 1], "num_heads": [1, 2, 4, 8],
                  "window_size": [2, 7, 7]}),
])
def test_reduced_video_backbones_are_smaller_and_refuse_pretrained(name, options):
    reduced = create_model(name, CLASSES, FRAMES, CROP, **options)
    assert count_parameters(reduced)[0] < count_parameters(create_model(name, CLASSES, FRAMES, CROP))[0] / 2
    with pytest.raises(ValueError, match="pretrained weights exist only for the full-size model"):
        create_model(name, CLASSES, FRAMES, CROP, pretrained=True, **options)


def test_har_models_lists_the_configured_models_at_their_sizes(capsys, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])  # the project's params.yaml
    assert main(["models", "--configured", "--num-classes", "8"]) == 0
    lines = capsys.readouterr().out.splitlines()
    params = load_params()
    rows = {line.split()[0]: line.split() for line in lines[1:] if line and not line.startswith("(")}
    assert set(rows) == set(params.models)
    for name, spec in params.models.items():
        tc = params.train_config(name)
        model = create_model(spec.arch, 8, tc.frames, tc.crop, **spec.model)
        height, width = crop_hw(tc.crop)  # frames x side, or frames x height x width
        assert rows[name][3] == f"{tc.frames}x{height}" + ("" if height == width else f"x{width}")
        assert rows[name][4] == f"{count_parameters(model)[0]:,}"


def test_importing_the_models_does_not_import_torchvision():
    # torchvision takes over a second to import; `har predict`, `har serve` and every stage
    # import har.models, and only the builders of torchvision-based models need it.
    code = ("import sys, har.models, har.checkpoint, har.predict, har.cli; "
            "print('torchvision' in sys.modules)")
    out = python("-c", code, check=True)
    assert out.stdout.strip() == "False"
