"""Stage `evaluate@<model>-<seed>`: one run's test-set metrics in metrics/<model>/seed<k>.json
and its per-video predictions (the aggregate stage summarises the seeds).

Clip level: every clip (every view of it, with eval.crops 3) on its own. Video level: the
softmax averaged over eval.clips clips x eval.crops spatial crops per video, which is what
the literature reports for UCF101 (1 crop: the centre; 3: the field's "3-crop" testing).
"""


import har  # noqa: F401  first: pins the CPU kernels before torch loads (har/cpu_kernels.py)
import torch

from har import paths
from har.checkpoint import load_model
from har.config import load_params
from har.data import ClipDataset, Preprocessing
from har.engine import (class_counts, clip_metrics, make_loader, mean_class_accuracy, predict_clips,
                        seed_everything, select_device, video_scores)
from har.fileio import read_csv, write_csv, write_json
from har.stage import model_seed_args, run


def main(model_name: str, seed: int) -> None:
    params = load_params()
    cfg = params.train_config(model_name)
    seed_everything(seed)
    device = select_device(cfg.device)
    model, prep, ckpt = load_model(paths.checkpoint(model_name, seed), device)
    classes = ckpt["class_names"]

    rows = read_csv(paths.SPLITS / "test.csv")
    test_set = ClipDataset(rows, paths.FRAMES, prep, train=False, num_clips=params.eval.clips,
                           num_crops=params.eval.crops)
    loader = make_loader(test_set, params.eval.batch_size, False, cfg.workers, seed)
    logits, labels, videos = predict_clips(model, loader, device, cfg.amp)
    clip = clip_metrics(logits, labels)
    probs, video_labels = video_scores(logits, labels, videos)
    predicted = probs.argmax(1)
    per_class = {}
    for i, name in enumerate(classes):
        mask = video_labels == i
        if mask.any():  # a class absent from test has no accuracy, not a zero
            per_class[name] = round((predicted[mask] == i).float().mean().item(), 6)
    correct, total = class_counts(predicted, video_labels, len(classes))

    metrics = {
        "seed": seed,
        "input": input_record(prep),
        # The test protocol: the softmax of clips x crops views averaged per video.
        "protocol": {"clips": params.eval.clips, "crops": params.eval.crops},
        "test": {
            "clip_top1": clip["top1"],
            "clip_top5": clip["top5"],
            "video_top1": (predicted == video_labels).float().mean().item(),
            # The mean of the per-class video accuracies (classes present in test), exact:
            # on an imbalanced test set it shows a class the model never gets right.
            "video_mean_class_top1": mean_class_accuracy(correct, total),
            "loss": clip["loss"],
            "clips": len(labels),
            "videos": len(video_labels),
        },
        "per_class_video_top1": per_class,
        "train": {
            "best_epoch": ckpt["best_epoch"],
            "epochs": ckpt["epochs"],
            "train_top1": ckpt["train_top1"],
            "val_top1": ckpt["val_top1"],
        },
        "params": {"total": ckpt["params_total"], "trainable": ckpt["params_trainable"]},
    }
    write_json(paths.seed_metrics_file(model_name, seed), metrics)
    write_csv(paths.seed_confusion_file(model_name, seed), ["video", "actual", "predicted"],
              [{"video": r["id"], "actual": classes[a], "predicted": classes[p]}
               for r, a, p in zip(rows, video_labels.tolist(), predicted.tolist())])
    print(f"evaluate {paths.run_name(model_name, seed)}: clip top-1 {clip['top1']:.3f}, top-5 {clip['top5']:.3f}, "
          f"video top-1 {metrics['test']['video_top1']:.3f}, mean class "
          f"{metrics['test']['video_mean_class_top1']:.3f} on {len(rows)} test videos")


def input_record(prep: Preprocessing) -> dict:
    """The clips the model trained on (frames) and was tested on (eval_frames), and their size.

    Numbers only, so `dvc metrics diff` compares them; har.report prints them as one cell.
    """
    height, width = prep.crop_hw
    return {"frames": prep.frames, "eval_frames": prep.clip_frames(train=False),
            "height": height, "width": width}


if __name__ == "__main__":
    model, seed = model_seed_args("evaluate")
    torch.set_grad_enabled(False)
    run(f"evaluate {paths.run_name(model, seed)}", main, model, seed)
