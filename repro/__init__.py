"""Reproducibility checks, not timings: the same training bits on every CPU.

    python -m repro.train_digest [--params]               # the digest of a few training steps
    python -m repro.cross_cpu --qemu "$(scripts/qemu.sh)"  # that digest under emulated CPUs

Run them from the project root (`-m` puts it on sys.path, so `repro` and `har` import);
docs/reproducibility.md says what they showed and how to compare two machines.
"""

# First, before torch loads: `import har` pins the CPU kernels (har/cpu_kernels.py), which is
# what these tools check. `python -m repro.<name>` imports this package before the module.
import har  # noqa: F401

import platform
from pathlib import Path


def cpu_model() -> str:
    """/proc/cpuinfo's model name, or what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
