"""Every command a test starts, run as a person runs it from a shell: `har ...`, `dvc ...`,
`python -m benchmarks.<name> ...`, `python stages/<stage>.py ...`, and the `python -c` probes.

A person's environment is this process's environment less what pytest's own process added:

- no kernel-pinning variables (har.cpu_kernels.without_kernel_choices): `import har` in
  pytest's process set ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA, MKL_CBWR and OMP_NUM_THREADS,
  and a child that inherited them was pinned even where it imported torch before har. That
  hid exactly such a bug: `python -m benchmarks.gpu --quick` stopped at once from a shell on
  an AVX-512 machine while its test passed. A command must pin by itself, as from a shell;
  a test that means to choose kernels or threads says so with `env=` (HAR_CPU_THREADS=1).
- no PYTHONPATH: `python -m benchmarks.<name>` from the project root and the installed `har`
  import without it, and a test must not make them work where a person's shell would fail.
- this interpreter's bin folder first on PATH, as in a shell with the venv activated: `har`,
  `dvc` and `python` are this environment's (or `bin_dir`'s, for another venv).

Also the one free-port helper, for a server a test starts as a command.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from har.cpu_kernels import without_kernel_choices

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # this venv's python, har and dvc


def environment(env: dict[str, str] | None = None, bin_dir: Path = BIN) -> dict[str, str]:
    """A person's environment (see above), with `env`'s variables added or changed."""
    clean = {k: v for k, v in without_kernel_choices(os.environ).items() if k != "PYTHONPATH"}
    clean["PATH"] = os.pathsep.join(filter(None, [str(bin_dir), clean.get("PATH")]))
    clean.update(env or {})
    return clean


def run(argv: list, cwd: Path = ROOT, env: dict[str, str] | None = None, check: bool = False,
        timeout: float | None = 600, bin_dir: Path = BIN, **kwargs) -> subprocess.CompletedProcess:
    """`argv` in `cwd` in a person's environment (plus `env`), output captured as text unless
    `kwargs` say otherwise; with `check`, a failure shows the end of its output."""
    argv = [str(a) for a in argv]
    kwargs = {"capture_output": True, "text": True, **kwargs}
    if "stdout" in kwargs or "stderr" in kwargs:
        kwargs.pop("capture_output")
    done = subprocess.run(argv, cwd=cwd, env=environment(env, bin_dir), timeout=timeout, **kwargs)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {done.returncode}:\n"
                             f"{(done.stdout or '')[-3000:]}\n{(done.stderr or '')[-3000:]}")
    return done


def popen(argv: list, cwd: Path = ROOT, env: dict[str, str] | None = None, bin_dir: Path = BIN,
          **kwargs) -> subprocess.Popen:
    """`argv` started in `cwd` in a person's environment (plus `env`): a server, a run to kill."""
    return subprocess.Popen([str(a) for a in argv], cwd=cwd, env=environment(env, bin_dir),
                            **kwargs)


def python(*args, cwd: Path = ROOT, env: dict[str, str] | None = None, check: bool = False,
           timeout: float | None = 600) -> subprocess.CompletedProcess:
    """`python ARGS` (this interpreter) in `cwd`, by default the project root."""
    return run([sys.executable, *args], cwd=cwd, env=env, check=check, timeout=timeout)


def run_benchmark(name: str, *args, check: bool = True, env: dict[str, str] | None = None,
                  timeout: float | None = 600) -> subprocess.CompletedProcess:
    """`python -m benchmarks.<name> ARGS` from the project root, as benchmarks/README.md says:
    `-m` alone makes `benchmarks` and `har` importable; with `check`, a failure raises."""
    return python("-m", f"benchmarks.{name}", *args, env=env, check=check, timeout=timeout)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago (for a server to take,
    or, closed, for a client to be refused by)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
