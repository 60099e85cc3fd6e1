"""Stage `weights@<model>`: fetch the pretrained file this model loads into models/pretrained/<model>/.

A model with `pretrained: false` (the offline default) needs nothing: the folder
then holds only weights.json saying so. A file is downloaded once per machine, into torch's
cache (har/weights_fetch.py): changing another option of the model re-runs this stage, which
then copies it from there. The output is not `persist`ed, so DVC's run-cache restores it.
"""

from har import paths
from har.config import load_params
from har.fileio import write_json
from har.stage import model_arg, run
from har.weights import expected_hash_prefix, weight_file_name
from har.weights_fetch import fetch_weights, source_url

RECORD = "weights.json"


def main(model_name: str) -> None:
    params = load_params()
    spec = params.model(model_name)
    key = None
    # Every builder defaults to pretrained: false (tests/test_weights.py checks), so a model
    # that does not ask for weights needs none, and torch (seconds to import) is not loaded.
    if spec.model.get("pretrained"):
        from har.models import pretrained_weights

        key = pretrained_weights(spec.arch, spec.model)
    dest = paths.pretrained_dir(model_name)
    wanted = {RECORD} | ({weight_file_name(key)} if key else set())
    dest.mkdir(parents=True, exist_ok=True)
    for stale in dest.iterdir():  # left by an earlier config of this model
        if stale.name not in wanted:
            stale.unlink()
    files = []
    if key:
        path = fetch_weights(key, dest)
        files.append({"key": key, "file": path.name, "url": source_url(key),
                      "sha256_prefix": expected_hash_prefix(path.name)})
    write_json(dest / RECORD, {"model": model_name, "arch": spec.arch, "files": files})
    print(f"weights {model_name}: " + (f"{files[0]['file']}" if files else "none needed (pretrained: false)"))


if __name__ == "__main__":
    model = model_arg("weights")
    run(f"weights {model}", main, model)
