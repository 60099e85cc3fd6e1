"""Stage `train@<model>`: train one model variant, pick its best epoch on validation.

Writes models/<model>/model.pt (a plain dict: weights, model config, class names,
preprocessing, training summary) and per-epoch curves with dvclive. A model whose
encoder is fully frozen trains its head on the features stage's cache.
"""

import copy
import time

import torch
from dvclive import Live

from har import paths
from har.config import load_params
from har.data import ClipDataset, Preprocessing
from har.engine import evaluate, make_loader, seed_everything, select_device, train_one_epoch
from har.features import FeatureClipDataset, load_cache
from har.fileio import atomic_path, read_csv
from har.models import count_parameters, create_model
from har.models.features import FeatureHead, frozen_encoder
from har.stage import model_arg, run


def main(model_name: str) -> None:
    params = load_params()
    spec = params.model(model_name)
    cfg = params.train_config(model_name)
    seed_everything(cfg.seed)
    device = select_device(cfg.device)

    classes = (paths.SPLITS / "classes.txt").read_text().split()
    prep = Preprocessing.for_model(params, model_name)
    # Built right after seeding, as the features stage builds it: same random encoder.
    model = create_model(spec.arch, len(classes), cfg.frames, cfg.crop, **spec.model)
    rows = {name: read_csv(paths.SPLITS / f"{name}.csv") for name in ("train", "val")}
    encoder = frozen_encoder(model) if cfg.feature_cache else None
    if encoder is not None:
        cache = {name: load_cache(paths.features_dir(model_name), name, r, encoder, prep)
                 for name, r in rows.items()}
        train_set = FeatureClipDataset(rows["train"], cache["train"], prep, train=True)
        val_set = FeatureClipDataset(rows["val"], cache["val"], prep, train=False)
        trained = FeatureHead(model)  # the same parameters, fed cached features
    else:
        train_set = ClipDataset(rows["train"], paths.FRAMES, prep, train=True)
        val_set = ClipDataset(rows["val"], paths.FRAMES, prep, train=False)
        trained = model
    train_loader = make_loader(train_set, cfg.batch_size, True, cfg.workers, cfg.seed)
    val_loader = make_loader(val_set, cfg.batch_size, False, cfg.workers, cfg.seed)
    model.to(device)

    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                                 weight_decay=cfg.weight_decay)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, cfg.epochs)
                 if cfg.lr_schedule == "cosine" else None)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.amp and device.type == "cuda")
    total, trainable = count_parameters(model)
    print(f"train {model_name}: {spec.arch}, {total:,} params ({trainable:,} trainable), "
          f"{len(train_set)} train / {len(val_set)} val clips on {device}"
          f"{', frozen encoder from the feature cache' if encoder is not None else ''}")

    best = {"epoch": -1, "val_top1": -1.0, "val_loss": float("inf")}
    best_state = None
    history = []
    start = time.perf_counter()
    # dvcyaml=False / save_dvc_exp=False: dvclive must not rewrite dvc.yaml or make experiments.
    with Live(str(paths.live_dir(model_name)), dvcyaml=False, save_dvc_exp=False) as live:
        for epoch in range(1, cfg.epochs + 1):
            tr = train_one_epoch(trained, train_loader, optimizer, device, scaler, cfg.amp)
            va = evaluate(trained, val_loader, device, cfg.amp)
            if scheduler is not None:
                scheduler.step()
            history.append({"epoch": epoch, "train_loss": tr["loss"], "train_top1": tr["acc"],
                            "val_loss": va["loss"], "val_top1": va["top1"]})
            for key, value in history[-1].items():
                if key != "epoch":
                    live.log_metric(key.replace("_", "/", 1), value)
            live.next_step()
            # Model selection on validation only; ties go to the lower validation loss.
            if (va["top1"], -va["loss"]) > (best["val_top1"], -best["val_loss"]):
                best = {"epoch": epoch, "val_top1": va["top1"], "val_loss": va["loss"],
                        "train_top1": tr["acc"], "train_loss": tr["loss"]}
                best_state = copy.deepcopy(model.state_dict())
            print(f"  epoch {epoch:3d}  train loss {tr['loss']:.4f} acc {tr['acc']:.3f}  "
                  f"val loss {va['loss']:.4f} acc {va['top1']:.3f}"
                  f"{'  *' if best['epoch'] == epoch else ''}", flush=True)
    seconds = time.perf_counter() - start

    checkpoint = {
        "model_name": model_name,
        "arch": spec.arch,
        "model_config": dict(spec.model),
        "num_classes": len(classes),
        "class_names": classes,
        "preprocessing": prep.to_dict(),
        "state_dict": {k: v.cpu() for k, v in best_state.items()},
        "best_epoch": best["epoch"],
        "val_top1": best["val_top1"],
        "val_loss": best["val_loss"],
        "train_top1": best["train_top1"],
        "train_loss": best["train_loss"],
        "train_seconds": seconds,
        "epochs": cfg.epochs,
        "params_total": total,
        "params_trainable": trainable,
        "history": history,
        "feature_cache": encoder is not None,
    }
    with atomic_path(paths.checkpoint(model_name)) as tmp:
        torch.save(checkpoint, tmp)
    print(f"train {model_name}: best epoch {best['epoch']} (val acc {best['val_top1']:.3f}), "
          f"{seconds:.0f}s -> {paths.checkpoint(model_name)}")


if __name__ == "__main__":
    model = model_arg("train")
    run(f"train {model}", main, model)
