"""The train stage's training: one model variant, one seed of train.seeds, its best epoch
chosen on validation (stages/train.py is its command line).

Writes models/<model>/seed<k>/model.pt (har/checkpoint.py's write_checkpoint: weights, model
config, class names, preprocessing, training summary) and per-epoch curves with dvclive, both
pure functions of the stage's inputs; the training time goes to
timings/<model>/seed<k>-train.json alone. A model whose encoder is fully frozen trains its head
on the features stage's cache.

Resumable: each epoch ends with a checkpoint in checkpoints/<model>/seed<k>/ (har/resume.py).
Distributed: under torchrun, or with train.nproc > 1 (har/distributed.py).
"""

from __future__ import annotations

import time

import torch
from dvclive import Live
from torch.nn.parallel import DistributedDataParallel

from har import distributed, paths, resume
from har.checkpoint import write_checkpoint
from har.config import Params
from har.data import ClipDataset, Preprocessing
from har.distributed import relaunch_under_torchrun
from har.engine import (amp_dtype, evaluate, make_adam, make_loader, seed_everything,
                        select_device, selection_score, to_channels_last, train_one_epoch)
from har.features import FeatureClipDataset, load_cache
from har.fileio import read_csv, write_json
from har.frames import FrameCache
from har.models import count_parameters, create_model
from har.models.features import FeatureHead, frozen_encoder


def run_seed(params: Params, model_name: str, seed: int) -> None:
    """The train stage for one (model, seed): seeded, under torchrun when train.nproc > 1."""
    cfg = params.train_config(model_name)
    relaunch_under_torchrun(cfg.nproc)  # returns at once for nproc 1 or when torchrun started us
    seed_everything(seed)
    ctx, device = distributed.init(select_device(cfg.device))
    try:
        train(params, model_name, seed, ctx, device)
    finally:
        distributed.shutdown(ctx)


