"""Stage `features@<model>-<seed>`: cache a fully frozen encoder's outputs for one seed of
train.seeds, in data/features/<model>/seed<k>/.

Only models whose per-frame encoder has no trainable weight are cached (e.g.
resnet_crnn with freeze: backbone); for the others, and with train.feature_cache
off, the folder holds only info.json saying why nothing was cached.

One stage per seed, so that adding a seed runs only that seed's stages: a random
(unpretrained) frozen encoder differs per seed. A pretrained one is the same for every seed,
and so is its cache, which DVC's cache then stores once.
"""

from har import paths
from har.config import load_params
from har.data import Preprocessing
from har.engine import seed_everything, select_device
from har.features import write_cache, write_not_cached
from har.fileio import read_csv
from har.models import create_model
from har.models.features import frozen_encoder
from har.stage import model_seed_args, run


def main(model_name: str, seed: int) -> None:
    params = load_params()
    spec = params.model(model_name)
    cfg = params.train_config(model_name)
    dest = paths.features_dir(model_name, seed)
    run_name = paths.run_name(model_name, seed)
    if not cfg.feature_cache:
        write_not_cached(dest, "train.feature_cache is false")
        print(f"features {run_name}: off (train.feature_cache: false)")
        return
    # Exactly as the train stage builds it, so a random (unpretrained) encoder is the same too.
    seed_everything(seed)
    prep = Preprocessing.for_model(params, model_name)
    classes = (paths.SPLITS / "classes.txt").read_text().splitlines()
    model = create_model(spec.arch, len(classes), prep.frames, prep.crop, **spec.model)
    encoder = frozen_encoder(model)
    if encoder is None:
        write_not_cached(dest, f"{spec.arch} with these options has no fully frozen per-frame "
                               "encoder")
        print(f"features {run_name}: nothing to cache (the encoder trains)")
        return
    device = select_device(cfg.device)
    splits = {name: read_csv(paths.SPLITS / f"{name}.csv") for name in ("train", "val")}
    write_cache(dest, encoder.to(device), splits, paths.FRAMES, prep, device)
    print(f"features {run_name}: cached {sum(map(len, splits.values()))} videos in {dest}")


if __name__ == "__main__":
    model, seed = model_seed_args("features")
    run(f"features {paths.run_name(model, seed)}", main, model, seed)
