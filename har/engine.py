"""train_one_epoch / evaluate, in the flat style of torchvision's video reference."""

from __future__ import annotations

import contextlib
import os
import random
from fractions import Fraction

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, WeightedRandomSampler

from har import cpu_kernels
from har.distributed import SINGLE, Context, gather_predictions, sum_across
from har.errors import InputError


def seed_everything(seed: int) -> None:
    # The same bits on any x86-64 CPU: torch must run the pinned kernels (har/cpu_kernels.py).
    cpu_kernels.set_threads()
    cpu_kernels.check_isa()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    # Same params + seed on the same machine must give the same metrics.
    torch.use_deterministic_algorithms(True, warn_only=True)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False


def select_device(name: str = "auto") -> torch.device:
    if name != "auto":
        device = torch.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise InputError(f"params.yaml asks for device {name!r}, but CUDA is not available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def amp_dtype(device: torch.device, enabled: bool) -> torch.dtype | None:
    """bf16 where the GPU supports it, else fp16 (which needs a GradScaler); None: no AMP (CPU)."""
    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device, enabled: bool):
    """Mixed precision as one context manager: bf16 where supported, else fp16; off on CPU."""
    dtype = amp_dtype(device, enabled)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=dtype)


def to_channels_last(module: nn.Module) -> nn.Module:
    """Conv weights in channels-last layout (2D and 3D alike); `Module.to` handles 2D only."""
    for t in list(module.parameters()) + list(module.buffers()):
        if t.dim() in (4, 5):
            fmt = torch.channels_last if t.dim() == 4 else torch.channels_last_3d
            t.data = t.data.contiguous(memory_format=fmt)
    return module


def make_adam(parameters, lr: float, weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam over the trainable `parameters`, fused: one ATen kernel updates every tensor.

    Why fused on CPU: the unfused Adam takes its square root with torch.sqrt, which PyTorch's
    x86 wheels hand to MKL's vector math library, and MKL computes that with other code on
    an AMD CPU than on an Intel one whatever MKL_CBWR says (measured, docs/reproducibility.md,
    "Identical numbers on other CPUs"). The fused kernel uses ATen's own AVX2 square root,
    which is exact everywhere. It is also faster (about 0.8x the step time, measured).
    """
    trainable = [p for p in parameters if p.requires_grad]
    return torch.optim.Adam(trainable, lr=lr, weight_decay=weight_decay, fused=True)


def make_loader(dataset, batch_size: int, shuffle: bool, workers: int, seed: int,
                ctx: Context = SINGLE, class_balance: str = "none") -> DataLoader:
    """Under torchrun, each rank reads its DistributedSampler shard (call set_epoch each epoch).

    class_balance "sampler" (train.class_balance; training only): len(dataset) clips per
    epoch drawn with replacement, each clip weighted by 1 / its class's clip count, so that
    every class is equally likely (class_balanced_sampler). "none": the loader of before.
    """
    generator = torch.Generator().manual_seed(seed)
    if class_balance != "none":
        if ctx.enabled:
            raise InputError("train.class_balance sampler runs in one process; set train.nproc 1")
        return DataLoader(dataset, batch_size=batch_size,
                          sampler=class_balanced_sampler(dataset, generator),
                          num_workers=workers, generator=generator,
                          pin_memory=torch.cuda.is_available(), persistent_workers=workers > 0,
                          drop_last=False)
    sampler = (DistributedSampler(dataset, ctx.world_size, ctx.rank, shuffle=shuffle, seed=seed)
               if ctx.enabled else None)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle and sampler is None,
                      sampler=sampler, num_workers=workers, generator=generator,
                      pin_memory=torch.cuda.is_available(), persistent_workers=workers > 0,
                      drop_last=False)


def class_balanced_sampler(dataset, generator: torch.Generator) -> WeightedRandomSampler:
    """Clips drawn with replacement, each weighted by 1 / its class's count in `dataset` (its
    rows' "label"): every class equally likely, len(dataset) draws per epoch."""
    labels = torch.tensor([int(r["label"]) for r in dataset.rows])
    counts = torch.bincount(labels)
    weights = (1.0 / counts.double())[labels]
    return WeightedRandomSampler(weights, num_samples=len(labels), replacement=True,
                                 generator=generator)


def loader_indices(loader: DataLoader) -> torch.Tensor:
    """The dataset index of every item an unshuffled loader yields, in order."""
    if isinstance(loader.sampler, DistributedSampler):
        return torch.tensor(list(loader.sampler), dtype=torch.long)
    return torch.arange(len(loader.dataset))


def train_one_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                    device: torch.device, scaler: torch.amp.GradScaler | None = None,
                    amp: bool = False, ctx: Context = SINGLE) -> dict[str, float]:
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for clips, labels, _ in loader:
        clips, labels = clips.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        with autocast(device, amp):
            logits = model(clips)
            loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None and scaler.is_enabled():
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        total_loss += loss.item() * len(labels)
        correct += (logits.argmax(1) == labels).sum().item()
        seen += len(labels)
    # Under torchrun: over every rank's shard (a few padded repeats included, as DDP trains on them).
    total_loss, correct, seen = sum_across([total_loss, correct, seen], ctx)
    return {"loss": total_loss / seen, "acc": correct / seen}