def train(params, model_name: str, seed: int, ctx: distributed.Context,
          device: torch.device) -> None:
    spec = params.model(model_name)
    run_name = paths.run_name(model_name, seed)
    cfg = params.train_config(model_name)
    say = print if ctx.main else (lambda *a, **k: None)  # one log, not one per rank

    classes = (paths.SPLITS / "classes.txt").read_text().splitlines()
    prep = Preprocessing.for_model(params, model_name)
    # Built right after seeding, as the features stage builds it: same random encoder.
    model = create_model(spec.arch, len(classes), prep.frames, prep.crop, **spec.model)
    rows = {name: read_csv(paths.SPLITS / f"{name}.csv") for name in ("train", "val")}
    encoder = frozen_encoder(model) if cfg.feature_cache else None
    if encoder is not None:
        cache = {name: load_cache(paths.features_dir(model_name, seed), name, r, encoder, prep)
                 for name, r in rows.items()}
        train_set = FeatureClipDataset(rows["train"], cache["train"], prep, train=True)
        val_set = FeatureClipDataset(rows["val"], cache["val"], prep, train=False)
        trained = FeatureHead(model)  # the same parameters, fed cached features
        spatial = [k for k in ("hflip", "zoom", "rotation", "shift") if getattr(cfg, k)]
        if spatial:  # the cache holds centre crops: say so rather than drop them quietly
            say(f"train {run_name}: note: training on cached features applies no spatial "
                f"augmentation ({', '.join(spatial)} ignored; set train.feature_cache: false "
                f"to keep it, at the cost of running the encoder every epoch)")
    else:
        frame_cache = FrameCache(cfg.frame_cache_mb)  # one budget for both sets
        train_set = ClipDataset(rows["train"], paths.FRAMES, prep, train=True,
                                frame_cache=frame_cache)
        val_set = ClipDataset(rows["val"], paths.FRAMES, prep, train=False, frame_cache=frame_cache)
        trained = model
    train_loader = make_loader(train_set, cfg.batch_size, True, cfg.workers, seed, ctx,
                               class_balance=cfg.class_balance)
    val_loader = make_loader(val_set, cfg.batch_size, False, cfg.workers, seed, ctx)
    model.to(device)
    cuda = device.type == "cuda"
    if cfg.channels_last and cuda:
        to_channels_last(model)
    runner = (DistributedDataParallel(trained, device_ids=[device] if cuda else None)
              if ctx.enabled else trained)
    if cfg.compile and cuda:
        runner = torch.compile(runner)

    optimizer = make_adam(model.parameters(), cfg.lr, cfg.weight_decay)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, cfg.epochs)
                 if cfg.lr_schedule == "cosine" else None)
    # bf16 needs no loss scaling; fp16 (GPUs without bf16) does.
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype(device, cfg.amp) == torch.float16)
    total, trainable = count_parameters(model)
    say(f"train {run_name}: {spec.arch}, {total:,} params ({trainable:,} trainable), "
        f"{len(train_set)} train / {len(val_set)} val clips on {device}"
        f"{f' x {ctx.world_size} processes' if ctx.enabled else ''}"
        f"{', frozen encoder from the feature cache' if encoder is not None else ''}")

    generators = [train_loader.generator, val_loader.generator]
    fingerprint = resume.fingerprint(params, model_name, seed, ctx.world_size,
                                     paths.features_dir(model_name, seed) / "info.json", paths.FRAMES)
    state = resume.load(run_name, fingerprint, say)
    best = {"epoch": -1, "val_top1": -1.0, "val_loss": float("inf")}
    best_state, history, val_videos, first, seconds = None, [], 0, 1, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        best, best_state, history = state["best"], state["best_state"], state["history"]
        val_videos, first, seconds = state["val_videos"], state["epoch"] + 1, state["seconds"]
        # Last, so nothing above draws from the restored streams.
        resume.set_rng_state(state["rng"][ctx.rank], generators)

    live = None
    if ctx.main:
        # dvcyaml=False / save_dvc_exp=False: dvclive must not rewrite dvc.yaml or make experiments.
        # Not resume=True: DVC deletes the curves before rerunning the stage, and a kill between
        # two log_metric calls would leave half a step. Starting clean and replaying the
        # checkpoint's history gives exactly one step per epoch.
        live = Live(str(paths.live_dir(model_name, seed)), dvcyaml=False, save_dvc_exp=False)
        for row in history:
            log_epoch(live, row)
    start = time.perf_counter() - seconds
    for epoch in range(first, cfg.epochs + 1):
        if ctx.enabled:
            train_loader.sampler.set_epoch(epoch)  # a different shuffle each epoch, alike on all ranks
        tr = train_one_epoch(runner, train_loader, optimizer, device, scaler, cfg.amp, ctx)
        va = evaluate(trained, val_loader, device, cfg.amp, ctx)
        if scheduler is not None:
            scheduler.step()
        history.append({"epoch": epoch, "train_loss": tr["loss"], "train_top1": tr["acc"],
                        "val_loss": va["loss"], "val_top1": va["top1"],
                        "val_mean_class_top1": va["mean_class_top1"]})  # what selection reads
        val_videos = va["videos"]
        # Model selection on validation only, by mean class accuracy (exact, so on a balanced
        # validation set the same choice as by accuracy); ties go to the lower validation loss.
        if selection_score(va) > selection_score(best):
            best = {"epoch": epoch, "val_top1": va["top1"], "val_loss": va["loss"],
                    "train_top1": tr["acc"], "train_loss": tr["loss"],
                    "class_correct": va["class_correct"], "class_total": va["class_total"]}
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        rng = distributed.all_gather(resume.rng_state(generators), ctx)  # every rank's streams
        if ctx.main:
            log_epoch(live, history[-1])
            resume.save(run_name, {
                "fingerprint": fingerprint, "epoch": epoch, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "scaler": scaler.state_dict(), "rng": rng, "best": best, "best_state": best_state,
                "history": history, "val_videos": val_videos,
                "seconds": time.perf_counter() - start})
        say(f"  epoch {epoch:3d}  train loss {tr['loss']:.4f} acc {tr['acc']:.3f}  "
            f"val loss {va['loss']:.4f} acc {va['top1']:.3f}"
            f"{'  *' if best['epoch'] == epoch else ''}", flush=True)
    seconds = time.perf_counter() - start
    if not ctx.main:
        return
    live.end()

    write_checkpoint(  # with a digest of its weights
        paths.checkpoint(model_name, seed), model_name=model_name, seed=seed, arch=spec.arch,
        model_config=spec.model, class_names=classes, preprocessing=prep, weights=best_state,
        summary={
            "best_epoch": best["epoch"],
            "val_top1": best["val_top1"],
            "val_loss": best["val_loss"],
            "train_top1": best["train_top1"],
            "train_loss": best["train_loss"],
            "epochs": cfg.epochs,
            "params_total": total,
            "params_trainable": trainable,
            "history": history,
            "feature_cache": encoder is not None,
            "processes": ctx.world_size,
            "val_videos": val_videos,  # each counted once across processes
        })
    # Not in the checkpoint: every output is a pure function of the stage's inputs, so that
    # two machines' runs give the same file (and dvc.lock). The time goes to a file of its own
    # that no stage reads and DVC does not track (paths.train_timing_file).
    write_json(paths.train_timing_file(model_name, seed),
               {"model": model_name, "seed": seed, "seconds": round(seconds, 1),
                "device": str(device), "processes": ctx.world_size})
    resume.remove(run_name)  # done: a rerun (dvc repro -f) trains from the start
    say(f"train {run_name}: best epoch {best['epoch']} (val acc {best['val_top1']:.3f}), "
        f"{seconds:.0f}s -> {paths.checkpoint(model_name, seed)}")


def log_epoch(live: Live, row: dict) -> None:
    for key, value in row.items():
        if key != "epoch":
            live.log_metric(key.replace("_", "/", 1), value)
    live.next_step()
