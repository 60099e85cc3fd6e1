"""Stage `download`: the dataset's videos in data/raw/videos, its split files in data/raw/splits.

synthetic: generated. ucf101, hmdb51: archives fetched into data/archives/ (kept between
runs), verified, unpacked. folder: the user's folder, linked in, with its split drawn
and written out. See har/datasets/raw.py.
"""

import os

from har import paths
from har.config import load_params
from har.datasets.raw import prepare_raw
from har.stage import run


def main() -> None:
    ds = load_params().dataset
    lines = prepare_raw(ds, paths.ARCHIVES, paths.RAW, workers=os.cpu_count() or 1)
    for line in lines:
        print(f"download ({ds.name}): {line}")


if __name__ == "__main__":
    run("download", main)
