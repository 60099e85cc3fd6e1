"""Named presets: partial params files in presets/, merged over params.yaml.

Merge rule: mappings merge key by key and other values replace, except `models`: a
preset that has a `models:` key replaces the whole mapping, because a preset that
reproduces a paper must train exactly the paper's models, not the default ones
beside them. Its `reported` list (the literature numbers for those models)
replaces the old one too, or empties it. A preset without `models:` keeps them.

`har preset apply` edits params.yaml in place, as a round-trip document (ruamel.yaml):
params.yaml's comments are the parameters' documentation, so every key the preset leaves
alone keeps its comments, order, style and blank lines. A value the preset sets takes the
preset's comment on that line if it has one, else keeps the old one. `merge_preset` is the
same rule on plain data, and the written file always loads as exactly its result.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from har.config import PARAMS_FILE, deep_merge, parse_params
from har.errors import InputError, MissingFileError
from har.fileio import write_text

PRESETS_DIR = Path("presets")
# The first line apply_preset writes: the presets applied, in the order of their last application.
HEADER = re.compile(r"# params\.yaml with presets? ('.*') applied \(har preset apply [^\n]*\)\n")


def available() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def apply_preset(name: str, params_file: Path = PARAMS_FILE, presets_dir: Path = PRESETS_DIR) -> dict:
    """Merge presets/<name>.yaml over params_file, validate, and write it back."""
    preset = Path(presets_dir) / f"{name}.yaml"
    if not preset.is_file():
        names = ", ".join(sorted(p.stem for p in Path(presets_dir).glob("*.yaml")))
        raise MissingFileError(f"{preset}: no such preset (available: {names})")
    text, preset_text = Path(params_file).read_text(), preset.read_text()
    merged = merge_preset(yaml.safe_load(text), yaml.safe_load(preset_text) or {})
    parse_params(merged)  # refuse to write a params file the stages would reject

    header = HEADER.match(text)
    applied = re.findall(r"'([^']*)'", header.group(1)) if header else []
    # Applying a preset again overrides everything its earlier application set: it moves to the end.
    applied = [n for n in applied if n != name] + [name]
    # Imported here: merge_preset's users (the GPU check among them) need no ruamel.yaml.
    from har.params_edit import apply_in_place

    new_text = _header(applied) + apply_in_place(text[header.end():] if header else text,
                                                 preset_text)
    if yaml.safe_load(new_text) != merged:  # the round trip must not change what the file says
        # YAML 1.1 (PyYAML, DVC) and 1.2 (ruamel) read a few spellings differently (on/off,
        # 1e-4): refuse rather than write a file whose meaning changed.
        raise InputError(f"{params_file}: preset {name!r} cannot be applied keeping its layout: "
                         "the edited file would not load as the merged params (a value spelled "
                         "differently in YAML 1.1 and 1.2, such as on/off or 1e-4?)")
    write_text(params_file, new_text)
    return merged


def merge_preset(params: dict, preset: dict) -> dict:
    """`params` with `preset` applied (see the module docstring for the rule)."""
    merged = deep_merge(params, {k: v for k, v in preset.items() if k != "models"})
    if "models" in preset:
        merged["models"] = preset["models"]
        merged["reported"] = preset.get("reported", [])
    return merged


def _header(names: list[str]) -> str:
    if len(names) == 1:
        return f"# params.yaml with preset '{names[0]}' applied (har preset apply {names[0]})\n"
    quoted = ", ".join(f"'{n}'" for n in names)
    return f"# params.yaml with presets {quoted} applied (har preset apply {', then '.join(names)})\n"
