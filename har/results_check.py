"""Keep the published results honest: README's table, reports/results.md, metrics/ and dvc.lock agree.

The metrics and reports/results.md are committed to git (`cache: false` in dvc.yaml), so a
reviewer, `dvc metrics diff` and `dvc plots diff` see them without pulling anything. That
makes them editable by hand, and stale when code changes without a new run, so CI checks
every link of the chain:

1. dvc.lock was written by this commit's code and params: every stage's source files
   (its dependencies that no stage produces) and params have the hashes and values it
   records; otherwise the results predate a change and `dvc repro` must run;
2. every committed metrics file and reports/results.md has the hash dvc.lock recorded when
   the pipeline wrote it (an edit after the run breaks this);
3. reports/results.md is exactly what the report code renders from metrics/ and params.yaml;
4. the block of README.md between the markers below is that same rendering.

    python -m har.results_check                 # all four; exit 1 and say what differs
    python -m har.results_check --no-readme     # 1 to 3 only (after a run of another profile)
    python -m har.results_check --update-readme # rewrite README's block from metrics/
    python -m har.results_check --expected DIR  # and the numbers equal DIR's, bit for bit

The README's block is rendered from the committed metrics, never typed: after a new
`dvc repro`, run --update-readme and commit README.md with metrics/ and dvc.lock.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import sys
from pathlib import Path

import yaml

from har import paths
from har.config import load_params
from har.errors import InputError
from har.code_deps import code_listings
from har.datasets.folder import dataset_listing
from har.lockfile import pipeline_stages, stale_entries
from har.report import render_results

README = Path("README.md")
LOCK = Path("dvc.lock")
RESULTS = paths.REPORTS / "results.md"
START = "<!-- results: generated from metrics/ by `python -m har.results_check --update-readme`; do not edit -->"
END = "<!-- end of results -->"
TITLE = "# Results\n\n"


class ResultsCheckError(InputError):
    """README.md has no results block, or more than one."""


def readme_block(results_md: str) -> str:
    """What README.md shows between the markers: reports/results.md without its title."""
    return results_md.removeprefix(TITLE)


def split_readme(text: str) -> tuple[str, str, str]:
    """(before, block, after) of README text around the generated results block."""
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise ResultsCheckError(f"{README}: needs exactly one results block, from the line\n"
                                f"  {START}\nto the line\n  {END}")
    before, rest = text.split(START + "\n", 1)
    block, after = rest.split(END, 1)
    return before, block, after


def with_readme_block(text: str, block: str) -> str:
    before, _, after = split_readme(text)
    return f"{before}{START}\n{block}{END}{after}"


def _dvc_ignored(rel: Path) -> bool:
    """What .dvcignore leaves out of a directory's hash: Python's bytecode caches."""
    return "__pycache__" in rel.parts or rel.suffix == ".pyc"


def dvc_md5(path: Path) -> str:
    """The hash DVC 3 records for a file (md5 of its bytes) or a directory (".dir" manifest)."""
    if path.is_file():
        return hashlib.md5(path.read_bytes()).hexdigest()
    # A directory's hash is the md5 of its manifest: files sorted by relative path, as JSON.
    entries = sorted(({"md5": hashlib.md5(f.read_bytes()).hexdigest(),
                       "relpath": f.relative_to(path).as_posix()}
                      for f in path.rglob("*")
                      if f.is_file() and not _dvc_ignored(f.relative_to(path))),
                     key=lambda e: e["relpath"])
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + ".dir"


def current_stages(lock: dict, models: list[str], seeds: list[int],
                   dvc_yaml: dict) -> dict[str, dict]:
    """dvc.lock's entries of the stages dvc.yaml defines for params.yaml's models and seeds.

    DVC keeps the lock entries of a stage that no longer exists (har/lockfile.py); they do
    not count here, and lock_problems reports them.
    """
    defined = pipeline_stages(models, seeds, dvc_yaml)
    return {name: stage for name, stage in (lock.get("stages") or {}).items() if name in defined}


def _lookup(params: dict, dotted: str):
    value = params
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


_MISSING = object()


def stale_problems(root: Path, lock: dict, params: dict, models: list[str], seeds: list[int],
                   dvc_yaml: dict) -> list[str]:
    """Stages whose source files or params differ from what dvc.lock recorded when they ran."""
    stages = current_stages(lock, models, seeds, dvc_yaml)
    produced = [o["path"] for stage in stages.values() for o in stage.get("outs", [])]
    # The code and listing stages' files are rendered here as those stages write them: a
    # stage depends on its code through them, so an edit to a source file shows here.
    p = load_params(root / "params.yaml")
    rendered = code_listings({name: spec.arch for name, spec in p.models.items()}, root)
    rendered[paths.LISTING] = dataset_listing(p.dataset, root)
    listed = {path.as_posix(): hashlib.md5(text.encode()).hexdigest()
              for path, text in rendered.items()}
    stale: dict[str, list[str]] = {}
    for name, stage in stages.items():
        changed = []
        for dep in stage.get("deps", []):
            path = dep["path"]
            if path in listed:
                if listed[path] != dep["md5"]:
                    changed.append(path)
                continue
            if any(path == out or path.startswith(f"{out}/") or out.startswith(f"{path}/")
                   for out in produced):
                continue  # data made by stages (metrics/ holds outputs): checked as outputs
            if not (root / path).exists() or dvc_md5(root / path) != dep["md5"]:
                changed.append(path)
        for values in (stage.get("params") or {}).values():
            changed += [key for key, value in values.items() if _lookup(params, key) != value]
        if changed:
            stale[name] = changed
    if not stale:
        return []
    listing = "\n".join(f"  {name}: {', '.join(changed)}" for name, changed in stale.items())
    return [f"{LOCK}: the results predate changes to code or params of {len(stale)} stage(s); "
            "run `dvc repro`, then `python -m har.results_check --update-readme`, and commit "
            f"dvc.lock, metrics/, reports/results.md and README.md together:\n{listing}"]


def committed_outputs(lock: dict, models: list[str], seeds: list[int],
                      dvc_yaml: dict) -> dict[str, str]:
    """path -> md5 of every dvc.lock output that git carries: metrics/ and reports/results.md."""
    out = {}
    for stage in current_stages(lock, models, seeds, dvc_yaml).values():
        for o in stage.get("outs", []):
            path = o["path"]
            if path.startswith(f"{paths.METRICS.as_posix()}/") or path == RESULTS.as_posix():
                out[path] = o["md5"]
    return out


def lock_problems(root: Path, stale: bool = True) -> list[str]:
    lock = yaml.safe_load((root / LOCK).read_text()) or {}
    params = load_params(root / "params.yaml")
    models, seeds = list(params.models), params.train.seeds
    dvc_yaml = yaml.safe_load((root / "dvc.yaml").read_text())
    outputs = committed_outputs(lock, models, seeds, dvc_yaml)
    if not outputs:
        return [f"{LOCK}: records no metrics; run `dvc repro`"]
    problems = []
    leftover = stale_entries(root)
    if leftover:
        problems.append(f"{LOCK}: holds {len(leftover)} entries of stages that dvc.yaml no longer "
                        f"defines ({', '.join(leftover)}); run `har prune-lock`")
    if stale:
        raw = yaml.safe_load((root / "params.yaml").read_text())
        problems += stale_problems(root, lock, raw, models, seeds, dvc_yaml)
    for path, md5 in sorted(outputs.items()):
        if not (root / path).exists():
            problems.append(f"{path}: missing, but {LOCK} records it; run `dvc repro`")
        elif dvc_md5(root / path) != md5:
            problems.append(f"{path}: differs from what the pipeline wrote (its hash in {LOCK} is "
                            f"{md5}): edited by hand, or {LOCK} is stale; run `dvc repro`")
    return problems


# The numbers a rerun must reproduce bit for bit (the CPU kernels are pinned,
# har/cpu_kernels.py): every seed's accuracies, loss and best epoch. Not train time.
REPRODUCED = ("test.clip_top1", "test.clip_top5", "test.video_top1", "test.loss",
              "train.best_epoch", "train.train_top1", "train.val_top1")


def number_differences(metrics_dir: Path, expected_dir: Path, models: list[str]) -> list[str]:
    """Where metrics_dir's per-seed numbers differ from expected_dir's (metrics/<model>.json)."""
    found = []
    for model in models:
        new_path, old_path = Path(metrics_dir) / f"{model}.json", Path(expected_dir) / f"{model}.json"
        if not old_path.is_file():
            found.append(f"{old_path}: no expected numbers for model {model!r}")
            continue
        new = json.loads(new_path.read_text())["per_seed"]
        old = json.loads(old_path.read_text())["per_seed"]
        if sorted(new) != sorted(old):
            found.append(f"{model}: seeds {sorted(new)} against the expected {sorted(old)}")
            continue
        for seed in sorted(old):
            for key in REPRODUCED:
                section, name = key.split(".")
                a, b = new[seed][section][name], old[seed][section][name]
                if a != b:
                    found.append(f"{model}, seed {seed}: {key} is {a}, expected {b} "
                                 f"({old_path})")
    return found


def _diff(expected: str, actual: str, name: str) -> str:
    lines = difflib.unified_diff(expected.splitlines(keepends=True), actual.splitlines(keepends=True),
                                 "rendered from metrics/", name, n=0)
    return "".join(list(lines)[:40])


def rendered(root: Path) -> str:
    """reports/results.md as the report code renders it from root's params.yaml and metrics/."""
    return render_results(load_params(root / "params.yaml"), root / paths.METRICS)


