"""Pretrained weights: torchvision-style names, a mirror on 127.0.0.1, offline errors, loading into models."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import re
from pathlib import Path

import pytest
import torch
import torchvision
import yaml

from har import weights, weights_fetch
from har.models import create_model, list_models, options, pretrained_weights
from har.weights import (WeightsError, expected_hash_prefix, find_weights, load_state_dict,
                         weight_url)
from har.weights_fetch import fetch_weights

pytestmark = pytest.mark.slow  # every builder's weights file loaded into its architecture


def _saved(state: dict) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def resnet18_file():
    """(state dict, bytes, torchvision-style name with the sha256 prefix) of a resnet18 built here."""
    torch.manual_seed(0)
    state = torchvision.models.resnet18().state_dict()
    data = _saved(state)
    return state, data, f"resnet18-{hashlib.sha256(data).hexdigest()[:8]}.pth"


@pytest.fixture
def offline_world(monkeypatch, tmp_path):
    """Run in tmp_path, with an empty torch cache and torchvision's URLs under our control."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv(weights_fetch.MIRROR_ENV, raising=False)
    urls = {key: weights.weight_url(key) for key in weights.WEIGHT_KEYS}
    monkeypatch.setattr(weights, "_weight_urls", lambda: urls)
    return urls


def test_mirror_download_verifies_the_hash_in_the_name(server, offline_world, resnet18_file,
                                                        monkeypatch):
    state, data, name = resnet18_file
    offline_world["resnet18"] = f"https://download.pytorch.org/models/{name}"
    server.files[name] = data
    monkeypatch.setenv(weights_fetch.MIRROR_ENV, f"http://127.0.0.1:{server.port}/")
    path = fetch_weights("resnet18", weights.PRETRAINED_DIR / "tsn", progress=False)
    assert path.name == name and path.read_bytes() == data
    assert [r.path for r in server.requests] == [f"/{name}"]
    # Training then finds and loads it with no network.
    model = create_model("tsn", 5, 4, 32, depth=18, pretrained=True)
    assert torch.equal(model.encoder.conv1.weight, state["conv1.weight"])


def test_mirror_serving_other_bytes_is_refused(server, offline_world, resnet18_file, monkeypatch):
    _, data, name = resnet18_file
    offline_world["resnet18"] = f"https://download.pytorch.org/models/{name}"
    server.files[name] = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
    monkeypatch.setenv(weights_fetch.MIRROR_ENV, f"http://127.0.0.1:{server.port}")
    with pytest.raises(WeightsError) as err:
        fetch_weights("resnet18", weights.PRETRAINED_DIR / "tsn", progress=False)
    message = str(err.value)
    assert name in message and "sha256 mismatch" in message and expected_hash_prefix(name) in message
    assert not any(weights.PRETRAINED_DIR.rglob("*.pth"))


def test_torch_cache_copy_is_used_without_network(offline_world, resnet18_file, tmp_path):
    _, data, name = resnet18_file
    offline_world["resnet18"] = f"http://127.0.0.1:9/{name}"  # nothing listens on port 9
    cached = weights.torch_hub_copy("resnet18")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(data)
    path = fetch_weights("resnet18", weights.PRETRAINED_DIR / "tsn", progress=False)
    assert path == weights.PRETRAINED_DIR / "tsn" / name and path.read_bytes() == data


def test_missing_weights_offline_say_what_to_do(offline_world):
    url = offline_world["resnet152"]
    name = url.rsplit("/", 1)[-1]
    with pytest.raises(WeightsError) as err:
        create_model("td_resnet152_lstm", 5, 4, 32, pretrained=True)
    message = str(err.value)
    assert name in message and url in message and "models/pretrained/<model>/" in message
    assert "dvc repro" in message


def test_unreachable_source_names_url_and_places(offline_world):
    url = offline_world["mobilenet_v2"] = "http://127.0.0.1:9/mobilenet_v2-0123abcd.pth"
    with pytest.raises(WeightsError) as err:
        fetch_weights("mobilenet_v2", weights.PRETRAINED_DIR / "m")
    message = str(err.value)
    assert url in message and "mobilenet_v2-0123abcd.pth" in message
    assert str(weights.torch_hub_copy("mobilenet_v2")) in message


