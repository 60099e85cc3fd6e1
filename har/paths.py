"""Where each stage reads and writes; dvc.yaml declares the same paths as deps and outs."""

from pathlib import Path

ARCHIVES = Path("data/archives")  # downloaded dataset archives, kept between runs
RAW = Path("data/raw")
RAW_VIDEOS = RAW / "videos"
RAW_SPLITS = RAW / "splits"
FRAMES = Path("data/frames")
MANIFEST = Path("data/manifest.csv")
FEATURES = Path("data/features")
SPLITS = Path("data/splits")  # train.csv, val.csv, test.csv, classes.txt
MODELS = Path("models")
METRICS = Path("metrics")
REPORTS = Path("reports")


def checkpoint(model: str) -> Path:
    return MODELS / model / "model.pt"


def live_dir(model: str) -> Path:
    """dvclive's folder of per-epoch curves for one model."""
    return METRICS / "train" / model


def metrics_file(model: str) -> Path:
    return METRICS / f"{model}.json"


def confusion_file(model: str) -> Path:
    return METRICS / "confusion" / f"{model}.csv"


def pretrained_dir(model: str) -> Path:
    """The weights@<model> stage's output: the pretrained file this model loads, if any."""
    return MODELS / "pretrained" / model


def features_dir(model: str) -> Path:
    """The features@<model> stage's output: cached outputs of a frozen per-frame encoder."""
    return FEATURES / model
