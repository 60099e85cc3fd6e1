"""A checkpoint file is a pure function of its contents: the same dict saved twice, under any
names, gives the same bytes (so the same md5 in dvc.lock on every machine and every re-run)."""

import hashlib
import zipfile

import torch

from har.checkpoint import DIGEST_KEY, save_checkpoint


def test_the_same_checkpoint_saved_twice_has_the_same_bytes(tmp_path):
    checkpoint = {"state_dict": {"w": torch.arange(6.0).reshape(2, 3)}, "best_epoch": 3}
    first, second = tmp_path / "a" / "model.pt", tmp_path / "b" / "other-name.pt"
    save_checkpoint(checkpoint, first)
    save_checkpoint(checkpoint, second)
    assert hashlib.md5(first.read_bytes()).digest() == hashlib.md5(second.read_bytes()).digest()
    # torch names the zip's top folder after the file it writes to: never the random
    # temporary name of the atomic write.
    assert {name.split("/")[0] for name in zipfile.ZipFile(first).namelist()} == {"archive"}
    loaded = torch.load(first, weights_only=True)
    assert torch.equal(loaded["state_dict"]["w"], checkpoint["state_dict"]["w"])
    assert loaded[DIGEST_KEY] and not list(tmp_path.rglob("*.tmp*"))
