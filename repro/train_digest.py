"""The fingerprint of a few training steps, for comparing CPUs: run it on two machines and
compare the printed digests.

Trains one small model of each layer family of the default profile (3D convolutions: cnn3d;
2D convolutions with batch norm and an LSTM: crnn; a GRU over per-frame features:
td_scratch_gru) for three steps of the train stage's Adam on seeded random clips, runs one
evaluation batch through each, and prints the sha256 of all their weights and outputs;
`--params` does the same with every model of params.yaml (the default profile's four, unless
a preset is applied) at its real size, batch size and clip shape (slower). With the CPU
kernels pinned (har/cpu_kernels.py, the default) two x86-64 machines with AVX2 print the
same digest, whatever else their CPUs have (AVX-512 or not, Intel or AMD), as long as
torch's version and the thread count are the same; with HAR_CPU_ISA=native they may not.

    python -m repro.train_digest [--params]   # from the project root

It prints the digest, then on stderr what it depends on besides the code: torch's version,
the kernels and thread count torch used, and the CPU.

tests/test_cpu_kernels.py runs it under several environments on one machine,
repro/cross_cpu.py under emulated CPUs; docs/reproducibility.md says how to compare
two machines with it.
"""

import argparse
import hashlib
import sys

import har  # noqa: F401  first: pins the kernels before torch loads
import torch

from repro import cpu_model
from har.config import Params, load_params
from har.engine import make_adam, seed_everything
from har.input_spec import crop_hw
from har.models import create_model, get_entry

# Small models of each layer family, three steps: quick enough to run under an emulator
# (tests/test_cross_cpu.py) and several times in the tests.
# (arch, options, batch size, frames, crop side, evaluation batch size), as params_models.
SMALL_MODELS = [
    ("cnn3d", {"channels": [8, 16], "fc": [32, 32]}, 4, 4, 28, 8),
    ("crnn", {"channels": [8, 8, 16, 16], "fc": [32, 32], "embed": 16, "lstm_hidden": 16,
              "lstm_layers": 1, "head": 16}, 4, 4, 28, 8),
    ("td_scratch_gru", {"scratch_channels": [4, 8, 8, 16], "units": 8, "dense": [16, 8]},
     4, 4, 28, 8),
]
CLASSES = 8


def params_models(params: Params) -> list[tuple]:
    """--params: every model of params.yaml at its real size, with its own batch size, clip
    length and crop, and the evaluate stage's batch: the shapes at which the kernels choose
    their blocking in the pipeline. Read, not copied, so it cannot drift from the profile."""
    models = []
    for name, model in params.models.items():
        train = params.train_config(name)
        models.append((model.arch, model.model, train.batch_size, train.frames, train.crop,
                       params.eval.batch_size))
    return models


def clip_batch(arch: str, batch: int, frames: int, crop) -> torch.Tensor:
    """Seeded random clips in the layout the architecture takes."""
    height, width = crop_hw(crop)
    if get_entry(arch).layout == "NCTHW":
        return torch.randn(batch, 3, frames, height, width)
    return torch.randn(batch, frames, 3, height, width)


def train_digest(models=SMALL_MODELS) -> str:
    seed_everything(0)
    digest = hashlib.sha256()
    for arch, options, batch, frames, crop, eval_batch in models:
        model = create_model(arch, CLASSES, frames, crop, **options)
        optimizer = make_adam(model.parameters(), lr=1e-3)  # the train stage's optimizer
        for _ in range(3):
            x, y = clip_batch(arch, batch, frames, crop), torch.randint(0, CLASSES, (batch,))
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        for tensor in model.state_dict().values():
            digest.update(tensor.numpy().tobytes())
        model.eval()  # and an evaluation forward pass
        with torch.no_grad():
            digest.update(model(clip_batch(arch, eval_batch, frames, crop)).numpy().tobytes())
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m repro.train_digest",
                                     description=__doc__.split("\n", 1)[0])
    parser.add_argument("--params", action="store_true",
                        help="every model of params.yaml at its real size (slower)")
    args = parser.parse_args(argv)
    print(train_digest(params_models(load_params()) if args.params else SMALL_MODELS))
    # On stderr, one line: what the digest depends on besides the code.
    print(f"torch {torch.__version__} | {torch.backends.cpu.get_cpu_capability()} kernels | "
          f"{torch.get_num_threads()} threads | {cpu_model()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
