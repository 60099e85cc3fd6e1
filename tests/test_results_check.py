"""har.results_check: the committed README table, reports/results.md, metrics/ and dvc.lock agree,
and a hand edit to any of them is caught with a message naming the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from har import results_check
from har.results_check import END, START, ResultsCheckError, dvc_md5, problems, update_readme

pytestmark = pytest.mark.slow  # the results check over the committed outputs, as processes

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def published(tmp_path) -> Path:
    """The files the check reads, copied from the repository as committed: the published
    results, and the stages' source files whose hashes dvc.lock records."""
    for name in ("README.md", "dvc.lock", "dvc.yaml", "params.yaml"):
        shutil.copy2(ROOT / name, tmp_path / name)
    for folder in ("metrics", "har", "stages", "videos"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "reports").mkdir()
    shutil.copy2(ROOT / "reports" / "results.md", tmp_path / "reports" / "results.md")
    return tmp_path


def test_the_committed_results_pass(published):
    # Also proves dvc_md5 computes DVC's own hashes: dvc.lock's were written by DVC,
    # including the ".dir" hash of each model's plots folder.
    assert problems(published) == []


def test_results_older_than_the_code_are_caught(published):
    # A change to a model's code without a new `dvc repro`: the committed numbers are stale.
    source = published / "har" / "models" / "cnn3d.py"
    source.write_text(source.read_text() + "\n# changed\n")
    found = problems(published)
    assert len(found) == 1 and found[0].startswith("dvc.lock: the results predate changes")
    stale = {line.split(":")[0].strip() for line in found[0].splitlines()[1:]}
    # Every stage that builds cnn3d (evaluate too: a model's forward), and the code stage...
    assert {"code", "weights@cnn3d", "features@cnn3d-0", "train@cnn3d-0", "train@cnn3d-2",
            "evaluate@cnn3d-1"} <= stale
    # ...and no other: not another family's models, not the stages that build none.
    assert not {s for s in stale if "crnn" in s or "td_scratch" in s}
    assert not stale & {"params", "download", "extract", "split", "aggregate@cnn3d", "report"}
    assert "  train@cnn3d-0: data/code/model-cnn3d.json" in found[0]


def test_results_older_than_the_params_are_caught(published):
    params = published / "params.yaml"
    params.write_text(params.read_text().replace("  lr: 0.001\n", "  lr: 0.002\n", 1))
    assert "lr: 0.002" in params.read_text()
    found = problems(published)
    assert "  train@cnn3d-0: train.lr" in found[0] and "  report: train" in found[0]
    assert "evaluate@cnn3d" not in found[0]


def test_bytecode_caches_do_not_make_results_stale(published):
    # .dvcignore leaves them out of DVC's directory hashes, and so does the check.
    cache = published / "har" / "models" / "__pycache__"
    cache.mkdir()
    (cache / "cnn3d.cpython-311.pyc").write_bytes(b"\x00" * 16)
    assert problems(published) == []


def test_a_hand_edited_readme_table_is_caught(published):
    readme = published / "README.md"
    text = readme.read_text()
    block = text[text.index(START):text.index(END)]
    row = next(line for line in block.splitlines() if line.startswith("| `cnn3d`"))
    # The published video accuracy, from the committed metrics, raised by hand.
    mean = json.loads((published / "metrics" / "cnn3d.json").read_text())["mean"]["test"]
    published_cell = f" {100 * mean['video_top1']:.1f} ± "
    assert published_cell in row  # in the video accuracy column (and mean class accuracy's)
    edited = row.replace(published_cell, " 99.9 ± ", 1)
    readme.write_text(text.replace(row, edited))
    found = problems(published)
    assert len(found) == 1
    assert found[0].startswith("README.md: its results block is not what the report code renders")
    assert "+" + edited in found[0]  # the diff shows the edited row
    # Only the README was edited: the check without it passes.
    assert problems(published, readme=False) == []


def test_update_readme_restores_the_rendered_block(published):
    readme = published / "README.md"
    original = readme.read_text()
    before, block, after = results_check.split_readme(original)
    assert "| `crnn` " in block
    readme.write_text(f"{before}{START}\n{block.replace('| `crnn` ', '| `crnn (best)` ', 1)}{END}{after}")
    assert problems(published) != []
    assert update_readme(published) is True
    assert readme.read_text() == original
    assert update_readme(published) is False  # nothing left to change


def test_a_hand_edited_metrics_file_is_caught(published):
    path = published / "metrics" / "frame_avg.json"
    m = json.loads(path.read_text())
    m["mean"]["test"]["video_top1"] = 0.9
    path.write_text(json.dumps(m, indent=2))
    found = problems(published)
    assert found[0].startswith("metrics/frame_avg.json: differs from what the pipeline wrote")
    # The table rendered from the edited file no longer matches the committed ones either.
    assert any(p.startswith("reports/results.md: not what the report code renders") for p in found)
    assert any(p.startswith("README.md:") for p in found)


