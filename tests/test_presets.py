"""The presets: `har preset apply` merges each exactly as merge_preset does, keeps params.yaml's
comments, and the ones that reproduce the papers bring their own models, which train."""

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from har.config import load_params, parse_params
from har.data import ClipDataset, Preprocessing
from har.engine import make_loader, train_one_epoch
from har.models import create_model, get_entry, options
from har.presets import MODELINE, apply_preset, merge_preset
from videos import frames_files

pytestmark = pytest.mark.slow  # every preset's models built and trained a step

ROOT = Path(__file__).resolve().parents[1]
PAPER_PRESETS = ["ucf101-paper", "ucf101-report", "hmdb51-report", "ucf101-modern"]
CLASSES = {"ucf101": 101, "hmdb51": 51}
# Every model is built at its preset's real size. The training step then feeds it the
# smallest input its architecture accepts (the registry's min_input, in the shape of the
# preset's crop): at the real inputs (up to 29 frames, 224x224) the nine steps take over a
# minute on 2 CPU cores. The exception is cnn3d, whose fully connected layer is sized for its
# input: it steps at its real 29 frames of 90x120 (ucf101-paper's [height, width] crop).


ALL_PRESETS = sorted(p.stem for p in (ROOT / "presets").glob("*.yaml"))
PARAMS_TEXT = (ROOT / "params.yaml").read_text()


def applied(name: str, tmp_path: Path):
    target = tmp_path / f"{name}.params.yaml"
    target.write_text((ROOT / "params.yaml").read_text())
    apply_preset(name, target, ROOT / "presets")
    return load_params(target)


@pytest.mark.parametrize("name", PAPER_PRESETS)
def test_preset_defines_its_models_and_says_what_was_reported(name, tmp_path):
    text = (ROOT / "presets" / f"{name}.yaml").read_text()
    preset = yaml.safe_load(text)
    params = applied(name, tmp_path)
    # Exactly the preset's models: the default profile's cnn3d, crnn, frame_avg are gone.
    assert list(params.models) == list(preset["models"])
    assert params.dataset.name == preset["dataset"]["name"]
    assert [r.model for r in params.reported] == [r["model"] for r in preset.get("reported", [])]
    comment = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert "Reported" in comment and "Ambiguities and our choices:" in comment


def test_a_preset_without_models_keeps_them_and_one_with_models_resets_reported(tmp_path):
    target = tmp_path / "params.yaml"
    target.write_text((ROOT / "params.yaml").read_text())
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "paper.yaml").write_text((ROOT / "presets/ucf101-paper.yaml").read_text())
    (tmp_path / "presets" / "longer.yaml").write_text("train: {epochs: 200}\n")
    (tmp_path / "presets" / "modern.yaml").write_text((ROOT / "presets/ucf101-modern.yaml").read_text())
    apply_preset("paper", target, tmp_path / "presets")
    apply_preset("longer", target, tmp_path / "presets")
    p = load_params(target)
    assert list(p.models) == ["cnn3d", "resnet_crnn"] and len(p.reported) == 2
    assert p.train.epochs == 200
    apply_preset("modern", target, tmp_path / "presets")
    p = load_params(target)
    assert list(p.models) == ["r2plus1d_18"] and p.reported == []