def test_corrupted_local_file_is_refused_at_load(offline_world, resnet18_file):
    _, data, name = resnet18_file
    offline_world["resnet18"] = f"https://download.pytorch.org/models/{name}"
    path = weights.PRETRAINED_DIR / "tsn" / name
    path.parent.mkdir(parents=True)
    path.write_bytes(data[:1000])
    with pytest.raises(WeightsError, match="sha256"):
        find_weights("resnet18")


def test_corrupt_file_raises_weights_error(tmp_path):
    path = tmp_path / "broken-0123abcd.pth"
    path.write_bytes(b"this is not a torch checkpoint")
    with pytest.raises(WeightsError, match=re.escape(path.name)):
        load_state_dict(path)


def test_weight_url_and_hash_prefix():
    url = weight_url("r3d_18")
    assert url.startswith("https://download.pytorch.org/")
    prefix = expected_hash_prefix(url.rsplit("/", 1)[-1])
    assert prefix is not None and re.fullmatch(r"[0-9a-f]{8,}", prefix)
    assert expected_hash_prefix("resnet18-f37072fd.pth") == "f37072fd"
    assert expected_hash_prefix("model.pth") is None
    assert expected_hash_prefix("tiny-abc12.pth") is None  # too short to be a hash
    with pytest.raises(ValueError, match="r3d_18"):
        weight_url("r3d_19")


@pytest.mark.parametrize("arch, cfg, key", [
    ("cnn3d", {}, None),
    ("tsn", {"depth": 18}, None),
    ("tsn", {"depth": 34, "pretrained": True}, "resnet34"),
    ("resnet_crnn", {"pretrained": True}, "resnet101"),
    ("td_mobilenet_gru", {"pretrained": True}, "mobilenet_v2"),
    ("td_resnet152_lstm", {"pretrained": True}, "resnet152"),
    ("td_scratch_lstm", {}, None),
    ("r2plus1d_18", {"pretrained": True}, "r2plus1d_18"),
    ("swin3d_t", {"pretrained": True}, "swin3d_t"),
])
def test_pretrained_weights_names_what_the_builder_loads(monkeypatch, arch, cfg, key):
    loaded = []
    monkeypatch.setattr("har.models.pretrained.find_weights", lambda k: loaded.append(k) or k)
    monkeypatch.setattr("har.models.pretrained.load_state_dict", lambda k: {})
    monkeypatch.setattr(torch.nn.Module, "load_state_dict", lambda self, state: None)
    assert pretrained_weights(arch, cfg) == key
    frames, crop = (16, 224) if arch == "mvit_v2_s" else (4, 32)
    create_model(arch, 5, frames, crop, **cfg)
    assert loaded == ([key] if key else [])


def _encoder(key: str) -> str:
    return "encoder." + key


# arch, options, the weights it loads, the torchvision key -> the model's key, the torchvision
# head the builder replaces (so not loaded into the model). One entry per loading site: the
# ResNet trunk (TSN's, which the C-RNN's shares), MobileNetV2, ResNet-152, each video backbone.
LOADING = [
    ("tsn", {"depth": 18}, "resnet18", _encoder, "fc."),
    ("td_mobilenet_gru", {}, "mobilenet_v2", lambda k: "encoder.0." + k[len("features."):],
     "classifier."),
    ("td_resnet152_lstm", {}, "resnet152", _encoder, "fc."),
    ("r3d_18", {}, "r3d_18", str, "fc."),
    ("mc3_18", {}, "mc3_18", str, "fc."),
    ("r2plus1d_18", {}, "r2plus1d_18", str, "fc."),
    ("s3d", {}, "s3d", str, "classifier."),
    ("mvit_v2_s", {}, "mvit_v2_s", str, "head."),
    ("swin3d_t", {}, "swin3d_t", str, "head."),
]


