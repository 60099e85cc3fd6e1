"""Where each stage reads and writes; dvc.yaml declares the same paths as deps and outs."""

from pathlib import Path

# The params stage's marker: every stage is downstream of it, so params.yaml is checked first.
PARAMS_CHECKED = Path("data/params.ok")
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


# One training run is a model of params.yaml's `models` and a seed of train.seeds: DVC's
# matrix stages train@<model>-<seed> and evaluate@<model>-<seed> (dvc.yaml).


def run_name(model: str, seed: int) -> str:
    """How a run is named in logs and folders: `cnn3d/seed0`."""
    return f"{model}/seed{seed}"


def checkpoint(model: str, seed: int) -> Path:
    return MODELS / model / f"seed{seed}" / "model.pt"


# The functions below take the metrics folder as an argument so that tests and tools can
# read a copy of it; the stages use the default.


def live_dir(model: str, seed: int, metrics: Path = METRICS) -> Path:
    """dvclive's folder of one run's per-epoch curves."""
    return Path(metrics) / "train" / model / f"seed{seed}"


def curve_file(model: str, seed: int, split: str, metric: str, metrics: Path = METRICS) -> Path:
    """One per-epoch curve of one run as dvclive writes it (split: train or val; metric:
    loss or top1)."""
    return live_dir(model, seed, metrics) / "plots" / "metrics" / split / f"{metric}.tsv"


def seed_metrics_file(model: str, seed: int, metrics: Path = METRICS) -> Path:
    """The evaluate stage's test metrics of one run."""
    return Path(metrics) / model / f"seed{seed}.json"


def seed_confusion_file(model: str, seed: int, metrics: Path = METRICS) -> Path:
    """The evaluate stage's per-video predictions of one run."""
    return Path(metrics) / model / f"seed{seed}-predictions.csv"


def metrics_file(model: str) -> Path:
    """The aggregate stage's summary over seeds: each seed's numbers, their mean and std."""
    return METRICS / f"{model}.json"


def confusion_file(model: str) -> Path:
    """Every seed's per-video predictions in one table, for `dvc plots` (confusion template)."""
    return METRICS / "confusion" / f"{model}.csv"


def pretrained_dir(model: str) -> Path:
    """The weights@<model> stage's output: the pretrained file this model loads, if any."""
    return MODELS / "pretrained" / model


def features_dir(model: str, seed: int) -> Path:
    """The features@<model> stage's output for one seed: cached outputs of a frozen encoder."""
    return FEATURES / model / f"seed{seed}"
