"""params.yaml: unknown or missing keys are errors, and presets merge into a valid file."""

import copy
from pathlib import Path

import pytest
import yaml

from commands import python
from har.config import ConfigError, load_params, parse_params
from har.presets import apply_preset

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_the_committed_params_file_is_valid():
    p = load_params(ROOT / "params.yaml")
    assert set(p.models) >= {"cnn3d", "crnn"}  # the seed models of the default profile
    assert p.train_config("cnn3d").lr == p.models["cnn3d"].train.get("lr", p.train.lr)


@pytest.mark.parametrize("path,key", [
    ((), "trian"),
    (("train",), "lr_"),
    (("dataset", "synthetic"), "colour"),
    (("models", "crnn"), "layers"),
    (("dataset", "ucf101", "videos"), "sha256"),
])
def test_unknown_keys_are_errors_that_name_the_key(params, path, key):
    node = params
    for part in path:
        node = node[part]
    node[key] = 1
    with pytest.raises(ConfigError, match=rf"unknown key\(s\) {'.'.join(path + (key,))}"):
        parse_params(params)


def test_unknown_key_in_a_models_train_override(params):
    params["models"]["crnn"]["train"] = {"epochz": 3}
    with pytest.raises(ConfigError, match=r"models\.crnn\.train\.epochz"):
        parse_params(params)


def test_missing_keys_and_wrong_types(params):
    broken = copy.deepcopy(params)
    del broken["extract"]["short_side"]
    with pytest.raises(ConfigError, match=r"missing key\(s\) extract\.short_side"):
        parse_params(broken)
    params["train"]["epochs"] = "ten"
    with pytest.raises(ConfigError, match=r"'train\.epochs' must be int, got 'ten'"):
        parse_params(params)


def test_values_out_of_range_are_refused(params):
    params["models"]["cnn3d"]["train"] = {"epochs": 0}
    with pytest.raises(ConfigError, match=r"'train\.epochs \(model cnn3d\)' must be positive, got 0"):
        parse_params(params)


def test_inconsistent_values_are_refused(params):
    params["train"]["crop"] = params["extract"]["short_side"] + 1
    with pytest.raises(ConfigError, match="train.crop .* exceeds extract.short_side"):
        parse_params(params)


def test_preset_merges_over_params_and_stays_valid(tmp_path):
    target = tmp_path / "params.yaml"
    target.write_text((ROOT / "params.yaml").read_text())
    apply_preset("tiny", target, ROOT / "presets")
    p = load_params(target)
    tiny = yaml.safe_load((ROOT / "presets" / "tiny.yaml").read_text())
    assert p.train.epochs == tiny["train"]["epochs"]
    assert p.models["crnn"].model["lstm_layers"] == 1
    assert p.models["crnn"].arch == "crnn"  # untouched keys survive the merge
    with pytest.raises(FileNotFoundError, match="no such preset"):
        apply_preset("nope", target, ROOT / "presets")


@pytest.mark.parametrize("path, value, message", [
    (("dataset", "name"), "kinetics", r"dataset\.name 'kinetics' is not supported; available: "
                                      r"synthetic, ucf101, hmdb51, folder"),
    (("dataset", "ucf101", "videos", "checksum"), "ca8dfadb",
     r"dataset\.ucf101\.videos\.checksum must be 'sha256:<64 hex digits>' or 'md5:<32 hex digits>'"),
    (("dataset", "hmdb51", "splits", "url"), "ftp://mirror/test_train_splits.rar",
     r"dataset\.hmdb51\.splits\.url must be http://, https:// or file:///"),
    (("dataset", "hmdb51", "splits", "url"), "file://relative/x.rar",
     r"dataset\.hmdb51\.splits\.url must be file:///<absolute path>"),
    (("dataset", "folder", "group_regex"), "_g(\\d+", r"group_regex '_g\(\\\\d\+' is not a valid"),
    (("dataset", "folder", "extensions"), ["mp4"], r"dataset\.folder\.extensions must list"),
    (("train", "rotation"), 180.0, r"train\.rotation \(model cnn3d\) must be within \[0, 180\)"),
    (("reported",), [{"model": "gone", "accuracy": 91.0, "protocol": "p", "source": "s"}],
     r"reported\[0\]\.model 'gone' is not under 'models'"),
])
def test_dataset_and_augmentation_values_are_checked(params, path, value, message):
    node = params
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(ConfigError, match=message):
        parse_params(params)


