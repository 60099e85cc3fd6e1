"""Stage `report`: reports/results.md (one table of every model) and reports/curves.png.

Built from metrics/ alone, so CI can rebuild it without training.
It also depends on the whole params.yaml: that makes `dvc repro` re-validate the
file after any edit, so an unknown top-level key is reported instead of ignored.
"""


from har import paths
from har.config import load_params
from har.fileio import atomic_path, write_text
from har.report import load_metrics, plot_curves, results_table
from har.stage import run


def main() -> None:
    models = list(load_params().models)
    metrics = load_metrics(paths.METRICS, models)
    table = results_table(metrics)
    write_text(paths.REPORTS / "results.md", "# Results\n\n" + table +
               "\nAccuracies on the official test split; the best epoch is chosen on validation.\n"
               "Video accuracy averages the softmax over the evaluated clips of each video.\n")
    with atomic_path(paths.REPORTS / "curves.png") as tmp:
        plot_curves(paths.METRICS / "train", models, tmp)
    print(table)


if __name__ == "__main__":
    run("report", main)
