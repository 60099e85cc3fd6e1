"""Stage `report`: reports/results.md (one table of every model) and reports/curves.png.

Built from metrics/ alone, so CI can rebuild it without training.
It also depends on the whole params.yaml: that makes `dvc repro` re-validate the
file after any edit, so an unknown top-level key is reported instead of ignored.
"""


from har import paths
from har.config import load_params
from har.fileio import atomic_path, write_text
from har.report import (action_type_table, load_metrics, plot_curves, results_table,
                        video_counts_by_class)
from har.stage import run

DATASET_NAMES = {"synthetic": "the built-in dataset", "ucf101": "UCF101", "hmdb51": "HMDB51",
                 "folder": "the folder dataset"}


def main() -> None:
    params = load_params()
    models = list(params.models)
    metrics = load_metrics(paths.METRICS, models)
    table = results_table(metrics, params.reported)
    ds = params.dataset
    which = "its one split" if ds.name == "folder" else f"official split {ds.split}"
    text = ("# Results\n\n" + table +
            f"\nAccuracies on the test set of {DATASET_NAMES[ds.name]}, {which}; the best epoch is "
            "chosen on validation.\nVideo accuracy averages the softmax over the evaluated clips "
            "of each video.\n")
    by_type = action_type_table(metrics, video_counts_by_class(paths.METRICS / "confusion", models))
    if by_type:
        text += ("\n## Video accuracy by action type\n\nThe five types of the UCF101 paper "
                 "(Soomro et al. 2012, Fig. 2), over each type's test videos.\n\n" + by_type)
    write_text(paths.REPORTS / "results.md", text)
    with atomic_path(paths.REPORTS / "curves.png") as tmp:
        plot_curves(paths.METRICS / "train", models, tmp)
    print(text)


if __name__ == "__main__":
    run("report", main)
