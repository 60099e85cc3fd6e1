"""The GitHub workflows: checked by a real linter (actionlint), and their logic run here.

The fan-out workflow (.github/workflows/grid.yml) takes its matrix from `scripts/grid.sh list
--json` and hands each entry to `scripts/grid.sh run`; tests/test_grid.py runs that script
end to end. Here: the workflow files are valid, the matrix it would build is params.yaml's
grid, and each job calls the script with arguments the matrix entries carry.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from commands import environment, run
from har.config import load_params
from har.grid import runs

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONLINT = shutil.which("actionlint", path=environment()["PATH"])


def lint(*paths: Path) -> subprocess.CompletedProcess:
    assert ACTIONLINT, "actionlint not found: pip install -r requirements.txt installs it"
    return run([ACTIONLINT, "-no-color", *paths])


def test_actionlint_passes_every_workflow():
    assert {p.name for p in WORKFLOWS} >= {"results.yml", "grid.yml"}
    done = lint(*WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    # So the test above can fail: a job that needs an undefined job's output.
    broken = tmp_path / "grid.yml"
    broken.write_text((ROOT / ".github/workflows/grid.yml").read_text()
                      .replace("needs.plan.outputs.runs", "needs.plann.outputs.runs"))
    done = lint(broken)
    assert done.returncode != 0 and 'property "plann" is not defined' in done.stdout


@pytest.fixture(scope="module")
def grid_workflow() -> dict:
    return yaml.safe_load((ROOT / ".github/workflows/grid.yml").read_text())


def test_the_matrix_is_params_yamls_grid(grid_workflow):
    # The plan job's command, run here: its output is the run job's matrix.
    plan = grid_workflow["jobs"]["plan"]["steps"][-1]["run"]
    command = re.search(r"\$\((.+)\)", plan).group(1)
    out = run(["bash", "-c", command], check=True).stdout  # as the job's `run:` step
    matrix = json.loads(out)
    params = load_params(ROOT / "params.yaml")
    assert matrix == runs(params) == [{"model": m, "seed": s}
                                      for m in params.models for s in params.train.seeds]
    # Each entry carries what the run job passes to scripts/grid.sh.
    run_step = grid_workflow["jobs"]["run"]["steps"][-1]["run"]
    fields = set(re.findall(r"matrix\.run\.(\w+)", run_step))
    assert run_step.startswith("scripts/grid.sh run ") and fields == {"model", "seed"}
    assert all(set(entry) == fields for entry in matrix)


def test_the_assembler_runs_even_after_a_failed_slice(grid_workflow):
    jobs = grid_workflow["jobs"]
    assert jobs["run"]["strategy"]["fail-fast"] is False
    assert "always()" in jobs["assemble"]["if"]  # it trains what a failed job left, saying so
    commands = [s.get("run", "") for s in jobs["assemble"]["steps"]]
    assert "scripts/grid.sh assemble --push" in commands
    assert any(c.startswith("scripts/results.sh") for c in commands)
