"""The `har` command."""

from __future__ import annotations

import argparse
import json
import sys

from har.errors import HarError


def clip_gflops(model, layout: str, frames: int, crop) -> float:
    """Forward GFLOPs for one clip of `crop` (a side, or (height, width)); a multiply-add is 2 FLOPs."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from har.input_spec import crop_hw

    h, w = crop_hw(crop)
    shape = (1, 3, frames, h, w) if layout == "NCTHW" else (1, frames, 3, h, w)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.eval()(torch.zeros(shape))
    return counter.get_total_flops() / 1e9


def input_label(frames: int, crop) -> str:
    """frames x side for a square crop (8x56), frames x height x width otherwise (29x90x120)."""
    from har.input_spec import crop_hw

    h, w = crop_hw(crop)
    return f"{frames}x{h}" if h == w else f"{frames}x{h}x{w}"


def cmd_models(args: argparse.Namespace) -> int:
    from har.models import count_parameters, create_model, get_entry, list_models

    if args.configured:
        # The models params.yaml trains, with their options and input sizes.
        from har.config import load_params

        params = load_params()
        specs = [(name, spec.arch, spec.model, params.train_config(name))
                 for name, spec in params.models.items()]
        builds = [(name, arch, options, tc.frames, tc.crop) for name, arch, options, tc in specs]
    else:
        builds = []
        for name in list_models():
            entry = get_entry(name)
            # Models with a required input (MViT, S3D) are shown at that input instead.
            frames, crop = entry.fixed_input or (max(args.frames, entry.min_input[0]),
                                                 max(args.crop, entry.min_input[1]))
            builds.append((name, name, {}, frames, crop))
    rows = []
    for name, arch, options, frames, crop in builds:
        entry = get_entry(arch)
        # pretrained: false here, so listing never needs the weight files.
        model = create_model(arch, args.num_classes, frames, crop, **{**options, **(
            {"pretrained": False} if options.get("pretrained") else {})})
        total, trainable = count_parameters(model)
        flops = f"{clip_gflops(model, entry.layout, frames, crop):.1f}" if args.flops else "-"
        rows.append((name, entry.family, entry.layout, input_label(frames, crop), f"{total:,}",
                     f"{trainable:,}", flops, entry.source))
    header = ("name", "family", "layout", "input", "params", "trainable", "GFLOPs", "source")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for r in [header] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    what = ("the models of params.yaml, as configured" if args.configured
            else "constructor defaults, i.e. the published sizes")
    print(f"\n({what}; input: frames x side, or frames x height x width; "
          f"{args.num_classes} classes; GFLOPs of one forward pass per clip"
          + ("" if args.flops else ", with --flops") + ")")
    return 0


def cmd_preset(args: argparse.Namespace) -> int:
    from har.presets import apply_preset, available

    if args.action == "list":
        print("\n".join(available()))
        return 0
    apply_preset(args.name)
    print(f"params.yaml: preset '{args.name}' applied; run `dvc repro`")
    return 0


def cmd_split_mean(args: argparse.Namespace) -> int:
    from har.split_mean import REPORT, report_split_mean

    print(report_split_mean())
    print(f"(written to {REPORT})")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    if (args.timeline or args.annotate) and len(args.videos) != 1:
        print("har predict: --timeline and --annotate take one VIDEO", file=sys.stderr)
        return 2
    if args.model.lower().endswith(".onnx"):
        return _predict(args)  # ONNX Runtime: --threads sizes its session; torch is never imported
    import torch

    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return _predict(args)
    finally:
        torch.set_num_threads(threads)  # main() may be called in-process (tests)


def _predict(args: argparse.Namespace) -> int:
    from har.predict import Predictor
    from har.video import VideoError

    predictor = Predictor(args.model, clips=args.clips, device=args.device, threads=args.threads,
                          crops=args.crops)
    if args.timeline or args.annotate:
        return _predict_over_time(predictor, args)
    failed = 0
    for video in args.videos:
        try:
            if "://" in video:
                raise VideoError(f"{video}: a stream has no end to sample up to; "
                                 "use --timeline for streams")
            prediction = predictor.predict_file(video, threads=0)
        except (HarError, OSError) as e:  # a bad input: say so, go on with the others
            # A VideoError names the file; other errors, such as a file the system cannot
            # read (OSError), may not.
            print(f"har predict: {e if str(e).startswith(video) else f'{video}: {e}'}",
                  file=sys.stderr)
            failed += 1
            continue
        topk = prediction.topk(predictor.classes, args.topk)
        if args.json:
            print(json.dumps({"video": video, "model": predictor.name, "topk": topk,
                              "frames_used": prediction.frames_used,
                              "seconds": round(prediction.seconds, 4)}), flush=True)
        else:
            width = max(len(t["class"]) for t in topk)
            print(f"{video}  ({predictor.name}, {prediction.frames_used} frames, "
                  f"{prediction.seconds:.2f} s)")
            for t in topk:
                print(f"  {t['class']:<{width}}  {t['probability']:7.2%}")
    return 2 if failed else 0


def _predict_over_time(predictor, args: argparse.Namespace) -> int:
    import csv

    from har.timeline import annotate, predict_windows
    from har.video import VideoError

    source = args.videos[0]
    if args.annotate and "://" in source:
        print(f"har predict: {source}: --annotate reads its input twice, so it needs a file",
              file=sys.stderr)
        return 2
    writer = csv.writer(sys.stdout, lineterminator="\n")
    if args.timeline and not args.json:
        writer.writerow(["start", "end", "class", "probability"])
    timeline, windows = [], 0
    try:
        for w in predict_windows(predictor, source, args.window, args.stride):
            windows += 1
            if args.annotate:
                timeline.append(w)  # a few numbers per window, not frames; files only
            if not args.timeline:
                continue
            if args.json:
                print(json.dumps({"start": round(w.start, 3), "end": round(w.end, 3),
                                  "frames": w.frames,
                                  "topk": w.topk(predictor.classes, args.topk)}))
            else:
                top = w.topk(predictor.classes, 1)[0]
                writer.writerow([f"{w.start:.3f}", f"{w.end:.3f}", top["class"],
                                 f"{top['probability']:.4f}"])
            sys.stdout.flush()  # a live stream's rows must show as they happen
        if not windows:
            raise VideoError(f"{source}: no frame could be decoded")
        if args.annotate:
            frames = annotate(predictor, source, args.annotate, timeline)
            print(f"har predict: wrote {args.annotate} ({frames} frames)", file=sys.stderr)
    except HarError as e:
        print(f"har predict: {e}", file=sys.stderr)
        return 2
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from har.onnx_export import export_onnx

    exported = export_onnx(args.checkpoint, args.out)
    print(f"har export: wrote {exported.path} ({exported.bytes / 1e6:.1f} MB; input "
          f"{'x'.join(map(str, exported.input_shape))}; ONNX Runtime matches torch within "
          f"{exported.max_difference:.1g})")
    return 0


def cmd_prune_lock(args: argparse.Namespace) -> int:
    from har.lockfile import LOCK, prune

    removed = prune()
    print(f"{LOCK}: removed {len(removed)} entries of stages dvc.yaml no longer defines"
          + (f": {', '.join(removed)}" if removed else ""))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from har.config import load_params
    from har.serve import serve

    params = load_params(args.params)
    serve(args.model, params.serve, clips=params.eval.clips, host=args.host, port=args.port,
          crops=params.eval.crops)
    return 0


def _positive(kind: type):
    def parse(text: str):
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="har", description="Video activity recognition")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list the registered model variants")
    p.add_argument("--num-classes", type=int, default=101)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--crop", type=int, default=112)
    p.add_argument("--flops", action="store_true", help="also count GFLOPs per clip (slower)")
    p.add_argument("--configured", action="store_true",
                   help="the models params.yaml trains, at their configured options and input")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("preset", help="list presets, or merge one into params.yaml")
    p.add_argument("action", choices=["list", "apply"])
    p.add_argument("name", nargs="?")
    p.set_defaults(func=cmd_preset)

    p = sub.add_parser("split-mean", help="mean test accuracy over the DVC experiments of splits 1-3 "
                                          "(dvc exp run -S dataset.split=1, 2, 3)")
    p.set_defaults(func=cmd_split_mean)

    p = sub.add_parser("predict", help="top classes of videos, or a timeline of a long video or stream",
                       description="Predict with a trained checkpoint, using exactly the "
                                   "transforms evaluation used. Exit code 2 if any input failed.")
    p.add_argument("videos", nargs="+", metavar="VIDEO",
                   help="video files; with --timeline also any URL FFmpeg opens (http://, rtsp://)")
    p.add_argument("--model", required=True,
                   help="a checkpoint, models/<model>/seed<k>/model.pt (torch), or a .onnx file from "
                        "`har export` (ONNX Runtime, without torch)")
    p.add_argument("--topk", type=_positive(int), default=5)
    p.add_argument("--clips", type=_positive(int), default=None,
                   help="clips averaged per video (default: eval.clips of ./params.yaml, else 3)")
    p.add_argument("--crops", type=int, choices=(1, 3), default=None,
                   help="spatial views per clip: 1 (the centre) or 3 (both ends and the middle of "
                        "the long side); default: eval.crops of ./params.yaml, else 1")
    p.add_argument("--json", action="store_true", help="one JSON object per video (or window)")
    p.add_argument("--timeline", action="store_true",
                   help="one prediction per window, as CSV: start,end,class,probability")
    p.add_argument("--window", type=_positive(float), default=2.0, help="seconds (default 2.0)")
    p.add_argument("--stride", type=_positive(float), default=1.0, help="seconds (default 1.0)")
    p.add_argument("--annotate", metavar="OUT",
                   help="write a copy of VIDEO with each frame's top class drawn on it "
                        "(.mp4, .mov, .mkv, .avi)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, mps; .onnx: cpu only")
    p.add_argument("--threads", type=int, default=1,
                   help="torch's or ONNX Runtime's threads (default 1; 0: one per core). One is "
                        "faster for the default models, and far faster when other processes "
                        "share the cores")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("export", help="write a checkpoint as one .onnx file, for prediction "
                                      "and serving without torch",
                       description="The model for one clip at its evaluation length, its class "
                                   "names and its preprocessing, in one ONNX file; checked on "
                                   "ONNX Runtime before it is written.")
    p.add_argument("checkpoint", metavar="MODEL.pt", help="a checkpoint, models/<model>/seed<k>/model.pt")
    p.add_argument("out", metavar="OUT.onnx")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("prune-lock", help="remove dvc.lock's entries of stages that dvc.yaml no "
                                          "longer defines (a model or seed taken out)")
    p.set_defaults(func=cmd_prune_lock)

    p = sub.add_parser("serve", help="web page and JSON API for predictions (waitress)")
    p.add_argument("--model", action="append", required=True,
                   help="a checkpoint (.pt) or a `har export` file (.onnx); repeat to offer "
                        "several, the first is the default")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--params", default="params.yaml", help="its serve, eval.clips and eval.crops settings")
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "action", None) == "apply" and not args.name:
        print("har preset apply: name a preset (har preset list)", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except HarError as e:  # bad input or params: the message names the file or key
        print(f"har: {e}", file=sys.stderr)
        return 2
    # anything else is a bug in har and keeps its traceback


if __name__ == "__main__":
    sys.exit(main())
