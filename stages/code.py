"""Stage `code`: the md5s of the code every other stage runs, in data/code/ (one file per stage
script, one per model of params.yaml), which those stages depend on instead of on har's files.

Why (har/code_deps.py): the files a stage runs are read from its imports, so the list never
drifts; a model family's code is apart, so editing one family re-runs only its models; and
dvc.lock holds one code dependency per stage instead of twenty, which keeps `dvc repro` fast.
It depends on all of har/ and stages/: any edit re-runs this stage (well under a second), and
only the stages whose files' md5s changed run after it.
"""

from har.code_deps import code_listings
from har.config import load_params
from har.fileio import write_text
from har.stage import run


def main() -> None:
    params = load_params()
    archs = {name: spec.arch for name, spec in params.models.items()}
    for path, text in code_listings(archs).items():
        write_text(path, text)


if __name__ == "__main__":
    run("code", main)
