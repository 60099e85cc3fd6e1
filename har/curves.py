"""dvclive's per-epoch curves read back (har/train.py writes them with dvclive)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def read_curve(tsv: Path) -> pd.Series:
    """A dvclive TSV (timestamp, step, value) as value by epoch (dvclive counts from 0)."""
    curve = pd.read_csv(tsv, sep="\t")
    return pd.Series(curve.iloc[:, -1].to_numpy(), index=curve["step"].to_numpy() + 1)
