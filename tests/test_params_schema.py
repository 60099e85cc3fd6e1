"""params.schema.json: generated from har/config.py's models, and current (editors validate and
complete params.yaml with it: params.yaml's first line names it for yaml-language-server)."""

import json
import sys
from pathlib import Path

from commands import run
from har.config import json_schema

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_schema_is_the_models_schema():
    committed = (ROOT / "params.schema.json").read_bytes()
    assert json_schema().encode() == committed, (
        "params.schema.json is stale: python -m har.config --schema > params.schema.json")


def test_the_command_writes_the_schema():
    out = run([sys.executable, "-m", "har.config", "--schema"], check=True, text=False).stdout
    assert out == (ROOT / "params.schema.json").read_bytes()


def test_params_yaml_names_the_schema_on_its_first_line():
    first = (ROOT / "params.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=params.schema.json"


def test_the_schema_refuses_unknown_keys_and_requires_every_key():
    schema = json.loads((ROOT / "params.schema.json").read_text())
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == set(schema["properties"])
    for name, section in schema["$defs"].items():
        assert section["additionalProperties"] is False, name
        assert set(section["required"]) == set(section["properties"]), name
