"""Which of har's source files a script runs: its `har` imports, followed transitively, those
inside functions included (read with `ast`, nothing is imported).

Two users: tests/test_dvc_deps.py checks that every stage in dvc.yaml depends on the code
its script runs (a dependency written by hand drifts: an eval-only change to a model's
forward must re-run evaluate), and har/resume.py refuses to resume a training whose code
changed.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "har"

# Modules a stage imports that provably cannot change any output, so no stage depends on
# them. One place, each with its reason.
EXEMPT = {
    "har/stage.py": "turns a HarError into one line on stderr and parses the stage's "
                    "arguments; it computes and writes nothing",
}


def _module_file(root: Path, module: str) -> Path | None:
    """har.x.y -> har/x/y.py or har/x/y/__init__.py (relative to root), if it exists."""
    parts = module.split(".")
    for candidate in (Path(*parts).with_suffix(".py"), Path(*parts) / "__init__.py"):
        if (root / candidate).is_file():
            return candidate
    return None


def _imported_modules(tree: ast.AST, current: str | None) -> set[str]:
    """Every har module named by an import anywhere in `tree` (module or function level)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                if current is None:
                    continue
                base = current.split(".")[:-node.level]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            # `from har import paths` imports the module har.paths
            names.update(f"{module}.{a.name}" for a in node.names)
    return {n for n in names if n == PACKAGE or n.startswith(PACKAGE + ".")}


def har_files(script: Path | str, root: Path | str = ".") -> set[str]:
    """The har source files (paths relative to root, with /) that running `script` imports."""
    root = Path(root)
    seen: set[Path] = set()
    todo: list[tuple[Path, str | None]] = [(Path(script), None)]
    while todo:
        path, module = todo.pop()
        tree = ast.parse((root / path).read_text(), filename=str(path))
        for name in _imported_modules(tree, module):
            # Importing har.a.b runs har/__init__.py and har/a/__init__.py too.
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                found = _module_file(root, prefix)
                if found is not None and found not in seen:
                    seen.add(found)
                    if found.as_posix() in EXEMPT:
                        continue  # nor what it imports for its own purpose
                    # A package's relative imports resolve inside it: `from . import x` in
                    # har/models/__init__.py is har.models.x.
                    todo.append((found, f"{prefix}.__init__" if found.name == "__init__.py"
                                 else prefix))
    return {p.as_posix() for p in seen}


def stage_code(script: Path | str, root: Path | str = ".") -> set[str]:
    """The script and the har files it runs, less those in EXEMPT: what its stage must depend on."""
    return ({Path(script).as_posix()} | har_files(script, root)) - set(EXEMPT)
