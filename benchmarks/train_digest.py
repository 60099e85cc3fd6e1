"""The fingerprint of a few training steps, for comparing CPUs: run it on two machines and
compare the printed digests.

Trains one small model of each layer family of the default profile (3D convolutions: cnn3d;
2D convolutions with batch norm and an LSTM: crnn; a GRU over per-frame features:
td_scratch_gru) for three steps of the train stage's Adam on seeded random clips, runs one
evaluation batch through each, and prints the sha256 of all their weights and outputs;
`--default` does the same with the default profile's four models at their real sizes
(slower). With the CPU kernels pinned (har/cpu_kernels.py, the default) two x86-64 machines
with AVX2 print the same digest, whatever else their CPUs have (AVX-512 or not, Intel or
AMD), as long as torch's version and the thread count are the same; with HAR_CPU_ISA=native
they may not.

    python -m benchmarks.train_digest [--default]   # from the project root

It prints the digest, then on stderr what it depends on besides the code: torch's version,
the kernels and thread count torch used, and the CPU.

tests/test_cpu_kernels.py runs it under several environments on one machine,
benchmarks/cross_cpu.py under emulated CPUs; docs/reproducibility.md says how to compare
two machines with it.
"""

import argparse
import hashlib
import sys

import har  # noqa: F401  first: pins the kernels before torch loads
import torch

from benchmarks.common import command, cpu_model
from har.engine import make_adam, seed_everything
from har.models import create_model

# Small models of each layer family, three steps: quick enough to run under an emulator
# (tests/test_cross_cpu.py) and several times in the tests.
SMALL_MODELS = [
    ("cnn3d", {"channels": [8, 16], "fc": [32, 32]}, (4, 3, 4, 28, 28)),
    ("crnn", {"channels": [8, 8, 16, 16], "fc": [32, 32], "embed": 16, "lstm_hidden": 16,
              "lstm_layers": 1, "head": 16}, (4, 4, 3, 28, 28)),
    ("td_scratch_gru", {"scratch_channels": [4, 8, 8, 16], "units": 8, "dense": [16, 8]},
     (4, 4, 3, 28, 28)),
]
# --default: the default profile's four models at their params.yaml sizes and batch sizes, on
# clips of 8 frames x 32x32: the shapes at which the kernels choose their blocking in training.
DEFAULT_MODELS = [
    ("cnn3d", {"channels": [64, 128], "fc": [1024, 1024], "dropout": 0.3}, (8, 3, 8, 32, 32)),
    ("crnn", {"channels": [16, 32, 64, 128], "fc": [256, 256], "embed": 128, "dropout": 0.3,
              "fc_norm": True, "lstm_hidden": 128, "lstm_layers": 1, "head": 128},
     (16, 8, 3, 32, 32)),
    ("td_scratch_gru", {"scratch_channels": [8, 16, 32, 64]}, (16, 8, 3, 32, 32)),
    ("frame_avg", {"channels": [16, 32, 64, 128], "fc": [256, 256], "embed": 128, "dropout": 0.3,
                   "fc_norm": True, "head": 128}, (16, 8, 3, 32, 32)),
]
CLASSES = 8


def train_digest(models=SMALL_MODELS) -> str:
    seed_everything(0)
    digest = hashlib.sha256()
    for arch, options, shape in models:
        model = create_model(arch, CLASSES, shape[2] if arch == "cnn3d" else shape[1], shape[-1],
                             **options)
        optimizer = make_adam(model.parameters(), lr=1e-3)  # the train stage's optimizer
        for _ in range(3):
            x, y = torch.randn(shape), torch.randint(0, CLASSES, (shape[0],))
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        for tensor in model.state_dict().values():
            digest.update(tensor.numpy().tobytes())
        model.eval()  # and an evaluation forward pass
        with torch.no_grad():
            digest.update(model(torch.randn((2 * shape[0], *shape[1:]))).numpy().tobytes())
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=command("train_digest"),
                                     description=__doc__.split("\n", 1)[0])
    parser.add_argument("--default", action="store_true",
                        help="the default profile's four models at their real sizes (slower)")
    args = parser.parse_args(argv)
    print(train_digest(DEFAULT_MODELS if args.default else SMALL_MODELS))
    # On stderr, one line: what the digest depends on besides the code.
    print(f"torch {torch.__version__} | {torch.backends.cpu.get_cpu_capability()} kernels | "
          f"{torch.get_num_threads()} threads | {cpu_model()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