def test_a_folder_dataset_has_one_split(params):
    params["dataset"].update(name="folder", split=2)
    with pytest.raises(ConfigError, match="a folder dataset has one split"):
        parse_params(params)
    params["dataset"]["split"] = 1
    assert parse_params(params).dataset.folder.group_regex == r"_g(\d+)_"


def test_a_checksum_may_be_md5_where_no_sha256_is_known(params):
    params["dataset"]["hmdb51"]["videos"]["checksum"] = "md5:517d6f1f19f215c45cdd4d25356be1fb"
    videos = parse_params(params).dataset.hmdb51.videos
    assert (videos.sha256, videos.md5) == (None, "517d6f1f19f215c45cdd4d25356be1fb")


# train.crop: a side or [height, width]; train.eval_frames: null or a clip length.

def test_a_crop_may_be_height_width_and_eval_frames_a_length(params):
    params["extract"]["short_side"] = 64
    params["train"]["crop"] = [48, 64]
    params["models"]["crnn"]["train"] = {"eval_frames": 12, "crop": [40, 56]}
    p = parse_params(params)
    assert p.train_config("td_scratch_gru").crop == [48, 64]
    assert p.train_config("td_scratch_gru").eval_frames is None  # params.yaml's default
    assert (p.train_config("crnn").crop, p.train_config("crnn").eval_frames) == ([40, 56], 12)


@pytest.mark.parametrize("train, message", [
    ({"crop": [48]}, r"train\.crop \(model crnn\) must be one positive side or \[height, width\], "
                     r"two positive ints; got \[48\]"),
    ({"crop": [48, 64, 3]}, r"train\.crop \(model crnn\) must be one positive side or \[height, width\]"),
    ({"crop": [48, 0]}, r"train\.crop \(model crnn\) must be one positive side"),
    ({"crop": 0}, r"'train\.crop \(model crnn\)' must be positive, got 0"),
    ({"crop": [48, "64"]}, r"'models\.crnn\.train\.crop' must be int or a list of int, got \[48, '64'\]"),
    ({"crop": 56.0}, r"'models\.crnn\.train\.crop' must be int or a list of int, got 56\.0"),
    # The short side is extract.short_side (64): no orientation fits a crop with both sides above it.
    ({"crop": [65, 80]}, r"train\.crop \(\[65, 80\]\) for model 'crnn' exceeds extract\.short_side \(64\)"),
    ({"eval_frames": 25}, r"train\.eval_frames \(25\) for model 'crnn' exceeds extract\.frames \(24\)"),
    ({"eval_frames": 0}, r"'train\.eval_frames \(model crnn\)' must be positive, got 0"),
    ({"eval_frames": "all"}, r"'models\.crnn\.train\.eval_frames' must be int or null, got 'all'"),
])
def test_crop_and_eval_frames_errors_name_the_key(params, train, message):
    params["extract"]["short_side"] = 64
    params["models"]["crnn"]["train"] = train
    with pytest.raises(ConfigError, match=message):
        parse_params(params)


def test_a_model_sized_for_its_clip_length_refuses_another_eval_length(params):
    # The check needs the model registry, so the params stage runs it (har.config stays
    # torch-free for `har serve` on the slim runtime): check_model_params.
    from har.models import check_model_params

    params["train"]["eval_frames"] = 12  # every model; cnn3d's FC layer is sized for 8 frames
    with pytest.raises(ConfigError, match=r"train\.eval_frames \(12\) for model 'cnn3d' differs "
                                          r"from train\.frames \(8\), but cnn3d has layers sized "
                                          r"for the clip length .* set eval_frames: null for it "
                                          r"\(models\.cnn3d\.train\)"):
        check_model_params(parse_params(params))
    params["models"]["cnn3d"]["train"]["eval_frames"] = None  # its override: its own 8
    assert parse_params(params).train_config("crnn").eval_frames == 12
    params["models"]["cnn3d"]["train"]["eval_frames"] = 8  # equal to frames: allowed too
    check_model_params(parse_params(params))
    # A fixed input (MViT: 16 x 224x224) fixes the length as well.
    params["models"]["mvit"] = {"arch": "mvit_v2_s", "model": {}, "train": {"frames": 16}}
    params["extract"]["frames"] = 24
    with pytest.raises(ConfigError, match="model 'mvit' differs .* mvit_v2_s has layers sized"):
        check_model_params(parse_params(params))


