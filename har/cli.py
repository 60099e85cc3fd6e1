"""The `har` command."""

from __future__ import annotations

import argparse
import sys


def clip_gflops(model, layout: str, frames: int, crop: int) -> float:
    """Forward GFLOPs for one clip (a multiply-add counts as 2 FLOPs)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    shape = (1, 3, frames, crop, crop) if layout == "NCTHW" else (1, frames, 3, crop, crop)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.eval()(torch.zeros(shape))
    return counter.get_total_flops() / 1e9


def cmd_models(args: argparse.Namespace) -> int:
    from har.models import count_parameters, create_model, get_entry, list_models

    rows = []
    for name in list_models():
        entry = get_entry(name)
        # Models with a required input (MViT, S3D) are shown at that input instead.
        frames, crop = entry.fixed_input or (max(args.frames, entry.min_input[0]),
                                             max(args.crop, entry.min_input[1]))
        model = create_model(name, args.num_classes, frames, crop)
        total, trainable = count_parameters(model)
        flops = f"{clip_gflops(model, entry.layout, frames, crop):.1f}" if args.flops else "-"
        rows.append((name, entry.family, entry.layout, f"{frames}x{crop}", f"{total:,}",
                     f"{trainable:,}", flops, entry.source))
    header = ("name", "family", "layout", "input", "params", "trainable", "GFLOPs", "source")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for r in [header] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    print(f"\n(constructor defaults, i.e. the seed sizes; {args.num_classes} classes; "
          "GFLOPs of one forward pass per clip" + ("" if args.flops else ", with --flops") + ")")
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="har", description="Video activity recognition")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list the registered model variants")
    p.add_argument("--num-classes", type=int, default=101)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--crop", type=int, default=112)
    p.add_argument("--flops", action="store_true", help="also count GFLOPs per clip (slower)")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("preset", help="list presets, or merge one into params.yaml")
    p.add_argument("action", choices=["list", "apply"])
    p.add_argument("name", nargs="?")
    p.set_defaults(func=cmd_preset)

    p = sub.add_parser("split-mean", help="mean test accuracy over the DVC experiments of splits 1-3 "
                                          "(dvc exp run -S dataset.split=1, 2, 3)")
    p.set_defaults(func=cmd_split_mean)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "action", None) == "apply" and not args.name:
        print("har preset apply: name a preset (har preset list)", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"har: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
