"""benchmarks/ is a package that imports without path tricks: no module touches sys.path,
every module imports in a fresh interpreter started in the project root with no PYTHONPATH
(as `python -m benchmarks.<name>` runs it), importing one runs no benchmark, har is imported
(pinning the CPU kernels) before anything imports torch, and each command's usage line is its
`python -m` form."""

from __future__ import annotations

import ast
import json

import pytest

from commands import ROOT, python

BENCHMARKS = ROOT / "benchmarks"
MODULES = sorted(p.stem for p in BENCHMARKS.glob("*.py") if p.stem != "__init__")
COMMANDS = [m for m in MODULES if m != "common"]


def _tree(name: str) -> ast.Module:
    path = BENCHMARKS / f"{name}.py"
    return ast.parse(path.read_text(), filename=str(path))


def sys_path_uses(tree: ast.Module) -> list[int]:
    """Lines that read or change sys.path (`sys.path`, `from sys import path`, `site.addsitedir`)
    or load a file as a module by its path (importlib's spec_from_file_location)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and (
                (node.attr == "path" and isinstance(node.value, ast.Name) and node.value.id == "sys")
                or node.attr in ("addsitedir", "spec_from_file_location")):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module in ("sys", "site", "importlib.util") \
                and {a.name for a in node.names} & {"path", "addsitedir", "spec_from_file_location"}:
            lines.append(node.lineno)
    return lines


def test_the_check_sees_a_sys_path_insert():
    tree = ast.parse("import sys\nfrom pathlib import Path\n"
                     "sys.path.insert(0, str(Path(__file__).resolve().parent))\n"
                     "from common import figure  # noqa: E402\n")
    assert sys_path_uses(tree) == [3]
    assert sys_path_uses(ast.parse("from sys import path\npath.append('x')\n")) == [1]
    assert sys_path_uses(ast.parse("import sys\nsys.argv[1:]\n")) == []


@pytest.mark.parametrize("name", ["__init__", *MODULES])
def test_no_module_touches_sys_path(name):
    assert sys_path_uses(_tree(name)) == [], f"benchmarks/{name}.py changes or reads sys.path"
    source = (BENCHMARKS / f"{name}.py").read_text()
    assert "E402" not in source  # imports come first: nothing runs before them
    for node in ast.walk(_tree(name)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # A sibling by its bare name only imports with benchmarks/ itself on sys.path.
            assert node.module.partition(".")[0] not in MODULES, (name, node.lineno, node.module)
        if isinstance(node, ast.Import):
            assert not {a.name.partition(".")[0] for a in node.names} & set(MODULES), (name, node.lineno)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_runs_only_under_its_main_guard(name):
    """Top level: imports, definitions and constants; the work is in main(), called under
    `if __name__ == "__main__":`, so importing the module (benchmarks.run does) runs nothing."""
    tree = _tree(name)
    guards = [n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) in (
        "__name__ == '__main__'", '__name__ == "__main__"')]
    assert len(guards) == 1 and guards[0] is tree.body[-1], f"benchmarks/{name}.py: no main guard last"
    assert any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body)
    for node in tree.body[:-1]:
        allowed = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef, ast.Assign,
                   ast.AnnAssign)
        docstring = (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                     and isinstance(node.value.value, str))
        assert isinstance(node, allowed) or docstring, \
            f"benchmarks/{name}.py:{node.lineno} runs at import: {ast.unparse(node)[:80]}"


IMPORT_ALL = """
import contextlib, importlib, io, json, sys
before = list(sys.path)
modules = sys.argv[1].split(",")
for name in modules:
    importlib.import_module(f"benchmarks.{name}")
after = list(sys.path)
usage = {}
for name in sys.argv[2].split(","):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        sys.modules[f"benchmarks.{name}"].main(["--help"])
    usage[name] = out.getvalue()
print(json.dumps({"before": before, "after": after, "usage": usage,
                  "files": {m: sys.modules[f"benchmarks.{m}"].__file__ for m in modules}}))
"""


def test_every_module_imports_from_the_project_root_without_pythonpath(tmp_path):
    # A person's environment (tests/commands.py): no PYTHONPATH, no kernel-pinning variables.
    done = python("-c", IMPORT_ALL, ",".join(MODULES), ",".join(COMMANDS))
    assert done.returncode == 0, done.stderr[-3000:]
    *printed, last = done.stdout.strip().splitlines()
    assert printed == []  # importing printed nothing: no benchmark ran
    found = json.loads(last)
    assert found["after"] == found["before"]  # no module changed sys.path at import
    for name, file in found["files"].items():
        assert file == str(BENCHMARKS / f"{name}.py")
    for name, usage in found["usage"].items():
        assert usage.startswith(f"usage: python -m benchmarks.{name} "), usage[:200]


def test_importing_the_package_pins_the_kernels_and_loads_no_torch():
    # `python -m benchmarks.<name>` imports the package before the module, so har has pinned
    # the kernels before any benchmark imports torch; else torch may pick AVX-512 ones and
    # training code stops on them (har.cpu_kernels.check_isa: "torch was imported before har").
    code = ("import os, sys, benchmarks; print('har' in sys.modules, 'torch' in sys.modules, "
            "os.environ.get('ATEN_CPU_CAPABILITY'), os.environ.get('OMP_NUM_THREADS'))")
    done = python("-c", code, check=True)
    assert done.stdout.split() == ["True", "False", "avx2", "2"]


def test_a_benchmark_is_a_command_of_the_package():
    done = python("-m", "benchmarks.training", "--help")
    assert done.returncode == 0 and done.stdout.startswith("usage: python -m benchmarks.training")
