"""Stage `params`: check the whole params.yaml before any other stage runs.

Every other stage is downstream of its output (dvc.yaml), and DVC deletes a stage's
outputs only when it is about to run that stage: so a typo stops `dvc repro` here, before
anything is deleted. The marker's text never changes, so a valid edit re-runs only the
stages whose own params or inputs changed.
"""

from har import paths
from har.config import load_params
from har.datasets import synthetic
from har.fileio import write_text
from har.models import check_model_params
from har.stage import run


def main() -> None:
    params = load_params()
    check_model_params(params)  # what needs the model registry: archs, evaluation lengths
    # What needs a dataset module (har.config stays free of numpy): every section is checked,
    # the unused ones too, so that switching datasets later meets no surprise.
    synthetic.validate(params.dataset.synthetic)
    write_text(paths.PARAMS_CHECKED, "params.yaml: valid (stages/params.py)\n")


if __name__ == "__main__":
    run("params", main)
