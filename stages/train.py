"""Stage `train@<model>-<seed>`: train one model variant with one seed of train.seeds, pick
its best epoch on validation (har/train.py).

Writes models/<model>/seed<k>/model.pt and its dvclive curves in models/<model>/seed<k>/train/;
the training time goes to timings/<model>/seed<k>-train.json. Resumes a killed run from
checkpoints/<model>/seed<k>/ (har/resume.py); runs under torchrun with train.nproc > 1.
"""

import har  # noqa: F401  first: pins the CPU kernels before torch loads (har/cpu_kernels.py)

from har import paths
from har.config import load_params
from har.stage import model_seed_args, run
from har.train import run_seed


def main(model_name: str, seed: int) -> None:
    run_seed(load_params(), model_name, seed)


if __name__ == "__main__":
    model, seed = model_seed_args("train")
    run(f"train {paths.run_name(model, seed)}", main, model, seed)