@torch.no_grad()
def predict_clips(model: nn.Module, loader: DataLoader, device: torch.device, amp: bool = False
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(logits, labels, video index) of every clip the loader yields, in loader order."""
    model.eval()
    all_logits, all_labels, all_videos = [], [], []
    for clips, labels, videos in loader:
        with autocast(device, amp):
            logits = model(clips.to(device, non_blocking=True))
        all_logits.append(logits.float().cpu())
        all_labels.append(labels)
        all_videos.append(videos)
    return torch.cat(all_logits), torch.cat(all_labels), torch.cat(all_videos)


def clip_metrics(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    k = min(5, logits.shape[1])
    topk = logits.topk(k, dim=1).indices
    return {
        "loss": F.cross_entropy(logits, labels).item(),
        "top1": (topk[:, 0] == labels).float().mean().item(),
        "top5": (topk == labels[:, None]).any(1).float().mean().item(),
    }


def video_scores(logits: torch.Tensor, labels: torch.Tensor, videos: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Average the softmax over each video's clips: (probabilities per video, label per video)."""
    n = int(videos.max()) + 1
    probs = torch.zeros(n, logits.shape[1]).index_add_(0, videos, logits.softmax(1))
    counts = torch.zeros(n).index_add_(0, videos, torch.ones(len(videos)))
    video_labels = torch.zeros(n, dtype=torch.long).index_copy_(0, videos, labels)
    return probs / counts[:, None], video_labels


def class_counts(predicted: torch.Tensor, labels: torch.Tensor, num_classes: int
                 ) -> tuple[list[int], list[int]]:
    """(correct, total) per class, as integers: what per-class and mean class accuracy are
    computed from, exactly (mean_class_accuracy)."""
    total = torch.bincount(labels, minlength=num_classes)
    correct = torch.bincount(labels[predicted == labels], minlength=num_classes)
    return correct.tolist(), total.tolist()


def mean_class_accuracy(correct: list[int], total: list[int]) -> float:
    """The mean over classes of each class's accuracy (MMAction2's mean_class_accuracy).

    Classes with no item are left out: they have no accuracy, not a zero. Exact (rational
    arithmetic, rounded once), so with equal class counts it *is* the overall accuracy
    correct / total, bit for bit, as the float of that fraction.
    """
    rates = [Fraction(c, t) for c, t in zip(correct, total) if t > 0]
    if not rates:
        raise ValueError("mean class accuracy of no items")
    return float(sum(rates) / len(rates))


def selection_score(metrics: dict) -> tuple[Fraction, float]:
    """What model selection maximises over the epochs: (mean class accuracy, exact; -loss).

    `metrics` is evaluate's (class_correct, class_total, loss) or a best-epoch record holding
    them. Exact rational arithmetic: with equal class counts the mean class accuracy equals
    the overall accuracy correct / total, so on a balanced validation set the epoch chosen is
    the one the overall accuracy chose (same order, same ties, which still go to the lower
    loss); on an imbalanced one an all-majority epoch scores chance and never wins over one
    that tells the classes apart. A record without counts (none yet) scores below any epoch.
    """
    if "class_correct" not in metrics:
        return Fraction(-1), -float(metrics.get("val_loss", metrics.get("loss", float("inf"))))
    rates = [Fraction(c, t) for c, t in zip(metrics["class_correct"], metrics["class_total"]) if t]
    loss = metrics["loss"] if "loss" in metrics else metrics["val_loss"]
    return sum(rates) / len(rates), -loss


def evaluate(model: nn.Module, loader: DataLoader, device: torch.device, amp: bool = False,
             ctx: Context = SINGLE) -> dict:
    """Clip and video metrics; under torchrun over all ranks' predictions, each clip once.

    Beside the accuracies: per class, the clips it has and those predicted right
    (class_correct, class_total, integers), and their mean class accuracy
    (mean_class_top1), which model selection compares (har/train.py).
    """
    logits, labels, videos = predict_clips(model, loader, device, amp)
    _, logits, labels, videos = gather_predictions(loader_indices(loader), logits, labels, videos,
                                                   ctx=ctx)
    metrics = clip_metrics(logits, labels)
    probs, video_labels = video_scores(logits, labels, videos)
    metrics["video_top1"] = (probs.argmax(1) == video_labels).float().mean().item()
    metrics["clips"], metrics["videos"] = len(labels), int(videos.unique().numel())
    correct, total = class_counts(logits.argmax(1), labels, logits.shape[1])
    metrics["class_correct"], metrics["class_total"] = correct, total
    metrics["mean_class_top1"] = mean_class_accuracy(correct, total)
    return metrics
