"""Stage `report`: reports/results.md (one table of every model) and reports/curves.png.

Built from metrics/ alone, so CI can rebuild it without training.
It also depends on the whole params.yaml: that makes `dvc repro` re-validate the
file after any edit, so an unknown top-level key is reported instead of ignored.
"""


from har import paths
from har.config import load_params
from har.fileio import atomic_path, write_text
from har.report import plot_curves, render_results
from har.stage import run


def main() -> None:
    params = load_params()
    text = render_results(params, paths.METRICS)
    write_text(paths.REPORTS / "results.md", text)
    with atomic_path(paths.REPORTS / "curves.png") as tmp:
        plot_curves(paths.METRICS, list(params.models), params.train.seeds, tmp)
    print(text)


if __name__ == "__main__":
    run("report", main)
