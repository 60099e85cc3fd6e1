"""Where each stage reads and writes; dvc.yaml declares the same paths as deps and outs."""

from pathlib import Path

# The params stage's marker: every stage is downstream of it, so params.yaml is checked first.
PARAMS_CHECKED = Path("data/params.ok")
# The code stage's md5s of each stage's and each model's code (stages/code.py).
CODE = Path("data/code")
# The listing stage's list of a folder dataset's videos (stages/listing.py).
LISTING = Path("data/listing.tsv")
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
# Wall-clock times of the runs: apart from every DVC output, so that outputs are pure functions
# of their inputs; no stage reads them, DVC does not track them, git ignores them.
TIMINGS = Path("timings")


# One training run is a model of params.yaml's `models` and a seed of train.seeds: DVC's
# matrix stages train@<model>-<seed> and evaluate@<model>-<seed> (dvc.yaml).


def run_name(model: str, seed: int) -> str:
    """How a run is named in logs and folders: `cnn3d/seed0`."""
    return f"{model}/seed{seed}"


def run_dir(model: str, seed: int) -> Path:
    """Everything one run writes, in the DVC cache (pushed and pulled like any output, restored
    from the run-cache): the checkpoint, its curves, its test metrics and predictions."""
    return MODELS / model / f"seed{seed}"


def checkpoint(model: str, seed: int) -> Path:
    return run_dir(model, seed) / "model.pt"


def live_dir(model: str, seed: int) -> Path:
    """dvclive's folder of one run's per-epoch curves (the train stage's)."""
    return run_dir(model, seed) / "train"


def curve_file(model: str, seed: int, split: str, metric: str) -> Path:
    """One per-epoch curve of one run as dvclive writes it (split: train or val; metric:
    loss, top1, or for val also mean_class_top1)."""
    return live_dir(model, seed) / "plots" / "metrics" / split / f"{metric}.tsv"


def seed_metrics_file(model: str, seed: int) -> Path:
    """The evaluate stage's test metrics of one run."""
    return run_dir(model, seed) / "test.json"


def seed_confusion_file(model: str, seed: int) -> Path:
    """The evaluate stage's per-video predictions of one run."""
    return run_dir(model, seed) / "test-predictions.csv"


# The aggregate stage's summaries: in git (cache: false), so `dvc metrics diff`, `dvc plots
# diff` and the results table work from a clone alone. They take the metrics folder as an
# argument so that tools can read a copy of it.


def metrics_file(model: str, metrics: Path = METRICS) -> Path:
    """One model's summary over seeds: each seed's numbers, their mean and std."""
    return Path(metrics) / f"{model}.json"


def confusion_file(model: str, metrics: Path = METRICS) -> Path:
    """Every seed's per-video predictions in one table, for `dvc plots` (confusion template)."""
    return Path(metrics) / "confusion" / f"{model}.csv"


def curves_file(model: str, metrics: Path = METRICS) -> Path:
    """Per epoch: the seeds' mean training and validation loss and top-1, and the lowest and
    highest seed's validation values (the report's curves, `dvc plots`)."""
    return Path(metrics) / "curves" / f"{model}.csv"


def pretrained_dir(model: str) -> Path:
    """The weights@<model> stage's output: the pretrained file this model loads, if any."""
    return MODELS / "pretrained" / model


def features_dir(model: str, seed: int) -> Path:
    """The features@<model>-<seed> stage's output: cached outputs of a frozen encoder."""
    return FEATURES / model / f"seed{seed}"


def train_timing_file(model: str, seed: int) -> Path:
    """How long one run's training took (seconds, device, processes): written by the train stage."""
    return TIMINGS / model / f"seed{seed}-train.json"


def stage_code_file(stage: str) -> Path:
    """The code stage's md5s of the files a stage's script runs, which that stage depends on."""
    return CODE / f"stage-{stage}.json"


def model_code_file(model: str) -> Path:
    """The code stage's md5s of a model's family code, which the stages building it depend on."""
    return CODE / f"model-{model}.json"


