"""Named presets: partial params files in presets/, merged over params.yaml.

Merge rule: mappings merge key by key and other values replace, except `models`: a
preset that has a `models:` key replaces the whole mapping, because a preset that
reproduces a paper must train exactly the paper's models, not the default ones
beside them. Its `reported` list (the literature numbers for those models)
replaces the old one too, or empties it. A preset without `models:` keeps them.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from har.config import PARAMS_FILE, deep_merge, parse_params
from har.fileio import write_text

PRESETS_DIR = Path("presets")


def available() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def apply_preset(name: str, params_file: Path = PARAMS_FILE, presets_dir: Path = PRESETS_DIR) -> dict:
    """Merge presets/<name>.yaml over params_file, validate, and write it back."""
    preset = Path(presets_dir) / f"{name}.yaml"
    if not preset.is_file():
        names = ", ".join(sorted(p.stem for p in Path(presets_dir).glob("*.yaml")))
        raise FileNotFoundError(f"{preset}: no such preset (available: {names})")
    merged = merge_preset(yaml.safe_load(Path(params_file).read_text()),
                          yaml.safe_load(preset.read_text()) or {})
    parse_params(merged)  # refuse to write a params file the stages would reject
    write_text(params_file, f"# params.yaml with preset '{name}' applied (har preset apply {name})\n"
               + yaml.safe_dump(merged, sort_keys=False, width=100))
    return merged


def merge_preset(params: dict, preset: dict) -> dict:
    """`params` with `preset` applied (see the module docstring for the rule)."""
    merged = deep_merge(params, {k: v for k, v in preset.items() if k != "models"})
    if "models" in preset:
        merged["models"] = preset["models"]
        merged["reported"] = preset.get("reported", [])
    return merged
