"""Stage `features@<model>`: cache a fully frozen encoder's outputs, per seed of train.seeds, in
data/features/<model>/seed<k>/.

Only models whose per-frame encoder has no trainable weight are cached (e.g.
resnet_crnn with freeze: backbone); for the others, and with train.feature_cache
off, each seed's folder holds only info.json saying why nothing was cached.

A pretrained encoder is the same for every seed: its cache is computed once and hard-linked
into the other seeds' folders. A random (unpretrained) frozen encoder differs per seed.
"""

import shutil

from har import paths
from har.config import load_params
from har.data import Preprocessing
from har.engine import seed_everything, select_device
from har.features import fingerprint, write_cache, write_not_cached
from har.fileio import read_csv
from har.models import create_model
from har.models.features import frozen_encoder
from har.stage import model_arg, run


def main(model_name: str) -> None:
    params = load_params()
    spec = params.model(model_name)
    cfg = params.train_config(model_name)
    root = paths.FEATURES / model_name
    shutil.rmtree(root, ignore_errors=True)  # never mix files of two configurations
    cached_by = {}  # encoder fingerprint -> the seed folder that holds its cache
    for seed in cfg.seeds:
        dest = paths.features_dir(model_name, seed)
        if not cfg.feature_cache:
            write_not_cached(dest, "train.feature_cache is false")
            continue
        # Exactly as the train stage builds it, so a random (unpretrained) encoder is the same too.
        seed_everything(seed)
        prep = Preprocessing.for_model(params, model_name)
        classes = (paths.SPLITS / "classes.txt").read_text().splitlines()
        model = create_model(spec.arch, len(classes), prep.frames, prep.crop, **spec.model)
        encoder = frozen_encoder(model)
        if encoder is None:
            write_not_cached(dest, f"{spec.arch} with these options has no fully frozen "
                                   "per-frame encoder")
            continue
        key = fingerprint(encoder)
        if key in cached_by:
            dest.mkdir(parents=True)
            for f in cached_by[key].iterdir():
                (dest / f.name).hardlink_to(f)  # the same encoder: the same cache, stored once
            print(f"features {paths.run_name(model_name, seed)}: the encoder of {cached_by[key]}")
            continue
        device = select_device(cfg.device)
        splits = {name: read_csv(paths.SPLITS / f"{name}.csv") for name in ("train", "val")}
        write_cache(dest, encoder.to(device), splits, paths.FRAMES, prep, device)
        cached_by[key] = dest
        print(f"features {paths.run_name(model_name, seed)}: cached "
              f"{sum(map(len, splits.values()))} videos in {dest}")
    if not cached_by:
        reason = "off (train.feature_cache: false)" if not cfg.feature_cache else \
            "nothing to cache (the encoder trains)"
        print(f"features {model_name}: {reason}")


if __name__ == "__main__":
    model = model_arg("features")
    run(f"features {model}", main, model)