def problems(root: Path = Path("."), readme: bool = True) -> list[str]:
    root = Path(root)
    found = lock_problems(root)
    expected = rendered(root)
    results = root / RESULTS
    if not results.is_file():
        found.append(f"{RESULTS}: missing; run `dvc repro report`")
    elif results.read_text() != expected:
        found.append(f"{RESULTS}: not what the report code renders from metrics/; run "
                     f"`dvc repro report`\n{_diff(expected, results.read_text(), str(RESULTS))}")
    if readme:
        _, block, _ = split_readme((root / README).read_text())
        if block != readme_block(expected):
            found.append(f"{README}: its results block is not what the report code renders from "
                         "metrics/ (edited by hand, or metrics changed since); run "
                         f"`python -m har.results_check --update-readme`\n"
                         f"{_diff(readme_block(expected), block, str(README))}")
    return found


def update_readme(root: Path = Path(".")) -> bool:
    """Rewrite README's results block from metrics/; True if it changed."""
    path = Path(root) / README
    text = path.read_text()
    new = with_readme_block(text, readme_block(rendered(Path(root))))
    if new != text:
        path.write_text(new)
    return new != text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m har.results_check", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-readme", action="store_true",
                        help="skip README.md (its table is the default profile's)")
    parser.add_argument("--update-readme", action="store_true",
                        help="rewrite README's results block from metrics/, then check")
    parser.add_argument("--expected", type=Path, metavar="DIR",
                        help="also require every seed's accuracies, loss and best epoch in "
                             "metrics/ to equal those of DIR/<model>.json, bit for bit")
    args = parser.parse_args(argv)
    if args.update_readme:
        changed = update_readme()
        print(f"{README}: results block {'updated' if changed else 'already up to date'}")
    found = problems(readme=not args.no_readme)
    if args.expected is not None:
        models = list(load_params().models)
        found += number_differences(paths.METRICS, args.expected, models)
    for p in found:
        print(f"results check: {p}", file=sys.stderr)
    if not found:
        checked = "reports/results.md" + ("" if args.no_readme else " and README.md's table")
        print(f"results check: dvc.lock is this commit's code and params, metrics match it, "
              f"and {checked} agree with the report code"
              + (f"; every seed's numbers equal {args.expected}'s" if args.expected else ""))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
