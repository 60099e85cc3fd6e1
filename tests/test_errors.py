"""One error base class: every error a user can cause is a HarError (har/errors.py), and the two
entry points (har/stage.py for the DVC stages, har/cli.py for `har`) catch that class alone."""

import ast
import importlib
from pathlib import Path

import pytest

from har import cli, stage
from har.errors import HarError, InputError, MissingFileError

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "har").rglob("*.py"))

# Built-in exceptions har may still raise: each marks a bug in har, never bad input.
BUG_SIGNALS = {
    ("har/datasets/synthetic.py", "ValueError"): "a shape name the renderer itself chose",
    ("har/models/registry.py", "ValueError"): "two @register_model with one name",
    ("har/seed_summary.py", "ValueError"): "an interval over zero trials (the caller's bug)",
    ("har/preprocessing.py", "ValueError"): "a crop view index outside 1 or 3 views (eval.crops "
                                            "is validated in har/config.py)",
    ("har/engine.py", "ValueError"): "a mean class accuracy over no items (an empty split is "
                                     "refused before training)",
    ("har/config.py", "TypeError"): "a params model built in code with too many positional fields",
}
BUILTINS = {"ValueError", "FileNotFoundError", "RuntimeError", "OSError", "TypeError", "KeyError",
            "Exception"}


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def test_every_exception_class_in_har_is_a_har_error():
    defined = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                    isinstance(b, ast.Name) and b.id.endswith(("Error", "Exception"))
                    for b in node.bases):
                cls = getattr(importlib.import_module(_module(path)), node.name)
                defined.append(cls)
                assert issubclass(cls, HarError), f"{path.relative_to(ROOT)}: {node.name}"
    assert len(defined) >= 15  # the scan found the classes (ConfigError, VideoError, ...)


def test_har_raises_built_in_exceptions_only_for_its_own_bugs():
    found = set()
    for path in SOURCES:
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) \
                    and isinstance(node.exc.func, ast.Name) and node.exc.func.id in BUILTINS:
                found.add((rel, node.exc.func.id))
    unexpected = found - set(BUG_SIGNALS)
    assert not unexpected, f"raise a HarError subclass (har/errors.py) instead: {sorted(unexpected)}"
    assert found == set(BUG_SIGNALS), "a listed bug signal is gone: drop it from BUG_SIGNALS"


def test_the_error_module_is_a_leaf():
    tree = ast.parse((ROOT / "har/errors.py").read_text())
    imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert all(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in imports)


def test_built_in_bases_stay_for_callers_that_catch_them():
    assert issubclass(InputError, ValueError) and issubclass(MissingFileError, FileNotFoundError)


def test_a_stage_prints_a_har_error_as_one_line_and_exits_non_zero():
    def main():
        raise MissingFileError("data/raw/videos: video folder not found")

    with pytest.raises(SystemExit) as exit_:
        stage.run("extract", main)
    assert exit_.value.code == "extract: data/raw/videos: video folder not found"


def test_a_stage_keeps_the_traceback_of_anything_else():
    def main():
        raise ValueError("a bug")  # a plain ValueError is no longer taken for bad input

    with pytest.raises(ValueError, match="a bug"):
        stage.run("extract", main)


def test_the_cli_answers_a_har_error_with_exit_2_and_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no presets/ here
    assert cli.main(["preset", "apply", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("har: presets/nosuch.yaml: no such preset") and err.count("\n") == 1


def test_the_cli_keeps_the_traceback_of_a_bug(monkeypatch):
    def broken(args):
        raise KeyError("a bug")

    monkeypatch.setattr(cli, "cmd_split_mean", broken)
    with pytest.raises(KeyError):
        cli.main(["split-mean"])
