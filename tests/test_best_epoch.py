"""stages/train.py keeps the weights of the best validation epoch, ties going to the lower
validation loss, and a resumed run keeps the best epoch of the run it continues.

Epochs are scripted (tests/scripted_training.py): every weight of epoch k equals k, so the
saved state dict names the epoch it came from."""

import pytest
import torch

from scripted_training import MODEL_FILE, Script, project, run

# (val top1, val loss) per epoch. Epoch 3 ties epoch 2 on accuracy with a lower loss; epoch 5
# ties both with a loss between theirs; epoch 4 has the lowest loss of all but less accuracy;
# epoch 6 equals epoch 3 exactly, and the earlier one stays.
VAL = [(0.50, 1.00), (0.75, 0.90), (0.75, 0.80), (0.60, 0.70), (0.75, 0.85), (0.75, 0.80)]
BEST = 3


def weights_epoch(state_dict: dict) -> set[float]:
    """The epoch numbers the saved weights carry (BatchNorm's running statistics aside)."""
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    return {float(v) for k, t in state_dict.items() if not k.endswith(buffers) for v in t.unique()}


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(project(tmp_path, epochs=len(VAL)))
    return tmp_path


def saved(work) -> dict:
    return torch.load(work / MODEL_FILE, weights_only=True)


def test_the_best_validation_epoch_is_kept_not_the_last(work):
    script = Script(VAL)
    run(script)
    assert script.trained == [1, 2, 3, 4, 5, 6]
    ckpt = saved(work)
    assert weights_epoch(ckpt["state_dict"]) == {float(BEST)}
    assert (ckpt["best_epoch"], ckpt["val_top1"], ckpt["val_loss"]) == (BEST, *VAL[BEST - 1])
    # The summary is that epoch's too, not the last one's.
    assert (ckpt["train_top1"], ckpt["train_loss"]) == (BEST / 100, 10.0 - BEST)
    assert [h["val_top1"] for h in ckpt["history"]] == [v for v, _ in VAL]


def test_a_resumed_run_keeps_the_best_epoch_of_the_run_it_continues(work, capsys):
    run(Script(VAL), stop_after=BEST)  # killed right after the best epoch's checkpoint
    assert not (work / MODEL_FILE).exists()
    capsys.readouterr()
    script = Script(VAL, first_epoch=BEST + 1)
    run(script)
    assert f"resuming after epoch {BEST}" in capsys.readouterr().out
    assert script.trained == [4, 5, 6]  # the best epoch's weights exist only in the checkpoint
    ckpt = saved(work)
    assert weights_epoch(ckpt["state_dict"]) == {float(BEST)} and ckpt["best_epoch"] == BEST
    assert [h["epoch"] for h in ckpt["history"]] == [1, 2, 3, 4, 5, 6]
