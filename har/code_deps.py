"""Which of har's source files a script runs: its `har` imports, followed transitively, those
inside functions included (read with `ast`, nothing is imported).

Every stage depends on its code through the code stage (stages/code.py), which writes the
md5s of those files, per stage (data/code/stage-<name>.json: the script and what it imports)
and per model (data/code/model-<name>.json: `model_code`, the model family's module and what
it imports: the registry imports a family only when one of its models is built,
har/models/registry.py). An edit to any file re-runs exactly the stages whose files' md5s
change: one family's file, only the stages of its models. The lists are derived, never
written by hand, so they cannot drift; dvc.lock stays small (one dep per stage for its code,
not one per file), which keeps a no-op `dvc repro` fast.

Other users: har/results_check.py renders the same files to check that dvc.lock records this
commit's code, and har/resume.py refuses to resume a training whose code changed.
"""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

from har import paths
from har.errors import InputError

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


REGISTRY = "har/models/registry.py"


def model_modules(root: Path | str = ".") -> dict[str, str]:
    """arch -> the module of har/models that registers it: the registry's MODEL_MODULES,
    read as a literal from its source (so this needs no torch)."""
    tree = ast.parse((Path(root) / REGISTRY).read_text(), filename=REGISTRY)
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and getattr(node.targets[0], "id", None) == "MODEL_MODULES"):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{REGISTRY}: no MODEL_MODULES literal")  # a test keeps it there


def model_code(arch: str, root: Path | str = ".") -> set[str]:
    """The har files that building `arch` runs beyond its stage script's imports: its family's
    module and everything that imports, transitively (shared files included)."""
    modules = model_modules(root)
    if arch not in modules:  # the code stage runs before the params check: say it here too
        raise InputError(f"params.yaml: unknown model arch {arch!r}; registered: "
                         f"{', '.join(sorted(modules))}")
    family = f"har/models/{modules[arch]}.py"
    return ({family} | har_files(family, root)) - set(EXEMPT)


def fingerprint(files: set[str], root: Path | str = ".") -> dict[str, str]:
    """{path: md5 of its bytes} over `files`, sorted: a file whose content changes iff the code does."""
    return {f: hashlib.md5((Path(root) / f).read_bytes()).hexdigest() for f in sorted(files)}


STAGES = Path("stages")


def code_listings(archs: dict[str, str], root: Path | str = ".") -> dict[Path, str]:
    """path (relative to root) -> the text the code stage writes there: one file per stage
    script of stages/, one per model of `archs` (model name -> arch)."""
    root = Path(root)
    out = {}
    for script in sorted((root / STAGES).glob("*.py")):
        rel = (STAGES / script.name).as_posix()
        out[paths.stage_code_file(script.stem)] = _record(fingerprint(stage_code(rel, root), root))
    for name, arch in sorted(archs.items()):
        out[paths.model_code_file(name)] = _record(fingerprint(model_code(arch, root), root),
                                                   arch=arch)
    return out


def _record(files: dict[str, str], **extra) -> str:
    return json.dumps({**extra, "files": files}, indent=1) + "\n"