def test_an_unknown_arch_is_a_params_error():
    from har.models import check_model_params

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["models"]["cnn3d"]["arch"] = "cnn4d"
    with pytest.raises(ConfigError, match="models.cnn3d.arch: unknown model 'cnn4d'"):
        check_model_params(parse_params(params))


def test_loading_params_never_imports_torch(tmp_path):
    # `har serve` on the slim runtime (requirements-runtime.txt) reads params.yaml too, and
    # an evaluation length of its own (which needs the registry to check) must not pull torch.
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["models"]["crnn"]["train"]["eval_frames"] = 4
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    code = ("import sys, har.config as c; c.load_params(sys.argv[1]); "
            "assert 'torch' not in sys.modules, 'torch imported'; print('ok')")
    out = python("-c", code, tmp_path / "params.yaml")
    assert out.stdout.strip() == "ok", out.stderr


# Strict types: what YAML gives is taken as it is, never coerced (but an int for a float).

@pytest.mark.parametrize("path, value, message", [
    (("train", "epochs"), "3", r"'train\.epochs' must be int, got '3'"),
    (("train", "epochs"), True, r"'train\.epochs' must be int, got True"),
    (("train", "epochs"), 3.0, r"'train\.epochs' must be int, got 3\.0"),
    (("train", "lr"), True, r"'train\.lr' must be float, got True"),
    (("train", "lr"), "0.001", r"'train\.lr' must be float, got '0\.001'"),
    (("train", "hflip"), 0, r"'train\.hflip' must be bool, got 0"),
    (("train", "device"), 0, r"'train\.device' must be str, got 0"),
    (("train", "seeds"), [0, "1"], r"'train\.seeds\[1\]' must be int, got '1'"),
    (("dataset", "synthetic", "classes"), "MoveLeft", r"'dataset\.synthetic\.classes' must be a list"),
    (("dataset", "ucf101", "videos"), "https://x", r"'dataset\.ucf101\.videos' must be a mapping"),
    (("models", "crnn", "model"), [1], r"'models\.crnn\.model' must be a mapping"),
    (("serve", "threads"), float("inf"), r"'serve\.threads' must be a finite number"),
])
def test_types_are_strict_and_errors_name_the_full_path(params, path, value, message):
    node = params
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(ConfigError, match=rf"^params\.yaml: {message}"):
        parse_params(params)


def test_values_keep_their_types(params):
    params["serve"]["threads"] = 4
    params["serve"]["max_upload_mb"] = 100  # an int where a float is expected: that float
    params["models"]["crnn"]["model"] = None  # `model:` with nothing after it: no options
    p = parse_params(params)
    assert type(p.serve.max_upload_mb) is float and p.serve.max_upload_mb == 100.0
    assert type(p.train.lr) is float and p.train.lr == 0.001
    assert type(p.train.frame_cache_mb) is float
    assert p.train.crop == 32 and type(p.train.crop) is int
    assert p.train_config("cnn3d").crop == [32, 44]
    assert p.train.eval_frames is None and p.models["crnn"].model == {}


def test_the_sections_are_frozen(params):
    p = parse_params(params)
    with pytest.raises(Exception, match="frozen"):
        p.train.lr = 0.1  # type: ignore[misc]


def test_several_unknown_keys_are_named_with_the_known_ones(params):
    params["train"].update(lr_=1, epoch=2)
    with pytest.raises(ConfigError, match=r"unknown key\(s\) train\.lr_, train\.epoch; known keys "
                                          r"of train: seeds, epochs, batch_size, lr, "):
        parse_params(params)


def test_the_top_level_must_be_a_mapping():
    with pytest.raises(ConfigError, match=r"'top level' must be a mapping, got \[1\]"):
        parse_params([1])
