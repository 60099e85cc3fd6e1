"""dvc.lock's entries against the stages dvc.yaml defines for params.yaml's models and seeds.

DVC keeps the lock entry of a stage that no longer exists (a model or seed removed from
params.yaml, a stage renamed in dvc.yaml), so dvc.lock grows stale entries that every
`dvc repro` and `dvc status` reads for nothing. `har prune-lock` removes them (it runs in
scripts/results.sh after `dvc repro`), and har/results_check.py fails on a committed
dvc.lock that holds one.
"""

from __future__ import annotations

from pathlib import Path

import yaml

LOCK = Path("dvc.lock")


def pipeline_stages(models: list[str], seeds: list[int], dvc_yaml: dict) -> set[str]:
    """The stage names dvc.yaml defines for these models and seeds: `name`, `name@<model>`
    (foreach over models) and `name@<model>-<seed>` (matrix over models and seeds)."""
    names = set()
    for name, stage in (dvc_yaml.get("stages") or {}).items():
        if "foreach" in stage:
            names.update(f"{name}@{m}" for m in models)
        elif "matrix" in stage:
            names.update(f"{name}@{m}-{s}" for m in models for s in seeds)
        else:
            names.add(name)
    return names


def _defined(root: Path) -> set[str]:
    from har.config import load_params

    params = load_params(root / "params.yaml")
    dvc_yaml = yaml.safe_load((root / "dvc.yaml").read_text())
    return pipeline_stages(list(params.models), params.train.seeds, dvc_yaml)


def stale_entries(root: Path | str = ".") -> list[str]:
    """Names of dvc.lock's entries that dvc.yaml no longer defines, in the lock's order."""
    root = Path(root)
    lock = yaml.safe_load((root / LOCK).read_text()) or {}
    defined = _defined(root)
    return [name for name in (lock.get("stages") or {}) if name not in defined]


def prune(root: Path | str = ".") -> list[str]:
    """Remove the stale entries from dvc.lock, keeping the rest as DVC wrote it; returns them."""
    from ruamel.yaml import YAML

    from har.fileio import atomic_path

    root = Path(root)
    stale = stale_entries(root)
    if not stale:
        return []
    rt = YAML()  # set up as DVC writes dvc.lock (dvc/utils/serialize/_yaml.py): the other
    rt.default_flow_style = False  # entries stay byte for byte
    lock = rt.load((root / LOCK).read_text())
    for name in stale:
        del lock["stages"][name]
    with atomic_path(root / LOCK) as tmp, open(tmp, "w") as f:
        rt.dump(lock, f)
    return stale