def smallest_input(prep: Preprocessing, arch: str) -> Preprocessing:
    """The smallest clips `arch` accepts, as wide as the preset's crop for their height."""
    frames, side = get_entry(arch).min_input
    h, w = prep.crop_hw
    crop = (side, side * w // h) if w >= h else (side * h // w, side)
    return dataclasses.replace(prep, frames=min(prep.frames, frames), crop=crop, short_side=side)


@pytest.fixture
def one_thread():
    """The steps are tiny: a second thread only adds synchronisation, and spins when the
    machine is busy (measured: 10x the CPU time under load)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_every_preset_model_builds_and_trains_one_step(tmp_path, one_thread):
    torch.manual_seed(0)
    stepped, evaluated = set(), set()
    for name in PAPER_PRESETS:
        params = applied(name, tmp_path)
        for model_name, spec in params.models.items():
            cfg = params.train_config(model_name)
            config = dict(spec.model)
            if "pretrained" in options(spec.arch, {}):
                # Every encoder that has ImageNet or Kinetics weights starts from them.
                assert bool(config.get("pretrained")) == ("scratch" not in spec.arch)
                config["pretrained"] = False  # no network here; the freeze rules apply all the same
            model = create_model(spec.arch, CLASSES[params.dataset.name], cfg.frames, cfg.crop, **config)
            # hmdb51-report's models are ucf101-report's with 51 classes: built, stepped once.
            key = json.dumps([spec.arch, spec.model, cfg.frames, cfg.crop], sort_keys=True)
            if key in stepped:
                continue
            stepped.add(key)
            prep = Preprocessing.for_model(params, model_name)
            if spec.arch != "cnn3d":
                prep = smallest_input(prep, spec.arch)
            video = frames_files(tmp_path, [prep.source_frames], prep.short_side,
                                 prep.short_side * 4 // 3)  # one 4:3 video
            loader = make_loader(ClipDataset(video, tmp_path, prep, train=True),
                                 batch_size=1, shuffle=True, workers=0, seed=0)
            trainable = [p for p in model.parameters() if p.requires_grad]
            before = [p.detach().clone() for p in trainable]
            optimizer = torch.optim.Adam(trainable, lr=cfg.lr)
            result = train_one_epoch(model, loader, optimizer, torch.device("cpu"))
            assert np.isfinite(result["loss"]), (name, model_name)
            assert any(not torch.equal(a, b) for a, b in zip(before, trainable)), (name, model_name)
            # Validation's clip: eval_frames long (ucf101-paper's C-RNN: 19, not its 29 or 4).
            clip = ClipDataset(video, tmp_path, prep, train=False)[0][0]
            time_axis = 1 if prep.layout == "NCTHW" else 0
            assert clip.shape[time_axis] == prep.clip_frames(train=False), (name, model_name)
            with torch.no_grad():
                assert model.eval()(clip[None]).shape == (1, CLASSES[params.dataset.name])
            evaluated.add((name, model_name, prep.clip_frames(train=False), prep.crop))
    assert len(stepped) == 2 + 6 + 1  # paper, report (both datasets), modern
    # The paper's input: 90x120 for both, the C-RNN validating on 19 frames, the 3D CNN on 29.
    assert {(m, f, c) for p, m, f, c in evaluated if p == "ucf101-paper"} == {
        ("cnn3d", 29, (90, 120)), ("resnet_crnn", 19, (32, 42))}


# `har preset apply` edits params.yaml in place: its comments are the parameters' documentation.


def apply_to_copy(tmp_path: Path, *names: str, text: str = PARAMS_TEXT) -> str:
    target = tmp_path / "params.yaml"
    target.write_text(text)
    for name in names:
        apply_preset(name, target, ROOT / "presets")
    return target.read_text()


def top_level_blocks(text: str) -> dict[str, str]:
    """Each top-level key's text: the comment lines at column 0 just above it, its line and
    everything indented under it, and the blank lines after."""
    blocks, current, pending = {}, None, []
    for line in text.splitlines(True):
        key = re.match(r"([A-Za-z_]\w*):", line)
        if key:
            current = key.group(1)
            blocks[current] = "".join(pending) + line
            pending = []
        elif line.startswith("#"):
            pending.append(line)
        elif current is not None:
            blocks[current] += "".join(pending) + line
            pending = []
    return blocks


def keyed_lines(text: str) -> dict[tuple, str]:
    """Each block-mapping key's path (from the indentation) and its line."""
    lines, stack = {}, []
    for line in text.splitlines():
        m = re.match(r"( *)([A-Za-z_]\w*):( |$)", line)
        if m:
            indent = len(m.group(1))
            stack = [(i, k) for i, k in stack if i < indent] + [(indent, m.group(2))]
            lines[tuple(k for _, k in stack)] = line
    return lines


def comment(line: str) -> str | None:
    return line[line.index(" #") + 1:].strip() if " #" in line else None


def set_by(preset: dict) -> set[tuple]:
    """The key paths whose values a preset replaces (mappings merge, `models` is replaced whole)."""
    def leaves(d, prefix=()):
        for k, v in d.items():
            if isinstance(v, dict) and k != "models":
                yield from leaves(v, prefix + (k,))
            else:
                yield prefix + (k,)
    paths = set(leaves(preset))
    return paths | {("reported",)} if "models" in preset else paths


@pytest.mark.parametrize("before", [[], ["ucf101-paper"]], ids=["params.yaml", "after-ucf101-paper"])
@pytest.mark.parametrize("name", ALL_PRESETS)
def test_apply_writes_exactly_the_merged_params(name, before, tmp_path):
    """The file loads as merge_preset's result, also over a preset's (which fills `reported`)."""
    expected = yaml.safe_load(PARAMS_TEXT)
    for preset in before + [name]:
        expected = merge_preset(expected, yaml.safe_load((ROOT / "presets" / f"{preset}.yaml").read_text()) or {})
    data = yaml.safe_load(apply_to_copy(tmp_path, *before, name))
    assert data == expected
    parse_params(data)
    load_params(tmp_path / "params.yaml")


@pytest.mark.parametrize("name", ALL_PRESETS)
def test_apply_keeps_the_comments_of_what_the_preset_leaves_alone(name, tmp_path):
    preset_text = (ROOT / "presets" / f"{name}.yaml").read_text()
    replaced = set_by(yaml.safe_load(preset_text) or {})
    new = apply_to_copy(tmp_path, name)
    # Top-level sections the preset does not touch: word for word, comments and blank lines included.
    untouched = {k: b for k, b in top_level_blocks(PARAMS_TEXT).items() if not any(p[0] == k for p in replaced)}
    assert untouched, "every preset leaves split and serve alone"
    for key, block in untouched.items():
        assert block in new, key
    # Every comment line outside the models (which the presets replace whole) survives: the
    # file's header, each section's, and those inside the sections the preset merges into.
    new_lines = new.splitlines()
    old_models = top_level_blocks(PARAMS_TEXT)["models"].splitlines()
    documentation = [line for line in PARAMS_TEXT.splitlines()
                     if line.lstrip().startswith("#") and not (line in old_models and line.startswith(" "))]
    assert len(documentation) > 20
    assert [line for line in documentation if line not in new_lines] == []
    # A key the preset does not set keeps its line; one it sets takes the preset's comment,
    # or keeps its own when the preset has none.
    preset_lines, new_keyed = keyed_lines(preset_text), keyed_lines(new)
    for path, line in keyed_lines(PARAMS_TEXT).items():
        if path[0] in ("models", "reported"):
            continue
        if any(path[:len(p)] == p for p in replaced):
            if path in replaced:
                assert comment(new_keyed[path]) == (comment(preset_lines[path]) or comment(line)), path
        else:
            assert new_keyed[path] == line, path


def test_tiny_sets_train_keys_and_leaves_the_others_documented(tmp_path):
    lines = apply_to_copy(tmp_path, "tiny").splitlines()
    # Not in tiny.yaml: the line is as it was.
    assert "  amp: true                # CUDA only (bf16 where supported, else fp16 + GradScaler); ignored on CPU" in lines
    assert "  lr: 0.001" in lines
    # Set by tiny without a comment: the new value, params.yaml's documentation.
    assert "  crop: 28                 # a square's side, or [height, width] (e.g. [90, 120])" in lines
    # Set by tiny with a comment: the preset's.
    assert "  seeds: [0, 1]            # two: the seed summary (mean, std) runs too" in lines
    # The models are tiny's, with tiny's comments; the section's documentation stays above them.
    models = lines.index("models:")
    assert lines[models - 1].startswith("# with `dvc exp run -S '+models.<name>=")
    assert lines[models + 1].startswith("  # Every model of the default profile, shrunk")


@pytest.mark.parametrize("name", ALL_PRESETS)
def test_applying_twice_changes_nothing(name, tmp_path):
    once = apply_to_copy(tmp_path, name)
    # The editors' line stays first (params.schema.json), the presets' header under it.
    assert once.startswith(MODELINE + f"# params.yaml with preset '{name}' applied (har preset apply {name})\n")
    assert apply_to_copy(tmp_path, name, text=once) == once


def test_presets_applied_in_turn_keep_one_header_and_the_documentation(tmp_path):
    new = apply_to_copy(tmp_path, "ucf101-paper", "tiny")
    header = [line for line in new.splitlines() if line.startswith("# params.yaml with preset")]
    assert header == ["# params.yaml with presets 'ucf101-paper', 'tiny' applied "
                      "(har preset apply ucf101-paper, then tiny)"]
    assert new.startswith(MODELINE + header[0] + "\n# Every knob of the pipeline")
    # The paper's reported rows were a block list, and the comment above `models:` was filed
    # under its last row: tiny empties the list and the comment stays.
    assert yaml.safe_load(new)["reported"] == []
    assert "reported: []\n\n# One entry per model variant;" in new
    assert new == apply_to_copy(tmp_path, "ucf101-paper", "tiny")  # deterministic
    # Applying one again moves it to the end (it overrides all it set before).
    again = apply_to_copy(tmp_path, "ucf101-paper", "tiny", "ucf101-paper")
    assert again.splitlines()[1] == ("# params.yaml with presets 'tiny', 'ucf101-paper' applied "
                                    "(har preset apply tiny, then ucf101-paper)")
    assert again.splitlines()[2:] == apply_to_copy(tmp_path, "tiny", "ucf101-paper").splitlines()[2:]


def test_a_preset_that_sets_nothing_changes_nothing_but_the_header(tmp_path):
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "none.yaml").write_text("# nothing to change\n")
    target = tmp_path / "params.yaml"
    target.write_text(PARAMS_TEXT)
    apply_preset("none", target, tmp_path / "presets")
    header = "# params.yaml with preset 'none' applied (har preset apply none)\n"
    assert PARAMS_TEXT.startswith(MODELINE)
    assert target.read_text() == MODELINE + header + PARAMS_TEXT.removeprefix(MODELINE)
