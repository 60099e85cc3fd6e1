"""Stage `extract`: one frames file per video in data/frames, and data/manifest.csv."""

import shutil
from collections import Counter

from har import paths
from har.config import load_params
from har.extract import ExtractSettings, extract_all
from har.stage import run


def main() -> None:
    cfg = load_params().extract
    shutil.rmtree(paths.FRAMES, ignore_errors=True)
    settings = ExtractSettings(cfg.frames, cfg.short_side, cfg.jpeg_quality,
                               cfg.max_failed_fraction, cfg.workers)
    rows = extract_all(paths.RAW_VIDEOS, paths.FRAMES, paths.MANIFEST, settings)
    status = Counter(r["status"] for r in rows)
    print(f"extract: {status['ok']} ok, {status['failed']} failed; manifest {paths.MANIFEST}")
    for r in rows:
        if r["status"] != "ok":
            print(f"  failed: {r['source']}: {r['error']}")


if __name__ == "__main__":
    run("extract", main)
