"""The model x seed grid of params.yaml, for running slices of it on many machines.

    python -m har.grid            # one `model seed` line per run
    python -m har.grid --json     # [{"model": ..., "seed": ...}, ...]: a CI matrix

scripts/grid.sh runs slices of it and assembles them (docs/scaling.md, "The grid on many
machines"); the GitHub workflow .github/workflows/grid.yml takes its matrix from here, so
the grid is written once, in params.yaml.
"""

from __future__ import annotations

import argparse
import json
import sys

from har.config import load_params


def runs(params) -> list[dict]:
    """Every (model, seed) of params.yaml, in its order: train@<model>-<seed> and evaluate@..."""
    return [{"model": model, "seed": seed}
            for model in params.models for seed in params.train.seeds]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m har.grid", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="a JSON list, for a CI matrix")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    grid = runs(load_params(args.params))
    if args.json:
        print(json.dumps(grid, separators=(",", ":")))
    else:
        print("\n".join(f"{r['model']} {r['seed']}" for r in grid))
    return 0


if __name__ == "__main__":
    sys.exit(main())
