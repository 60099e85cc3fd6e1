"""One instruction-set level and one thread count for every CPU kernel, so results are bitwise
the same on any x86-64 CPU with AVX2 (an Intel Xeon and an AMD EPYC, AVX-512 or not).

Why: PyTorch picks its kernels by what the CPU offers. ATen's vectorised loops and oneDNN's
convolutions use AVX-512 where the CPU has it and AVX2 elsewhere, and a wider vector sums
in another order; MKL picks its code by the CPU's maker too. The same seed then trains other
weights, and on a test set of a few hundred videos that moved accuracy by several points
between two machines. The thread count matters too: ATen and MKL split a reduction among
threads, so 1 and 2 threads give different bits (measured: every default model differs).

`pin()` runs when `har` is imported, before any of our modules imports torch: the
variables below are read when torch and its libraries load, not later. It sets

- ATEN_CPU_CAPABILITY=avx2: ATen's dispatch (elementwise ops, reductions, softmax, ...);
- ONEDNN_MAX_CPU_ISA=AVX2: oneDNN (convolutions, pooling, batch norm, LSTM);
- MKL_CBWR=COMPATIBLE: MKL's matrix products (linear layers, GRU) on the one code path
  that MKL runs alike on Intel and AMD CPUs. MKL_CBWR=AVX2 is not enough: on an AMD CPU
  MKL ignores it, and a linear layer's weight gradient then differs from an Intel one's
  (measured on emulated CPUs, docs/reproducibility.md, "Identical numbers on other CPUs");
- OMP_NUM_THREADS: the thread count (HAR_CPU_THREADS, default 2: this project's CI size).

MKL's vector math (torch.sqrt, exp, log, sin, ... on float tensors of x86 wheels) differs
between Intel and AMD under every MKL_CBWR value (measured, same page), so training must
not use it: Adam is fused (har.engine.make_adam), and nothing else in a model's training
step calls it (repro/cross_cpu.py checks the whole step on emulated CPUs).

Once torch is loaded, har.engine.seed_everything calls `set_threads()` (torch's own thread
count) and `check_isa()`, which fails if torch runs other kernels than these, e.g. because
torch was imported before har in that process.

Overrides, as environment variables: HAR_CPU_ISA=native lets every library use the CPU's
widest kernels (faster on AVX-512 machines; results then differ between CPUs);
HAR_CPU_THREADS=N another thread count (results differ from other counts).
docs/reproducibility.md has what pinning costs.
"""

from __future__ import annotations

import os
import platform

from har.errors import InputError

ISA_VARIABLE = "HAR_CPU_ISA"  # "avx2" (default) or "native"
THREADS_VARIABLE = "HAR_CPU_THREADS"
DEFAULT_THREADS = 2

# What each library reads, for the "avx2" level (MKL's COMPATIBLE path needs only SSE2).
AVX2_ENVIRONMENT = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_CBWR": "COMPATIBLE",
}


# Every variable by which the environment can choose kernels or threads: ours, and the
# libraries' own (MKL_CBWR, MKL_ENABLE_INSTRUCTIONS, ONEDNN_MAX_CPU_ISA, OMP_NUM_THREADS, ...).
KERNEL_VARIABLE_PREFIXES = ("HAR_CPU_", "ATEN_", "ONEDNN_", "MKL_", "OMP_")


def without_kernel_choices(environment: dict[str, str]) -> dict[str, str]:
    """The environment less every kernel or thread choice: a child process started with it
    pins by itself, so runs compared with it differ only by what the caller adds."""
    return {k: v for k, v in environment.items() if not k.startswith(KERNEL_VARIABLE_PREFIXES)}


class CpuKernelError(InputError):
    """The CPU kernels cannot be pinned as asked."""


def isa() -> str:
    value = os.environ.get(ISA_VARIABLE, "avx2").strip().lower()
    if value not in ("avx2", "native"):
        raise CpuKernelError(f"{ISA_VARIABLE}={value!r}: use avx2 (the default: the same bits on "
                             "any x86-64 CPU) or native (the CPU's fastest kernels)")
    return value


def threads() -> int:
    value = os.environ.get(THREADS_VARIABLE, str(DEFAULT_THREADS))
    if not value.isdigit() or int(value) < 1:
        raise CpuKernelError(f"{THREADS_VARIABLE}={value!r}: must be a positive whole number")
    return int(value)


def pin() -> None:
    """Set the variables the kernel libraries read when they load (before torch is imported).

    Never raises (it runs on `import har`): a bad override is left for check_isa() to report.
    """
    try:
        level, count = isa(), threads()
    except CpuKernelError:
        return
    if level == "avx2":
        os.environ.update(AVX2_ENVIRONMENT)
    os.environ["OMP_NUM_THREADS"] = str(count)


def set_threads() -> None:
    """After torch loads, for training: torch's intra-op thread count is the pinned one (a
    reduction split over another number of threads adds in another order)."""
    import torch  # already loaded by the caller

    torch.set_num_threads(threads())


def check_isa() -> None:
    """After torch loads: its kernels are the pinned ones (prediction: threads are its own)."""
    import torch  # already loaded by the caller

    if isa() == "native" or not _is_x86():
        return  # ARM and others: one kernel family per machine kind, nothing to pin
    capability = torch.backends.cpu.get_cpu_capability()
    if capability != "AVX2":
        hint = ("this CPU has no AVX2" if capability == "DEFAULT" else
                "torch was imported before har in this process, so it chose its kernels "
                "before they were pinned: import har first")
        raise CpuKernelError(f"torch runs {capability} kernels, not the pinned AVX2 ones ({hint}); "
                             f"set {ISA_VARIABLE}=native to run anyway, with results that differ "
                             "from other machines'")


def _is_x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")


__all__ = ["pin", "set_threads", "check_isa", "isa", "threads", "without_kernel_choices",
           "CpuKernelError", "AVX2_ENVIRONMENT", "ISA_VARIABLE", "THREADS_VARIABLE"]