def _marked_state_dict(key: str) -> dict:
    """torchvision's own architecture for `key`: the names, shapes and dtypes a real file has,
    tensor i filled with i + 2.5, a value no initialisation gives and no other tensor holds, so
    a tensor loaded into the wrong place, or not at all, shows."""
    from torchvision.models import video

    build = getattr(torchvision.models, key, None) or getattr(video, key)
    with torch.device("meta"):  # shapes only: no time spent initialising
        shapes = {k: (t.shape, t.dtype) for k, t in build(weights=None).state_dict().items()}
    return {k: torch.full(shape, i + 2.5 if dtype.is_floating_point else i + 2, dtype=dtype)
            for i, (k, (shape, dtype)) in enumerate(shapes.items())}


def _nan_(tensor, *args, **kwargs):
    with torch.no_grad():
        return tensor.fill_(float("nan"))


@pytest.mark.parametrize("arch, cfg, key, rename, head", LOADING, ids=[e[0] for e in LOADING])
def test_each_builder_loads_its_weights_file_into_its_architecture(offline_world, monkeypatch,
                                                                     arch, cfg, key, rename, head):
    state = _marked_state_dict(key)
    data = _saved(state)
    name = f"{key}-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    offline_world[key] = f"https://download.pytorch.org/models/{name}"
    path = weights.PRETRAINED_DIR / "probe" / name  # where the weights stage puts it
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    del data
    # The builder's random initialisation is overwritten by the file: NaN instead saves seconds
    # (MViT and Swin draw slowly), and a weight left unloaded equals nothing, NaN included.
    for init in ("normal_", "trunc_normal_", "uniform_", "kaiming_normal_", "kaiming_uniform_",
                 "xavier_normal_", "xavier_uniform_"):
        monkeypatch.setattr(torch.nn.init, init, _nan_)
    frames, crop = (16, 224) if arch == "mvit_v2_s" else (4, 32)
    model = create_model(arch, 5, frames, crop, pretrained=True, **cfg)
    loaded = model.state_dict()
    expected = {k: v for k, v in state.items() if not k.startswith(head)}
    assert expected and len(expected) < len(state)  # the head is the only part left out
    for k, v in expected.items():
        assert torch.equal(loaded[rename(k)], v), k
    # And the new head is the model's own: the 400 or 1000 classes did not survive.
    assert all(t.shape[0] != 5 for k, t in state.items() if k.startswith(head) and t.dim())


def _stage(name: str):
    """Import a script of stages/ as a module, to call its main() in-process."""
    path = Path(__file__).resolve().parents[1] / "stages" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"stage_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_weights_stage_fetches_records_and_prunes(server, offline_world, resnet18_file, monkeypatch):
    _, data, name = resnet18_file
    offline_world["resnet18"] = f"https://download.pytorch.org/models/{name}"
    server.files[name] = data
    monkeypatch.setenv(weights_fetch.MIRROR_ENV, f"http://127.0.0.1:{server.port}")
    params = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    params["models"] = {"probe": {"arch": "tsn", "model": {"depth": 18, "pretrained": True}, "train": {}}}
    Path("params.yaml").write_text(yaml.safe_dump(params))
    stage = _stage("weights")

    stage.main("probe")
    folder = weights.PRETRAINED_DIR / "probe"
    assert sorted(p.name for p in folder.iterdir()) == sorted([name, "weights.json"])
    record = json.loads((folder / "weights.json").read_text())
    assert record["files"] == [{"key": "resnet18", "file": name, "url": server.url(name),
                                "sha256_prefix": name[9:17]}]

    stage.main("probe")  # re-run (another option changed): no second download
    assert len(server.requests) == 1
    # DVC deletes the output before it re-runs the stage: the file comes from torch's cache.
    for f in folder.iterdir():
        f.unlink()
    stage.main("probe")
    assert len(server.requests) == 1 and (folder / name).read_bytes() == data

    params["models"]["probe"]["model"]["pretrained"] = False
    Path("params.yaml").write_text(yaml.safe_dump(params))
    stage.main("probe")
    assert [p.name for p in folder.iterdir()] == ["weights.json"]
    assert json.loads((folder / "weights.json").read_text())["files"] == []


def test_no_builder_is_pretrained_by_default():
    # The weights stage relies on it to skip loading torch for models without `pretrained`.
    assert all(not options(name, {}).get("pretrained", False) for name in list_models())
