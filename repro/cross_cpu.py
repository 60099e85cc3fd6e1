"""Training on other CPUs, emulated: the train_digest of this machine beside the digests of the
same code under QEMU's models of other x86-64 CPUs (an AMD EPYC with AVX-512, an Intel
Haswell with AVX2 only, ...).

What it shows: QEMU's user-mode emulator answers CPUID as the CPU model it is given (maker,
instruction sets, cache sizes), so torch, oneDNN and MKL choose their code as they would
on that CPU; only the instructions' speed is not that CPU's. This is how the kernels that
MKL picks by the CPU's maker were found (docs/reproducibility.md, "Identical numbers on
other CPUs"). A digest that differs from this machine's means the pinning leaks.

It needs QEMU 8 or later: 7.2 (Debian 12's) crashes in oneDNN's LSTM kernels.
`scripts/qemu.sh` prints the path of one, fetching Debian 13's static build if needed.

    python -m repro.cross_cpu --qemu "$(scripts/qemu.sh)"
    python -m repro.cross_cpu --qemu ... --cpus EPYC-Rome-v1 SapphireRapids-v1
    python -m repro.cross_cpu --qemu ... --stages crnn cnn3d [--seed 0]

Each emulated run takes about a minute (10x this machine's time); with --params, the
models of params.yaml at their real sizes, about 20 minutes for the default profile.

--stages runs the pipeline's own train and evaluate stages (stages/train.py, then
stages/evaluate.py) for each named model and one seed, natively and under each emulated
CPU, and compares the trained weights, the test metrics (all but the training time) and
every test prediction. It reads this project's data/ (run `dvc repro` first, at least up
to the split stage) and writes only into a temporary folder. Emulation is 10-15x slower
at the tiny profile's sizes and much slower at full size, so use it with the tiny profile
(`har preset apply tiny`): about 4 minutes per model there.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from repro import cpu_model
from har.cpu_kernels import without_kernel_choices

ROOT = Path(__file__).resolve().parents[1]
MIN_QEMU = (8, 0)
# An AMD CPU with AVX-512 (the kind the different numbers came from) and an Intel one
# without AVX-512: the two ways another machine differs from an AVX-512 Intel Xeon.
DEFAULT_CPUS = ["EPYC-Genoa-v1", "Haswell-v4"]


class QemuError(Exception):
    """No usable QEMU."""


def qemu_version(qemu: str) -> tuple[int, int]:
    try:
        out = subprocess.run([qemu, "--version"], capture_output=True, text=True, timeout=60).stdout
    except OSError as exc:
        raise QemuError(f"{qemu}: cannot run it ({exc.strerror})") from None
    found = re.search(r"version (\d+)\.(\d+)", out)
    if not found:
        raise QemuError(f"{qemu}: not QEMU (its --version said {out.strip()[:80]!r})")
    return int(found[1]), int(found[2])


def check_qemu(qemu: str) -> None:
    version = qemu_version(qemu)
    if version < MIN_QEMU:
        raise QemuError(f"{qemu} is QEMU {version[0]}.{version[1]}; 8.0 or later is needed (7.2 "
                        "crashes in oneDNN's LSTM kernels): scripts/qemu.sh fetches one")


def child_environment() -> dict[str, str]:
    """This process's environment less anything that would change the kernels or threads
    (har pins those itself), with this project importable: runs differ by the CPU alone."""
    env = without_kernel_choices(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def stderr_lines(stderr: str) -> list[str]:
    """A child's stderr less QEMU's warning for each CPUID feature it cannot emulate."""
    return [line for line in stderr.splitlines() if "TCG doesn't support" not in line]


def digest(cpu: str | None = None, qemu: str | None = None, params: bool = False,
           timeout: float = 3600) -> dict:
    """repro.train_digest in a fresh process: on this CPU (cpu None) or under `qemu -cpu cpu`.

    The environment is child_environment(), so the runs differ by the CPU alone.
    """
    env = child_environment()
    argv = [sys.executable, "-m", "repro.train_digest", *(["--params"] if params else [])]
    if cpu is not None:
        argv = [qemu, "-cpu", cpu, *argv]
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=timeout)
    seconds = time.perf_counter() - start
    errors = stderr_lines(result.stderr)  # the digest's own line is last
    if result.returncode != 0 or not result.stdout.strip():
        raise RuntimeError(f"train_digest on {cpu or 'this CPU'} failed (exit {result.returncode}):\n"
                           + "\n".join(errors[-20:]))
    kernels = " | ".join(errors[-1].split(" | ")[1:3]) if errors else ""
    return {"cpu": cpu or f"this machine ({cpu_model()})", "digest": result.stdout.strip(),
            "kernels": kernels, "seconds": round(seconds, 1)}


def stage_workdir(tmp: Path) -> Path:
    """A working folder whose code, params and data are this project's (linked, read only
    by the stages), with models/ and metrics/ of its own."""
    if not (ROOT / "data" / "splits" / "test.csv").is_file():
        raise QemuError(f"{ROOT / 'data' / 'splits'}: no splits; run `dvc repro` first "
                        "(--stages trains on this project's frames and splits)")
    for name in ("har", "stages", "params.yaml", "data"):
        (tmp / name).symlink_to(ROOT / name)
    (tmp / "models").mkdir()
    if (ROOT / "models" / "pretrained").is_dir():  # the weights stage's outputs, read by train
        (tmp / "models" / "pretrained").symlink_to(ROOT / "models" / "pretrained")
    return tmp


def stage_run(model: str, seed: int, workdir: Path, cpu: str | None = None,
              qemu: str | None = None, timeout: float = 7200) -> dict:
    """stages/train.py then stages/evaluate.py in workdir, on this CPU or under QEMU."""
    import torch  # here: the digest runs need no torch in this process (har, imported above,
    #              has pinned the kernels first)

    env = child_environment()
    prefix = [qemu, "-cpu", cpu] if cpu is not None else []
    shutil.rmtree(workdir / "checkpoints", ignore_errors=True)  # no resuming the other run
    start = time.perf_counter()
    for stage in ("train", "evaluate"):
        done = subprocess.run([*prefix, sys.executable, f"stages/{stage}.py", model, str(seed)],
                              cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"stages/{stage}.py {model} {seed} on {cpu or 'this CPU'} failed "
                               f"(exit {done.returncode}):\n"
                               + "\n".join(stderr_lines(done.stderr)[-20:]))
    seconds = time.perf_counter() - start
    checkpoint = torch.load(workdir / "models" / model / f"seed{seed}" / "model.pt",
                            map_location="cpu", weights_only=True)
    metrics = json.loads((workdir / "models" / model / f"seed{seed}" / "test.json").read_text())
    predictions = (workdir / "models" / model / f"seed{seed}" / "test-predictions.csv").read_text()
    return {"cpu": cpu or f"this machine ({cpu_model()})", "run": f"{model}/seed{seed}",
            "digest": checkpoint["weights_sha256"], "metrics": metrics,
            "predictions": predictions, "seconds": round(seconds, 1)}


def compare_stages(models: list[str], seed: int, cpus: list[str], qemu: str) -> int:
    print("| run | CPU | seconds | weights digest | test video accuracy | same weights, metrics "
          "and predictions as this machine |\n|---|---|---|---|---|---|")
    same = True
    with tempfile.TemporaryDirectory(prefix="har-cross-cpu-") as tmp:
        workdir = stage_workdir(Path(tmp))
        for model in models:
            rows = [stage_run(model, seed, workdir)]
            rows += [stage_run(model, seed, workdir, cpu, qemu) for cpu in cpus]
            host = rows[0]
            for row in rows:
                equal = all(row[k] == host[k] for k in ("digest", "metrics", "predictions"))
                same &= equal
                print(f"| {row['run']} | {row['cpu']} | {row['seconds']} | `{row['digest'][:16]}…` "
                      f"| {row['metrics']['test']['video_top1']:.6f} | {'yes' if equal else '**no**'} |",
                      flush=True)
    return 0 if same else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m repro.cross_cpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--qemu", required=True, help="path of qemu-x86_64, 8.0 or later")
    parser.add_argument("--cpus", nargs="+", default=DEFAULT_CPUS,
                        help=f"QEMU CPU models (qemu-x86_64 -cpu help); default {' '.join(DEFAULT_CPUS)}")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--params", action="store_true",
                      help="train_digest --params: params.yaml's models at full size (about "
                           "20 minutes per emulated CPU for the default profile)")
    what.add_argument("--stages", nargs="+", metavar="MODEL",
                      help="the train and evaluate stages of these params.yaml models on this "
                           "project's data (use the tiny profile: see above)")
    parser.add_argument("--seed", type=int, default=0, help="--stages: the seed (default 0)")
    args = parser.parse_args(argv)
    try:
        check_qemu(args.qemu)
        if args.stages:
            return compare_stages(args.stages, args.seed, args.cpus, args.qemu)
    except QemuError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = [digest(params=args.params)] + [digest(cpu, args.qemu, args.params)
                                           for cpu in args.cpus]
    host = rows[0]["digest"]
    print(f"| CPU | kernels | seconds | weights digest | same as this machine |\n|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['cpu']} | {row['kernels'].replace(' | ', ', ')} | {row['seconds']} | `{row['digest'][:16]}…` "
              f"| {'yes' if row['digest'] == host else '**no**'} |")
    return 0 if all(row["digest"] == host for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
