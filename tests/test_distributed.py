"""Evaluation across processes counts every item once, though DistributedSampler pads shards."""

import json

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import Dataset, DistributedSampler

from har.distributed import SINGLE, Context, merge_shards
from har.engine import evaluate, make_loader

# Five videos, three classes; the logits are the inputs (the model is nn.Identity).
# Right: videos 0, 1 and 3. Two ranks get 3 items each: index 0 is repeated as padding,
# which would turn 3/5 into 4/6 if counted.
LOGITS = torch.tensor([[5.0, 0, 0], [0, 5, 0], [5, 0, 0], [0, 0, 5], [0, 5, 0]])
LABELS = [0, 1, 1, 2, 2]


class Items(Dataset):
    def __len__(self):
        return len(LABELS)

    def __getitem__(self, i):
        return LOGITS[i], LABELS[i], i


def test_merge_keeps_each_index_once_in_dataset_order():
    shards = []
    for rank in range(2):
        idx = torch.tensor(list(DistributedSampler(Items(), 2, rank, shuffle=True, seed=3)))
        shards.append((idx, LOGITS[idx]))
    assert sum(len(s[0]) for s in shards) == 6  # the sampler really padded
    idx, logits = merge_shards(shards)
    assert idx.tolist() == [0, 1, 2, 3, 4]
    assert torch.equal(logits, LOGITS)


def _worker(rank: int, rendezvous: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=2)
    try:
        ctx = Context(rank=rank, local_rank=rank, world_size=2)
        loader = make_loader(Items(), 2, False, 0, 0, ctx)
        metrics = evaluate(nn.Identity(), loader, torch.device("cpu"), ctx=ctx)
        with open(f"{out}.{rank}", "w") as f:
            json.dump({"shard": len(list(loader.sampler)), **metrics}, f)
    finally:
        dist.destroy_process_group()


def test_evaluate_over_two_gloo_processes_counts_every_video_once(tmp_path):
    out = tmp_path / "metrics"
    mp.spawn(_worker, args=(str(tmp_path / "rendezvous"), str(out)), nprocs=2)
    single = evaluate(nn.Identity(), make_loader(Items(), 2, False, 0, 0), torch.device("cpu"),
                      ctx=SINGLE)
    assert single["videos"] == 5 and abs(single["video_top1"] - 0.6) < 1e-6
    for rank in range(2):
        got = json.loads(out.with_name(f"metrics.{rank}").read_text())
        assert got.pop("shard") == 3  # uneven: 5 items over 2 ranks, one padded
        assert got["videos"] == got["clips"] == 5
        assert got == single  # every rank has the whole, de-duplicated result
