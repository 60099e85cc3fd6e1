"""Every registered model trains: forward and backward on a tiny clip."""

import pytest
import torch

from har.models import count_parameters, create_model, get_entry, list_models

FRAMES, CROP, CLASSES = 4, 32, 5


def tiny_clip(name, batch=2):
    shape = (batch, 3, FRAMES, CROP, CROP) if get_entry(name).layout == "NCTHW" else (batch, FRAMES, 3, CROP, CROP)
    return torch.randn(shape, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", list_models())
def test_forward_and_backward(name):
    torch.manual_seed(0)
    model = create_model(name, CLASSES, FRAMES, CROP)
    logits = model(tiny_clip(name))
    assert logits.shape == (2, CLASSES)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 3])).backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trainable
    no_grad = [n for n, p in trainable if p.grad is None or not p.grad.abs().sum() > 0]
    assert not no_grad, f"parameters that get no gradient: {no_grad}"


def test_the_registry_lists_the_foundation_variants():
    assert {"cnn3d", "crnn", "frame_avg"} <= set(list_models())


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
    assert (r.lstm.num_layers, r.lstm.hidden_size) == (3, 512)


def test_widths_come_from_options_and_unknown_options_are_refused():
    small = create_model("crnn", CLASSES, FRAMES, CROP, channels=[4, 4, 8, 8], fc=[16, 16],
                         embed=8, lstm_hidden=8, lstm_layers=1, head=8)
    assert count_parameters(small)[0] < count_parameters(create_model("crnn", CLASSES, FRAMES, CROP))[0] / 50
    with pytest.raises(ValueError, match="model 'crnn': unknown option.*lstm_hiden"):
        create_model("crnn", CLASSES, FRAMES, CROP, lstm_hiden=8)
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        create_model("resnet", CLASSES, FRAMES, CROP)


@pytest.mark.parametrize("name", ["crnn", "frame_avg"])
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
