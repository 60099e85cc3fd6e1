"""Deps that cannot drift: every stage in dvc.yaml depends on the code its script runs.

A stage depends on its code through the code stage's md5 files (har/code_deps.py):
data/code/stage-<name>.json holds the files its script imports, followed through har
transitively, those inside functions included; data/code/model-<model>.json the model
family's own files, which the stages that build a model depend on. A dep written by hand
would drift as the code moves: an eval-only change to a model's forward must re-evaluate.
"""

import ast
import inspect
import json
from pathlib import Path

import pytest
import yaml

from commands import python
from har import paths
from har.code_deps import EXEMPT, code_listings, har_files, model_code, model_modules, stage_code
from har.config import TrainConfig
from har.models import registry

ROOT = Path(__file__).resolve().parents[1]
# Both pipeline files: dvc.yaml, and listing/dvc.yaml's one stage (in a lock file of its own).
DVC_YAML = {**yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"],
            **yaml.safe_load((ROOT / "listing" / "dvc.yaml").read_text())["stages"]}
# The stages that build a model, and how each names it in dvc.yaml.
MODEL_STAGES = {"weights": "${key}", "features": "${item.model}", "train": "${item.model}",
                "evaluate": "${item.model}"}
FAMILIES = {f"har/models/{m}.py" for m in model_modules(ROOT).values()}


def _definition(stage: dict) -> dict:
    """A stage's body: itself, or the `do` of a foreach (a matrix stage keeps its keys)."""
    return stage.get("do", stage)


def _script(stage: dict) -> str:
    words = _definition(stage)["cmd"].split()
    assert words[0] == "python" and words[1].startswith("stages/"), words
    return words[1]


def _deps(stage: dict) -> list[str]:
    return [d if isinstance(d, str) else next(iter(d)) for d in _definition(stage)["deps"]]


@pytest.mark.parametrize("name", sorted(set(DVC_YAML) - {"code"}))
def test_each_stage_depends_on_its_own_code_file_and_no_source_file(name):
    stage = DVC_YAML[name]
    deps = _deps(stage)
    assert paths.stage_code_file(Path(_script(stage)).stem).as_posix() in deps
    # No .py file and no har folder directly: those are the code stage's to hash.
    assert not [d for d in deps if d.endswith(".py") or d == "har" or d.startswith("har/models")
                or d.startswith("har/datasets")], deps
    model_dep = f"data/code/model-{MODEL_STAGES[name]}.json" if name in MODEL_STAGES else None
    assert (model_dep in deps) if model_dep else not any("model-" in d for d in deps)


def test_the_code_stage_hashes_every_file_any_stage_runs():
    deps = _deps(DVC_YAML["code"])
    assert set(deps) == {"har", "stages"}
    archs = {name: name for name in registry.MODEL_MODULES}
    listed = set()
    for text in code_listings(archs, ROOT).values():
        listed |= set(json.loads(text)["files"])
    assert all(p.split("/")[0] in deps for p in listed)
    # Every stage script has its file, and every registered model its family's.
    scripts = {f"stages/{p.name}" for p in (ROOT / "stages").glob("*.py")}
    assert scripts <= listed and FAMILIES <= listed
    assert scripts == {_script(s) for s in DVC_YAML.values()}  # every script is a stage


def test_a_stage_code_file_lists_exactly_what_its_script_imports():
    # The oracle, on a stage made for it: the listing is the import closure, nothing else.
    text = code_listings({}, ROOT)[paths.stage_code_file("aggregate")]
    assert set(json.loads(text)["files"]) == stage_code("stages/aggregate.py", ROOT)
    assert "har/seed_summary.py" in json.loads(text)["files"]
    assert "har/models/registry.py" not in json.loads(text)["files"]  # it builds no model


def test_model_stages_run_no_family_file_but_through_their_model_file():
    # A stage script never imports a family: only the stages that depend on
    # data/code/model-<model>.json run one, through the registry.
    for name, stage in DVC_YAML.items():
        assert not FAMILIES & stage_code(_script(stage), ROOT), name


def test_one_family_edit_changes_only_its_models_files(tmp_path):
    import shutil

    copy = tmp_path / "project"
    shutil.copytree(ROOT / "har", copy / "har", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "stages", copy / "stages")
    archs = {"a": "cnn3d", "b": "crnn", "c": "frame_avg", "d": "td_scratch_gru"}
    before = code_listings(archs, copy)
    family = copy / "har" / "models" / "crnn.py"
    family.write_text(family.read_text() + "\n# edited\n")
    after = code_listings(archs, copy)
    changed = {p.name for p in before if before[p] != after[p]}
    assert changed == {"model-b.json", "model-c.json"}  # crnn and frame_avg share crnn.py
    shared = copy / "har" / "engine.py"
    shared.write_text(shared.read_text() + "\n# edited\n")
    again = code_listings(archs, copy)
    assert {p.name for p in after if after[p] != again[p]} == {
        "stage-features.json", "stage-train.json", "stage-evaluate.json"}


def test_model_modules_name_every_registration():
    # The table the registry imports a family by, read as the code stage reads it.
    table = model_modules(ROOT)
    assert table == registry.MODEL_MODULES
    names = registry.list_models()  # imports every family: each registers its own names
    assert sorted(table) == names
    for name in names:
        assert registry.get_entry(name).build.__module__ == f"har.models.{table[name]}", name


def test_building_a_model_imports_only_its_family():
    # In a fresh interpreter: what building one model loads of har/models.
    code = ("import sys, har.models as m; m.create_model('cnn3d', 3, 4, 32); "
            "print(sorted(k for k in sys.modules if k.startswith('har.models.')))")
    out = python("-c", code, check=True).stdout
    loaded = {f"har/models/{m.split('.')[-1]}.py" for m in ast.literal_eval(out)}
    assert loaded - {"har/models/registry.py"} <= model_code("cnn3d", ROOT)
    assert "har/models/crnn.py" not in loaded and "har/models/video.py" not in loaded


def test_training_and_evaluation_never_import_the_downloader():
    # Only the weights stage fetches: an edit to the retry logic retrains nothing.
    for script in ("stages/train.py", "stages/evaluate.py", "stages/features.py"):
        assert "har/download.py" not in stage_code(script, ROOT), script
    for arch in registry.MODEL_MODULES:
        assert "har/download.py" not in model_code(arch, ROOT), arch
    assert "har/download.py" in stage_code("stages/weights.py", ROOT)


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
    fields = set(TrainConfig.model_fields)
    assert {f"train.{f}" for f in fields - {"seeds"}} <= declared
    assert "train.seeds" not in declared  # the seed is in the command: adding one retrains none


def test_training_resumes_only_with_the_code_dvc_would_retrain_for():
    # har/resume.py fingerprints the files of the train stage's and the model's code files.
    from har import resume

    assert resume.TRAIN_SCRIPT == _script(DVC_YAML["train"])
    assert "model_code(spec.arch)" in inspect.getsource(resume.fingerprint)
