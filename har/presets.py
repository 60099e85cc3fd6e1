"""Named presets: partial params files in presets/, merged over params.yaml.

Merge rule: mappings merge key by key and other values replace, except `models`: a
preset that has a `models:` key replaces the whole mapping, because a preset that
reproduces a paper must train exactly the paper's models, not the default ones
beside them. Its `reported` list (the literature numbers for those models)
replaces the old one too, or empties it. A preset without `models:` keeps them.

`har preset apply` edits params.yaml in place, as a round-trip document (ruamel.yaml):
params.yaml's comments are the parameters' documentation, so every key the preset leaves
alone keeps its comments, order, style and blank lines. A value the preset sets takes the
preset's comment on that line if it has one, else keeps the old one. The rule is written once,
`apply_rule`: `merge_preset` follows it on plain data, har/params_edit.py on the document, and
the written file always loads as exactly merge_preset's result.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from har.config import PARAMS_FILE, parse_params
from har.errors import InputError, MissingFileError
from har.fileio import write_text

PRESETS_DIR = Path("presets")
# params.yaml's first line, which editors read (params.schema.json); it stays first.
MODELINE = "# yaml-language-server: $schema=params.schema.json\n"
# The line apply_preset writes after it: the presets applied, in the order of their last application.
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
    modeline = MODELINE if text.startswith(MODELINE) else ""
    text = text[len(modeline):]
    merged = merge_preset(yaml.safe_load(text), yaml.safe_load(preset_text) or {})
    parse_params(merged)  # refuse to write a params file the stages would reject

    header = HEADER.match(text)
    applied = re.findall(r"'([^']*)'", header.group(1)) if header else []
    # Applying a preset again overrides everything its earlier application set: it moves to the end.
    applied = [n for n in applied if n != name] + [name]
    # Imported here: merge_preset's users (the GPU check among them) need no ruamel.yaml.
    from har.params_edit import apply_in_place

    body = apply_in_place(text[header.end():] if header else text, preset_text, apply_rule)
    new_text = modeline + _header(applied) + body
    if yaml.safe_load(new_text) != merged:  # the round trip must not change what the file says
        # YAML 1.1 (PyYAML, DVC) and 1.2 (ruamel) read a few spellings differently (on/off,
        # 1e-4): refuse rather than write a file whose meaning changed.
        raise InputError(f"{params_file}: preset {name!r} cannot be applied keeping its layout: "
                         "the edited file would not load as the merged params (a value spelled "
                         "differently in YAML 1.1 and 1.2, such as on/off or 1e-4?)")
    write_text(params_file, new_text)
    return merged


def apply_rule(target: dict, preset: dict, replace: Callable[[dict, dict, Any], None],
               no_reported: dict) -> None:
    """The merge rule (the module docstring), applied to `target` in place. Every change is a
    call `replace(mapping, source, key)`: set mapping[key] to source[key]. `no_reported` is
    {"reported": <an empty list>}, the source that empties `reported`."""
    def merge(mapping: dict, source: dict, key) -> None:
        if isinstance(source[key], dict) and isinstance(mapping.get(key), dict):
            for k in source[key]:
                merge(mapping[key], source[key], k)
        else:
            replace(mapping, source, key)

    for key in preset:
        if key != "models":
            merge(target, preset, key)
    if "models" in preset:
        replace(target, preset, "models")
        if "reported" not in preset:
            replace(target, no_reported, "reported")


def merge_preset(params: dict, preset: dict) -> dict:
    """`params` with `preset` applied (see the module docstring for the rule)."""
    merged = copy.deepcopy(params)
    apply_rule(merged, preset, _set, {"reported": []})
    return merged


def _set(mapping: dict, source: dict, key) -> None:
    mapping[key] = source[key]


def _header(names: list[str]) -> str:
    if len(names) == 1:
        return f"# params.yaml with preset '{names[0]}' applied (har preset apply {names[0]})\n"
    quoted = ", ".join(f"'{n}'" for n in names)
    return f"# params.yaml with presets {quoted} applied (har preset apply {', then '.join(names)})\n"
