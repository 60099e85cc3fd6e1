"""Stage `aggregate@<model>`: one model's runs over train.seeds (models/<model>/seed<k>/, in the
DVC cache) summarised in git: metrics/<model>.json (each seed's numbers, their mean and std,
a 95% interval, the plateau of validation accuracy), every seed's predictions in
metrics/confusion/<model>.csv and the seeds' mean curves in metrics/curves/<model>.csv, for
`dvc metrics diff`, `dvc plots diff` and the report.
"""

from har import paths
from har.config import load_params
from har.fileio import write_json, write_text
from har.seed_summary import load_runs, mean_curves, seed_predictions, summarise, val_curves
from har.stage import model_arg, run


def main(model_name: str) -> None:
    params = load_params()
    seeds = params.train_config(model_name).seeds
    summary = summarise(load_runs(model_name, seeds), val_curves(model_name, seeds))
    write_json(paths.metrics_file(model_name), summary)
    predictions = seed_predictions(model_name, seeds)
    write_text(paths.confusion_file(model_name), predictions.to_csv(index=False))
    write_text(paths.curves_file(model_name), mean_curves(model_name, seeds).to_csv(index=False))
    mean, std = summary["mean"]["test"], summary["std"]["test"]
    spread = "" if std["video_top1"] is None else f" ± {100 * std['video_top1']:.1f}"
    print(f"aggregate {model_name}: video top-1 {100 * mean['video_top1']:.1f}{spread}% over "
          f"seeds {', '.join(map(str, seeds))}")


if __name__ == "__main__":
    model = model_arg("aggregate")
    run(f"aggregate {model}", main, model)
