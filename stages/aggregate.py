"""Stage `aggregate@<model>`: one model's runs over train.seeds summarised in metrics/<model>.json
(each seed's numbers, their mean and std, a 95% interval, the plateau of validation accuracy)
and every seed's predictions in metrics/confusion/<model>.csv for `dvc plots`.
"""

from har import paths
from har.config import load_params
from har.fileio import write_json, write_text
from har.seed_summary import load_runs, seed_predictions, summarise, val_curves
from har.stage import model_arg, run


def main(model_name: str) -> None:
    params = load_params()
    seeds = params.train_config(model_name).seeds
    summary = summarise(load_runs(model_name, seeds), val_curves(model_name, seeds))
    write_json(paths.metrics_file(model_name), summary)
    predictions = seed_predictions(model_name, seeds)
    write_text(paths.confusion_file(model_name), predictions.to_csv(index=False))
    mean, std = summary["mean"]["test"], summary["std"]["test"]
    spread = "" if std["video_top1"] is None else f" ± {100 * std['video_top1']:.1f}"
    print(f"aggregate {model_name}: video top-1 {100 * mean['video_top1']:.1f}{spread}% over "
          f"seeds {', '.join(map(str, seeds))}")


if __name__ == "__main__":
    model = model_arg("aggregate")
    run(f"aggregate {model}", main, model)
