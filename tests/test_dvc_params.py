"""No param DVC cannot see: every value a stage declares changes its run-cache key.

DVC restores a stage's outputs from its run-cache when the key of (command, deps, params,
outs) matches an earlier run. The key drops every mapping key named `size` or `nfiles` at
any depth (treeverse/dvc issue 10296), so such a param could change and `dvc repro` would
check out the old outputs as if nothing had: params.yaml refuses those names
(har/config.py), and this file shows why and that nothing else is dropped.
"""

import copy
import sys

import pytest
import yaml
from dvc.dependency.param import ParamsDependency
from dvc.repo import Repo
from dvc.stage.cache import _get_cache_hash
from dvc.stage.serialize import to_single_stage_lockfile

from har.config import ConfigError, parse_params
from scratch_repo import ROOT, run

pytestmark = pytest.mark.slow  # real one-stage `dvc repro` runs


def _leaves(value, path=()):
    """(path, value) of every leaf of a params mapping; a list is one leaf and each item."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, path + (key,))
    else:
        yield path, value
        if isinstance(value, list):
            for i, item in enumerate(value):
                yield from _leaves(item, path + (i,))


def _changed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, list):
        return value + [value[0] if value else 1]
    return 1  # None


def _set(params: dict, path: tuple, value) -> None:
    target = params
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


@pytest.fixture(scope="module")
def lock_entries() -> dict[str, dict]:
    """Each stage's run-cache input (its would-be dvc.lock entry) with this params.yaml."""
    entries = {}
    with Repo(str(ROOT)) as repo:
        for stage in repo.index.stages:
            for dep in stage.deps:
                if isinstance(dep, ParamsDependency):
                    dep.save()  # read the values from params.yaml, not from dvc.lock
            entries[stage.addressing] = to_single_stage_lockfile(stage)
    return entries


def test_every_stage_declares_params(lock_entries):
    assert {"code", "params", "download", "extract", "split", "features@cnn3d-2", "train@cnn3d-0",
            "evaluate@crnn-2", "aggregate@frame_avg", "report"} <= set(lock_entries)
    # All but listing, which runs every time (always_changed) and so is never run-cached.
    assert all(entry.get("params") for name, entry in lock_entries.items()
               if name != "listing/dvc.yaml:listing")


def test_every_declared_param_changes_its_stages_run_cache_key(lock_entries):
    unseen = []
    checked = 0
    for name, entry in lock_entries.items():
        if "params" not in entry:
            continue  # the listing stage: always run, never restored (the test above)
        key = _get_cache_hash(copy.deepcopy(entry), key=True)
        for path, value in _leaves(entry["params"]):
            changed = copy.deepcopy(entry)
            _set(changed["params"], path, _changed(value))
            checked += 1
            if _get_cache_hash(changed, key=True) == key:
                unseen.append(f"{name}: {'.'.join(map(str, path[1:]))}")
    assert checked > 300  # every stage's every value, not a few
    assert not unseen, "params the run-cache does not see:\n" + "\n".join(unseen)


def test_dvc_still_drops_keys_named_size_which_is_why_they_are_refused(lock_entries):
    entry = copy.deepcopy(lock_entries["extract"])
    key = _get_cache_hash(copy.deepcopy(entry), key=True)
    entry["params"]["params.yaml"]["extract"]["size"] = 64
    # If this fails, DVC fixed issue 10296: the refusal in har/config.py can go.
    assert _get_cache_hash(entry, key=True) == key


@pytest.mark.parametrize("where", [("extract", "size"), ("models", "cnn3d", "model", "nfiles"),
                                   ("dataset", "synthetic", "size")])
def test_params_yaml_refuses_keys_named_size_or_nfiles_at_any_depth(where):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    _set(params, where, 3)
    with pytest.raises(ConfigError, match=rf"'{'.'.join(where)}': no key may be named size or "
                                          r"nfiles: DVC's run-cache ignores keys so named"):
        parse_params(params)


SCRIPT = "import yaml, sys; p = yaml.safe_load(open('params.yaml'))['a']; open('out', 'w').write(str(p[sys.argv[1]]))"


@pytest.mark.parametrize("name, reruns", [("size", False), ("short_side", True)])
def test_dvc_repro_with_a_changed_param(tmp_path, name, reruns):
    """The end-to-end behaviour behind the tests above, on a one-stage toy pipeline."""
    (tmp_path / "stage.py").write_text(SCRIPT)
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"s": {
        "cmd": f"{sys.executable} stage.py {name}", "deps": ["stage.py"],
        # The whole section, as the extract stage declares `extract`: in dvc.lock the value
        # is then under its own key, which is what the run-cache key drops.
        "params": ["a"], "outs": ["out"]}}}))
    run(["git", "init", "-q"], tmp_path)
    run(["dvc", "init", "-q"], tmp_path)
    outputs = []
    for value in (1, 2, 1, 2):
        (tmp_path / "params.yaml").write_text(f"a:\n  {name}: {value}\n")
        run(["dvc", "repro", "-q"], tmp_path)
        outputs.append((tmp_path / "out").read_text())
    # With `size`, DVC restores the first run's output from its run-cache whatever the value.
    assert outputs == (["1", "2", "1", "2"] if reruns else ["1", "1", "1", "1"])