def test_a_hand_edited_curve_is_caught(published):
    csv = published / "metrics/curves/crnn.csv"
    csv.write_text(csv.read_text() + "99,1,1,1,1,1,1,1,1\n")
    assert [p.split(":")[0] for p in problems(published)] == ["metrics/curves/crnn.csv"]


def test_a_hand_edited_results_md_is_caught(published):
    path = published / "reports" / "results.md"
    path.write_text(path.read_text().replace("official split 1", "official split 2"))
    found = problems(published)
    assert [p.split(":")[0] for p in found] == ["reports/results.md", "reports/results.md"]
    assert "differs from what the pipeline wrote" in found[0]  # dvc.lock's hash
    assert "-Accuracies on the test set of the built-in dataset, official split 1" in found[1]


def test_missing_outputs_are_named(published):
    (published / "metrics" / "td_scratch_gru.json").unlink()
    with pytest.raises(FileNotFoundError,
                       match="metrics/td_scratch_gru.json: no metrics for model 'td_scratch_gru'"):
        problems(published)
    assert ("metrics/td_scratch_gru.json: missing, but dvc.lock records it"
            in results_check.lock_problems(published)[0])


def test_lock_entries_of_models_no_longer_trained_are_caught_and_pruned(published, monkeypatch):
    # DVC leaves a removed model's or seed's stages in dvc.lock: the check names them, and
    # `har prune-lock` removes them and nothing else, byte for byte.
    from har.lockfile import prune

    lock_path = published / "dvc.lock"
    committed = lock_path.read_text()
    lock = yaml.safe_load(committed)
    lock["stages"]["aggregate@gone"] = {"cmd": "python stages/aggregate.py gone", "outs": [
        {"path": "metrics/gone.json", "hash": "md5", "md5": "0" * 32, "size": 1}]}
    lock["stages"]["evaluate@cnn3d-99"] = {"cmd": "python stages/evaluate.py cnn3d 99", "outs": [
        {"path": "models/cnn3d/seed99/test.json", "hash": "md5", "md5": "0" * 32, "size": 1}]}
    lock_path.write_text(yaml.safe_dump(lock, sort_keys=False))
    found = problems(published)
    assert found == ["dvc.lock: holds 2 entries of stages that dvc.yaml no longer defines "
                     "(aggregate@gone, evaluate@cnn3d-99); run `har prune-lock`"]
    # As DVC leaves it: an entry among the others (`stages` is dvc.lock's last mapping).
    lock_path.write_text(committed + "  aggregate@gone:\n    cmd: python stages/aggregate.py gone\n")
    assert yaml.safe_load(lock_path.read_text())["stages"]["aggregate@gone"]
    assert prune(published) == ["aggregate@gone"]
    assert lock_path.read_text() == committed and problems(published) == []


@pytest.mark.parametrize("text", ["no markers at all\n", f"{START}\n{END}\n{START}\n{END}\n",
                                  f"{END}\n{START}\n"])
def test_a_readme_needs_exactly_one_results_block(tmp_path, text):
    with pytest.raises(ResultsCheckError, match="README.md: needs exactly one results block"):
        results_check.split_readme(text)


def test_dvc_md5_of_a_directory_depends_on_names_and_contents(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.tsv").write_text("1\n")
    (tmp_path / "d" / "sub" / "b.tsv").write_text("2\n")
    before = dvc_md5(tmp_path / "d")
    assert before.endswith(".dir")
    (tmp_path / "d" / "sub" / "b.tsv").rename(tmp_path / "d" / "sub" / "c.tsv")
    renamed = dvc_md5(tmp_path / "d")
    assert renamed != before
    (tmp_path / "d" / "a.tsv").write_text("3\n")
    assert dvc_md5(tmp_path / "d") not in (before, renamed)


def test_rerun_numbers_must_equal_the_expected_ones_bit_for_bit(tmp_path):
    """scripts/results.sh's step 3 (--expected): the committed numbers are the oracle."""
    models = list(yaml.safe_load((ROOT / "params.yaml").read_text())["models"])
    for m in models:
        shutil.copy2(ROOT / "metrics" / f"{m}.json", tmp_path / f"{m}.json")
    assert results_check.number_differences(ROOT / "metrics", tmp_path, models) == []
    edited = json.loads((tmp_path / "crnn.json").read_text())
    seed = sorted(edited["per_seed"])[-1]
    edited["per_seed"][seed]["test"]["video_top1"] += 1e-6  # one video's worth is far more
    (tmp_path / "crnn.json").write_text(json.dumps(edited))
    found = results_check.number_differences(ROOT / "metrics", tmp_path, models)
    assert len(found) == 1 and found[0].startswith(f"crnn, seed {seed}: test.video_top1 is ")
