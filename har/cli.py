"""The `har` command."""

from __future__ import annotations

import argparse
import sys


def cmd_models(args: argparse.Namespace) -> int:
    from har.models import count_parameters, create_model, get_entry, list_models

    rows = []
    for name in list_models():
        entry = get_entry(name)
        model = create_model(name, args.num_classes, args.frames, args.crop)
        total, trainable = count_parameters(model)
        rows.append((name, entry.family, entry.layout, f"{total:,}", f"{trainable:,}", entry.source))
    header = ("name", "family", "layout", "params", "trainable", "source")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for r in [header] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    print(f"\n(parameters at the seed sizes, {args.num_classes} classes, "
          f"{args.frames} frames of {args.crop}x{args.crop})")
    return 0


def cmd_preset(args: argparse.Namespace) -> int:
    from har.presets import apply_preset, available

    if args.action == "list":
        print("\n".join(available()))
        return 0
    apply_preset(args.name)
    print(f"params.yaml: preset '{args.name}' applied; run `dvc repro`")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="har", description="Video activity recognition")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list the registered model variants")
    p.add_argument("--num-classes", type=int, default=101)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--crop", type=int, default=112)
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("preset", help="list presets, or merge one into params.yaml")
    p.add_argument("action", choices=["list", "apply"])
    p.add_argument("name", nargs="?")
    p.set_defaults(func=cmd_preset)
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
