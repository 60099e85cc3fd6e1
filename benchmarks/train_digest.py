"""The fingerprint of a few training steps, for comparing CPUs: run it on two machines and
compare the printed digests.

Trains one small model of each layer family of the default profile (3D convolutions: cnn3d;
2D convolutions with batch norm and an LSTM: crnn; a GRU over per-frame features:
td_scratch_gru) for three Adam steps on seeded random clips, then prints the sha256 of all
their weights. With the CPU kernels pinned (har/cpu_kernels.py, the default) two x86-64
machines with AVX2 print the same digest, whatever else their CPUs have, as long as torch's
version and the thread count are the same; with HAR_CPU_ISA=native they may not.

    python -m benchmarks.train_digest   # from the project root (har need not be installed)

It prints the digest, then on stderr what it depends on besides the code: torch's version,
the kernels and thread count torch used, and the CPU.

tests/test_cpu_kernels.py runs it under several environments on one machine;
docs/reproducibility.md says how to compare two machines with it.
"""

import argparse
import hashlib
import sys

import har  # noqa: F401  first: pins the kernels before torch loads
import torch

from benchmarks.common import command, cpu_model
from har.engine import seed_everything
from har.models import create_model

MODELS = [
    ("cnn3d", {"channels": [8, 16], "fc": [32, 32]}, (4, 3, 4, 28, 28)),
    ("crnn", {"channels": [8, 8, 16, 16], "fc": [32, 32], "embed": 16, "lstm_hidden": 16,
              "lstm_layers": 1, "head": 16}, (4, 4, 3, 28, 28)),
    ("td_scratch_gru", {"scratch_channels": [4, 8, 8, 16], "units": 8, "dense": [16, 8]},
     (4, 4, 3, 28, 28)),
]


def train_digest() -> str:
    seed_everything(0)
    digest = hashlib.sha256()
    for arch, options, shape in MODELS:
        model = create_model(arch, 5, 4, 28, **options)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(3):
            x, y = torch.randn(shape), torch.randint(0, 5, (shape[0],))
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        for tensor in model.state_dict().values():
            digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog=command("train_digest"), description=__doc__.split("\n", 1)[0]
                            ).parse_args(argv)
    print(train_digest())
    # On stderr, one line: what the digest depends on besides the code.
    print(f"torch {torch.__version__} | {torch.backends.cpu.get_cpu_capability()} kernels | "
          f"{torch.get_num_threads()} threads | {cpu_model()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
