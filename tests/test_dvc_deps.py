"""Deps that cannot drift: every stage in dvc.yaml depends on the code its script runs.

The code a stage runs is read from its script's imports, followed through har
transitively, those inside functions included (har/code_deps.py). A dep written by hand
drifts as the code moves: an eval-only change to a model's forward would never re-evaluate.
"""

import ast
import dataclasses
from pathlib import Path

import pytest
import yaml

from har.code_deps import EXEMPT, har_files, stage_code
from har.config import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _definition(stage: dict) -> dict:
    """A stage's body: itself, or the `do` of a foreach (a matrix stage keeps its keys)."""
    return stage.get("do", stage)


def _script(stage: dict) -> str:
    words = _definition(stage)["cmd"].split()
    assert words[0] == "python" and words[1].startswith("stages/"), words
    return words[1]


def _covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


def _deps(stage: dict) -> list[str]:
    return [d if isinstance(d, str) else next(iter(d)) for d in _definition(stage)["deps"]]


@pytest.mark.parametrize("name", sorted(DVC_YAML))
def test_each_stage_depends_on_every_file_its_script_runs(name):
    stage = DVC_YAML[name]
    needed = stage_code(_script(stage), ROOT)
    missing = sorted(p for p in needed if not _covered(p, _deps(stage)))
    assert not missing, f"dvc.yaml: stage {name} runs {', '.join(missing)} but does not depend on it"


@pytest.mark.parametrize("name", sorted(DVC_YAML))
def test_no_stage_lists_code_it_does_not_run(name):
    # A stale dep re-runs a stage for nothing (or hides that a module moved).
    stage = DVC_YAML[name]
    needed = stage_code(_script(stage), ROOT)
    code = [d for d in _deps(stage) if d.endswith(".py") or d in ("har/models", "har/datasets")]
    extra = [d for d in code if not any(p == d or p.startswith(d + "/") for p in needed)]
    assert not extra, f"dvc.yaml: stage {name} depends on {extra}, which its script never imports"


def test_every_stage_script_is_in_the_pipeline():
    scripts = {_script(s) for s in DVC_YAML.values()}
    assert scripts == {f"stages/{p.name}" for p in (ROOT / "stages").glob("*.py")}


def test_imports_inside_functions_and_packages_are_followed(tmp_path):
    # The oracle, on a package made for it: a lazy import, a relative one inside a package
    # __init__, and `from pkg import module`.
    (tmp_path / "har" / "sub").mkdir(parents=True)
    (tmp_path / "har" / "__init__.py").write_text("")
    (tmp_path / "har" / "a.py").write_text("def f():\n    from har.sub import b\n")
    (tmp_path / "har" / "sub" / "__init__.py").write_text("from . import c\n")
    (tmp_path / "har" / "sub" / "b.py").write_text("import json\n")
    (tmp_path / "har" / "sub" / "c.py").write_text("from har import d\n")
    (tmp_path / "har" / "d.py").write_text("")
    (tmp_path / "har" / "unused.py").write_text("")
    (tmp_path / "script.py").write_text("import os\nfrom har import a\n")
    assert har_files("script.py", tmp_path) == {
        "har/__init__.py", "har/a.py", "har/sub/__init__.py", "har/sub/b.py", "har/sub/c.py",
        "har/d.py"}


def test_exempt_modules_are_few_and_each_says_why():
    assert set(EXEMPT) == {"har/stage.py"}
    for path, reason in EXEMPT.items():
        assert (ROOT / path).is_file() and len(reason) > 40
    # stage.py must stay a module that computes nothing: it catches HarError and reads argv,
    # and imports no har module but the error leaf.
    tree = ast.parse((ROOT / "har/stage.py").read_text())
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert functions == {"run", "model_arg", "model_seed_args"}
    assert har_files("har/stage.py", ROOT) == {"har/__init__.py", "har/cpu_kernels.py",
                                                "har/errors.py"}


def test_the_train_stage_declares_every_train_param_but_seeds():
    declared = {p for p in DVC_YAML["train"]["params"] if isinstance(p, str)}
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert {f"train.{f}" for f in fields - {"seeds"}} <= declared
    assert "train.seeds" not in declared  # the seed is in the command: adding one retrains none


def test_training_resumes_only_with_the_code_dvc_would_retrain_for():
    # har/resume.py fingerprints the same files the train stage depends on.
    from har import resume

    train_deps = _deps(DVC_YAML["train"])
    for path in stage_code(resume.TRAIN_SCRIPT, ROOT):
        assert _covered(path, train_deps)
