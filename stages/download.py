"""Stage `download`: put the dataset's videos in data/raw/videos and split files in data/raw/splits.

With dataset.name = synthetic (the default) the dataset is generated, not downloaded.
"""

import os
import shutil

from har import paths, synthetic
from har.config import load_params
from har.stage import run


def main() -> None:
    params = load_params()
    ds = params.dataset
    # Start clean: a stale video from an earlier run must not leak into this one.
    shutil.rmtree(paths.RAW, ignore_errors=True)
    n = synthetic.generate(paths.RAW, ds.synthetic, seed=ds.seed, workers=os.cpu_count() or 1)
    print(f"download: generated {n} synthetic videos in {paths.RAW_VIDEOS}")


if __name__ == "__main__":
    run("download", main)
