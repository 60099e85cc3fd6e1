"""Benchmark: the one GPU check (issue 16), run once on a machine with a CUDA GPU. Three parts,
one table (benchmarks/README.md, "GPU check", says what each row measures):

  ceiling  train_one_epoch on random clips already on the GPU, per model and setting (fp32,
           train.amp, train.channels_last, train.compile, all three), set up as
           stages/train.py sets a model up (benchmarks.common.Setup): clips/s, peak memory;
  loader   the same step fed by the real data path with 0, 4, 8, 16 workers, against the
           ceiling; JPEG decoding on the CPU against decode_jpeg on the GPU;
  e2e      the stages on the tiny profile on the GPU, train again under torchrun (NCCL);
           each checkpoint then predicts on the CPU.

The measuring path (ceiling, loader) imports only MEASURING_PATH and this project, never DVC
or dvclive, so it runs where only torch and a few carried-over wheels are installed; e2e needs
dvclive (stages/train.py logs with it) and is skipped, saying so, without it. Without CUDA the
script refuses to run, except with --quick: the tiny profile on the CPU, one or two steps each
(amp off: the stage's autocast is CUDA only; compile with dynamo's eager backend), which the
tests run so that the script cannot rot. Figures are never asserted.

Run it from the project root (`python -m benchmarks.gpu --help`): `-m` puts the root on
sys.path, so `har` imports even where it is not pip-installed. The package imports har before
this module loads torch, so the CPU kernels are pinned as in training (on an AVX-512 host too).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from benchmarks.common import (
    Setup, benchmark_parser, machine_info, make_video, number, report, summary, sync,
    timed_epochs, torch_threads)

ROOT = Path(__file__).resolve().parents[1]
NAME = "gpu"
PARTS = ("ceiling", "loader", "e2e")
# (preset, model): the presets' full-size models, beside the default profile's.
FULL_SIZE = [("ucf101-paper", "resnet_crnn"), ("ucf101-report", "td_resnet152_gru"),
             ("ucf101-modern", "r2plus1d_18")]
LOADER_MODEL = ("ucf101-modern", "r2plus1d_18")  # the model whose data path we time
# (train.amp, train.channels_last, train.compile) of each ceiling row
VARIANTS = {"fp32": (False, False, False), "amp": (True, False, False),
            "channels_last": (False, True, False), "compile": (False, False, True),
            "amp+channels_last+compile": (True, True, True)}
WORKERS = [0, 4, 8, 16]
DEFAULTS = {"batches": 10, "warmup": 3, "loader_batches": 40, "videos": 48, "video_frames": 100,
            "video_size": (320, 240), "e2e_epochs": 2, "seed": 0}
QUICK = {"batches": 1, "warmup": 1, "loader_batches": 2, "videos": 4, "video_frames": 16,
         "video_size": (80, 60), "e2e_epochs": 1}
DEFAULT_REPEATS, QUICK_REPEATS = 3, 1
QUICK_WORKERS = [0, 2]
QUICK_E2E_MODELS = ["cnn3d"]
# What the measuring path (ceiling, loader) may import beyond the standard library, as
# import names. PIL comes with torchvision; yaml: har.config reads params.yaml with it.
MEASURING_PATH = {"torch", "torchvision", "numpy", "av", "simplejpeg", "PIL", "yaml",
                  "pydantic", "pydantic_core", "annotated_types", "typing_inspection",
                  "typing_extensions"}  # har.config reads params.yaml into pydantic models
NO_CUDA = ("benchmarks.gpu: CUDA is not available (torch {torch}, {build}). Run it on a "
           "machine with an NVIDIA GPU and a CUDA build of torch, or with --quick to check "
           "on the CPU that the script runs (no GPU figures).")


def _error(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"


# ---------------------------------------------------------------- profiles

def profile(preset: str | None) -> dict:
    """params.yaml as a dict, with presets/<preset>.yaml applied as `har preset apply` would."""
    import yaml

    from har.presets import merge_preset

    base = yaml.safe_load((ROOT / "params.yaml").read_text())
    preset_file = ROOT / "presets" / f"{preset}.yaml"
    return merge_preset(base, yaml.safe_load(preset_file.read_text()) or {}) if preset else base


def profiles() -> dict:
    """Params of the default profile ("default"), and of it with each preset applied that this
    script uses ("tiny", "ucf101-paper", ...)."""
    from har.config import parse_params

    names = [None, "tiny", *sorted({p for p, _ in FULL_SIZE + [LOADER_MODEL]})]
    return {name or "default": parse_params(profile(name)) for name in names}


def ceiling_models(profiles: dict, quick: bool, only: list[str] | None) -> list[tuple]:
    """[(label, params, model name, skipped reason or None)]: the default profile's models
    (--quick: the tiny profile's namesakes of them), then the presets' full-size models."""
    default = profiles["tiny" if quick else "default"]
    rows = [(n, default, n, None) for n in default.models if n in profiles["default"].models]
    for preset, name in FULL_SIZE:
        rows.append((f"{name} ({preset})", profiles[preset], name,
                     "full size: needs a GPU (--quick times the tiny profile)" if quick else None))
    if only:
        rows = [r for r in rows if r[2] in only or r[0] in only]
    return rows


def _peak_mb(device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def _release() -> None:
    """A clean slate: one model's compiled graphs and GPU memory must not count against the next."""
    torch._dynamo.reset()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def row(section: str, model: str, setting: str, **kw) -> dict:
    r = {"section": section, "model": model, "setting": setting, "arch": None, "input": None,
         "batch": None, "clips_per_s": None, "peak_mb": None, "baseline": None, "ratio": None,
         "steps": None, "loss": None, "applied": None, "note": "",
         "skipped": None, "error": None}
    r.update(kw)
    return r


# ---------------------------------------------------------------- part 1: the compute ceiling

def ceiling(models: list[tuple], cfg: dict, repeats: int, device, quick: bool) -> list[dict]:
    rows = []
    for label, params, name, skipped in models:
        fp32 = None
        for variant, flags in VARIANTS.items():
            if skipped:
                rows.append(row("ceiling", label, variant, skipped=skipped))
                continue
            r = _ceiling_row(label, params, name, variant, flags, cfg, repeats, device, quick)
            if variant == "fp32":
                fp32 = r["clips_per_s"]
            elif fp32 and r["clips_per_s"]:
                r["baseline"], r["ratio"] = "fp32", r["clips_per_s"]["median"] / fp32["median"]
            rows.append(r)
            print(_line(r), flush=True)
    return rows


def _ceiling_row(label, params, name, variant, flags, cfg, repeats, device, quick) -> dict:
    _release()
    setup = None
    try:
        setup = Setup(params, name, flags, device, quick, cfg["seed"])
        before = setup.weight_sums()
        setup.epoch(setup.random_batches(cfg["warmup"]))  # compile, cuDNN plans, allocations
        rates, last = timed_epochs(setup, setup.random_batches(cfg["batches"]), repeats,
                                   setup.batch * cfg["batches"])
        peak_mb = _peak_mb(device)  # before weight_sums' few temporaries
        changed = int((setup.weight_sums() != before).sum())
        return row("ceiling", label, variant, arch=params.model(name).arch, input=setup.input,
                   batch=setup.batch, clips_per_s=summary(rates), peak_mb=peak_mb,
                   steps=setup.steps(), expected_steps=cfg["warmup"] + repeats * cfg["batches"],
                   changed_tensors=changed, trainable_tensors=len(before),
                   loss=last["loss"], applied=setup.applied,
                   note=f"{setup.params_total:,} params ({setup.params_trainable:,} trainable)")
    except Exception as e:  # noqa: BLE001 - one broken combination must not lose the others
        return row("ceiling", label, variant, error=_error(e), traceback=traceback.format_exc())
    finally:
        del setup
        _release()


# ---------------------------------------------------------------- part 2: the data path

def extract(video: Path, videos: Path, frames_dir: Path, extract_cfg) -> dict:
    """One frames file, as har.extract.extract_one writes it (its module imports tqdm)."""
    from har.frames import SUFFIX, save_frames
    from har.video import read_frames

    rel = video.relative_to(videos).with_suffix(SUFFIX).as_posix()
    result = read_frames(video, extract_cfg.frames, extract_cfg.short_side)
    save_frames(frames_dir / rel, result.array, extract_cfg.jpeg_quality)
    return {"id": rel[:-len(SUFFIX)], "frames": rel, "frames_stored": str(len(result.array)),
            "label": "0"}


def loader(params, name: str, cfg: dict, repeats: int, workers: list[int], device,
           quick: bool, tmp: Path) -> list[dict]:
    from har.data import ClipDataset

    train = params.train_config(name)
    flags = (train.amp, train.channels_last, train.compile)  # as the profile trains it
    setting = "+".join(k for k, on in zip(("amp", "channels_last", "compile"), flags) if on) or "fp32"
    setup = Setup(params, name, flags, device, quick, cfg["seed"])
    prep, videos, frames_dir = setup.prep, tmp / "videos", tmp / "frames"
    start = time.perf_counter()
    paths = [videos / f"c{i % 8}" / f"v_c{i % 8}_g{i // 8 + 1:02d}_c01.avi"
             for i in range(cfg["videos"])]
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(lambda ip: make_video(ip[1], cfg["video_frames"], cfg["video_size"],
                                            cfg["seed"] + ip[0]), enumerate(paths)))
        items = list(pool.map(lambda p: extract(p, videos, frames_dir, prep), paths))
    prep_s = time.perf_counter() - start
    rows = []
    try:
        n = setup.batch * cfg["loader_batches"]
        dataset = ClipDataset((items * math.ceil(n / len(items)))[:n], frames_dir, setup.prep,
                              train=True)
        common = {"arch": params.model(name).arch, "input": setup.input, "batch": setup.batch,
                  "applied": setup.applied}
        setup.epoch(setup.random_batches(cfg["warmup"]))
        ceiling_rates, _ = timed_epochs(setup, setup.random_batches(cfg["loader_batches"]),
                                        repeats, n)
        top = summary(ceiling_rates)
        rows.append(row("loader", name, f"ceiling, {setting}", clips_per_s=top, **common,
                        note=f"random clips on the device; {len(items)} videos "
                             f"generated and extracted in {prep_s:.1f} s"))
        for w in workers:
            rows.append(_loader_row(setup, name, dataset, w, cfg, repeats, n, top, setting,
                                    common, device))
            print(_line(rows[-1]), flush=True)
        rows.extend(decode_rows(dataset, setup.batch, repeats, device, name))
    finally:
        del setup
        _release()
    return rows


def _loader_row(setup, name, dataset, workers, cfg, repeats, n, top, setting, common, device):
    from har.engine import make_loader

    label = f"{workers} workers, pinned" if device.type == "cuda" else f"{workers} workers"
    try:
        data = make_loader(dataset, setup.batch, True, workers, cfg["seed"])
        before = setup.steps()
        alone = []
        for _ in range(repeats):  # the loader alone: what it could feed
            start = time.perf_counter()
            for clips, labels, _ in data:
                clips.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            sync(device)
            alone.append(n / (time.perf_counter() - start))
        rates, last = timed_epochs(setup, data, repeats, n)
        fed = summary(rates)
        return row("loader", name, f"{label}, {setting}", clips_per_s=fed,
                   baseline="ceiling", ratio=fed["median"] / top["median"],
                   steps=setup.steps() - before, expected_steps=repeats * cfg["loader_batches"],
                   loss=last["loss"], loader_alone=summary(alone), workers=workers, **common,
                   note=f"loader alone {summary(alone)['median']:.1f} clips/s")
    except Exception as e:  # noqa: BLE001
        return row("loader", name, f"{label}, {setting}", error=_error(e),
                   traceback=traceback.format_exc(), workers=workers)


def decode_rows(dataset, batch: int, repeats: int, device, name: str) -> list[dict]:
    """JPEG decoding of one batch of training clips: simplejpeg on one CPU core (what each
    loader worker does, har.frames.load_frames) against torchvision.io.decode_jpeg on the
    device (nvJPEG on CUDA): would decoding on the GPU lift the loader's ceiling?"""
    import numpy as np
    from torchvision.io import decode_jpeg

    from har.data import clip_indices
    from har.frames import load_frames

    wanted = []
    for i in range(batch):
        r = dataset.rows[i]
        wanted.append((dataset.frames_root / r["frames"],
                       clip_indices(int(r["frames_stored"]), dataset.prep.frames, None)))
    encoded = []
    for path, idx in wanted:
        with np.load(path) as z:
            jpeg, offsets = z["jpeg"], z["offsets"]
        encoded += [torch.from_numpy(jpeg[offsets[k]:offsets[k + 1]].copy()) for k in idx]
    cpu, gpu = [], []
    for _ in range(repeats + 1):  # the first of each: warm-up (nvJPEG handles, caches)
        start = time.perf_counter()
        for path, idx in wanted:
            load_frames(path, idx)
        cpu.append(batch / (time.perf_counter() - start))
        sync(device)
        start = time.perf_counter()
        out = decode_jpeg(encoded, device=device.type)
        sync(device)
        gpu.append(batch / (time.perf_counter() - start))
    shape = list(out[0].shape)
    where = "GPU (nvJPEG)" if device.type == "cuda" else "CPU (--quick: no GPU)"
    return [row("decode", name, "simplejpeg, 1 CPU process", clips_per_s=summary(cpu[1:]),
                batch=batch, input=shape, note="frames file read + decode, per loader worker"),
            row("decode", name, f"torchvision decode_jpeg, {where}", clips_per_s=summary(gpu[1:]),
                batch=batch, input=shape, baseline="simplejpeg, 1 CPU process",
                ratio=summary(gpu[1:])["median"] / summary(cpu[1:])["median"],
                note="one batched call over the same JPEG bytes")]


# ---------------------------------------------------------------- part 3: the stages, end to end

def e2e(tiny, cfg: dict, device, models: list[str], tmp: Path) -> list[dict]:
    """download/extract/split/features/train/evaluate on the tiny profile in a scratch project,
    then train again under torchrun; every checkpoint loaded and run on the CPU."""
    import importlib.util

    if importlib.util.find_spec("dvclive") is None:
        return [row("e2e", m, "stages", skipped="dvclive is not installed: stages/train.py logs "
                    "with it (pip install dvclive==3.49.1; the ceiling and loader parts do not "
                    "need it)") for m in models]
    work = tmp / "project"
    _write_scratch_project(work, tmp / "videos", tiny, cfg, device, models)
    env = {**os.environ, "TQDM_DISABLE": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    rows = []
    for stage in ("download", "extract", "split"):
        done = _stage(work, env, [sys.executable, str(ROOT / "stages" / f"{stage}.py")])
        if done["error"]:
            return [row("e2e", m, stage, error=done["error"], log=done["log"]) for m in models]
    nproc = max(1, min(2, torch.cuda.device_count())) if device.type == "cuda" else 1
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={nproc}"]
    for model in models:
        if frozen(tiny, model):  # trains on the features stage's cache, as `dvc repro` runs it
            done = _stage(work, env, [sys.executable, str(ROOT / "stages" / "features.py"), model,
                                      "0"])  # the seed _e2e_row trains
            if done["error"]:
                rows.append(row("e2e", model, "features", error=done["error"], log=done["log"]))
                continue
        for setting, launcher in (("stage", [sys.executable]), (f"torchrun x{nproc}", torchrun)):
            rows.append(_e2e_row(work, env, model, setting, launcher, device))
            print(_line(rows[-1]), flush=True)
    return rows


def frozen(params, model: str) -> bool:
    """Whether the model's encoder is fully frozen (then the train stage reads its feature cache)."""
    from har.data import Preprocessing
    from har.models import create_model
    from har.models.features import frozen_encoder

    spec, prep = params.model(model), Preprocessing.for_model(params, model)
    net = create_model(spec.arch, 2, prep.frames, prep.crop, **spec.model)
    return frozen_encoder(net) is not None


def _write_scratch_project(work: Path, videos: Path, tiny, cfg: dict, device, models: list[str]):
    import yaml

    from har.config import parse_params

    for c in range(4):  # 4 classes x 5 recordings: enough groups for test and validation
        for g in range(1, 6):
            make_video(videos / f"class{c}" / f"v_class{c}_g{g:02d}_c01.avi", 24, (80, 60),
                       cfg["seed"] + 10 * c + g)
    params = profile("tiny")
    params["dataset"]["name"] = "folder"
    params["dataset"]["folder"]["root"] = str(videos.resolve())
    params["train"].update({"device": device.type, "amp": True, "channels_last": True,
                            "compile": True, "nproc": 1, "workers": 0})
    params["models"] = {m: {**params["models"][m],
                            "train": {**params["models"][m]["train"], "epochs": cfg["e2e_epochs"]}}
                        for m in models}
    parse_params(params)  # the stages would refuse anything else
    work.mkdir(parents=True)
    # The stages run from the project root, as DVC runs them: the train stage's resume
    # fingerprint reads the code it runs (stages/, har/) relative to it.
    for code in ("stages", "har"):
        (work / code).symlink_to(ROOT / code, target_is_directory=True)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _stage(work: Path, env: dict, argv: list[str]) -> dict:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True)
    log = (done.stdout + done.stderr)[-4000:]
    error = None if done.returncode == 0 else (
        f"{' '.join(Path(a).name for a in argv[1:])} exited {done.returncode}: "
        f"{(done.stderr.strip().splitlines() or ['no output'])[-1]}")
    return {"seconds": time.perf_counter() - start, "log": log, "error": error}


def _e2e_row(work, env, model, setting, launcher, device) -> dict:
    from har.checkpoint import load_model
    from har.data import ClipDataset
    from har.fileio import read_csv

    seed = 0  # one run of the tiny profile's seeds is enough to exercise the stages
    ckpt_path = work / "models" / model / f"seed{seed}" / "model.pt"
    metrics_path = work / "models" / model / f"seed{seed}" / "test.json"
    ckpt_path.unlink(missing_ok=True)
    metrics_path.unlink(missing_ok=True)
    seconds = 0.0
    for argv in (launcher + [str(ROOT / "stages" / "train.py"), model, str(seed)],
                 [sys.executable, str(ROOT / "stages" / "evaluate.py"), model, str(seed)]):
        done = _stage(work, env, argv)
        seconds += done["seconds"]
        if done["error"]:
            return row("e2e", model, setting, error=done["error"], log=done["log"])
    try:
        metrics = json.loads(metrics_path.read_text())
        net, prep, ckpt = load_model(ckpt_path, "cpu")
        test = read_csv(work / "data" / "splits" / "test.csv")
        clip, label, _ = ClipDataset(test, work / "data" / "frames", prep, train=False)[0]
        with torch.no_grad():
            logits = net(clip[None])
        if logits.shape != (1, len(ckpt["class_names"])) or not torch.isfinite(logits).all():
            raise RuntimeError(f"CPU prediction of {model}: logits {tuple(logits.shape)}, "
                               f"finite: {bool(torch.isfinite(logits).all())}")
    except Exception as e:  # noqa: BLE001
        return row("e2e", model, setting, error=_error(e), traceback=traceback.format_exc())
    return row("e2e", model, setting, arch=ckpt["arch"], batch=None,
               seconds=seconds, processes=ckpt["processes"], epochs=ckpt["epochs"],
               device=device.type, video_top1=metrics["test"]["video_top1"],
               cpu_prediction=int(logits.argmax()), cpu_label=int(label),
               note=f"{ckpt['epochs']} epoch(s) on {device.type} x {ckpt['processes']} "
                    f"process(es), {seconds:.1f} s; test video top-1 "
                    f"{metrics['test']['video_top1']:.2f}; checkpoint predicts on CPU"
                    + ("; one process: har.distributed.init makes no process group (no NCCL)"
                       if setting.startswith("torchrun") and ckpt["processes"] == 1 else ""))


# ---------------------------------------------------------------- run, table, command line

class ImportAudit:
    """The third-party packages this project's own code imports while the audit is on.

    Wraps builtins.__import__, which every import statement calls, found in sys.modules or
    not, and names its importer: so torch's optional imports of whatever happens to be
    installed (tqdm, pydot: it does without them) are not counted, and har's are.
    """

    def __init__(self):
        import builtins

        self.found: set[str] = set()
        self._builtins, self._original = builtins, builtins.__import__
        builtins.__import__ = self._import

    def _import(self, name, globals=None, locals=None, fromlist=(), level=0):
        importer = (globals or {}).get("__name__", "")
        top = name.partition(".")[0]
        if (level == 0 and top not in sys.stdlib_module_names and top not in ("har", "benchmarks")
                and importer.partition(".")[0] in ("har", "__main__", "benchmarks")):
            self.found.add(top)
        return self._original(name, globals, locals, fromlist, level)

    def stop(self) -> list[str]:
        if self._builtins.__import__ == self._import:
            self._builtins.__import__ = self._original
        return sorted(self.found)


def gpu_info(device) -> dict:
    info = {"cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        info.update({"name": p.name, "memory_gb": p.total_memory / 2**30,
                     "capability": f"{p.major}.{p.minor}", "count": torch.cuda.device_count(),
                     "bf16": torch.cuda.is_bf16_supported()})
    return info


def run(quick: bool = False, repeats: int | None = None, parts: list[str] | None = None,
        models: list[str] | None = None, workers: list[int] | None = None) -> dict:
    cuda = torch.cuda.is_available()
    if not cuda and not quick:
        build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise SystemExit(NO_CUDA.format(torch=torch.__version__, build=build))
    parts = parts or list(PARTS)
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SystemExit(f"benchmarks.gpu: unknown part(s) {', '.join(sorted(unknown))}; "
                         f"choose from {', '.join(PARTS)}")
    cfg = {**DEFAULTS, **(QUICK if quick else {})}
    repeats = repeats or (QUICK_REPEATS if quick else DEFAULT_REPEATS)
    workers = workers or (QUICK_WORKERS if quick else WORKERS)
    device = torch.device("cuda" if cuda else "cpu")
    result = {"benchmark": NAME, "quick": quick,
              "machine": {**machine_info(), "gpu": gpu_info(device)},
              "config": {**cfg, "repeats": repeats, "parts": parts, "workers": workers,
                         "device": device.type,
                         "variants": {k: dict(zip(("amp", "channels_last", "compile"), v))
                                      for k, v in VARIANTS.items()}},
              "seconds": {}, "rows": []}
    # --quick: one torch thread, as on a shared 2-core machine two wait on each other.
    with tempfile.TemporaryDirectory(prefix="har-bench-gpu-") as tmp, \
            torch_threads(1 if quick else None):
        audit = ImportAudit()  # before har's modules past its kernel pinning load
        try:
            _measure(result, quick, models, Path(tmp))
        finally:
            result["measuring_path_packages"] = audit.stop()
        result["outside_measuring_path"] = sorted(set(result["measuring_path_packages"])
                                                  - MEASURING_PATH)
        if "e2e" in parts:
            start = time.perf_counter()
            tiny = profiles()["tiny"]
            result["rows"] += e2e(tiny, cfg, device, QUICK_E2E_MODELS if quick
                                  else list(tiny.models), Path(tmp) / "e2e")
            result["seconds"]["e2e"] = time.perf_counter() - start
    result["errors"] = sum(1 for r in result["rows"] if r["error"])
    return result


def _measure(result: dict, quick: bool, models: list[str] | None, tmp: Path) -> None:
    """The ceiling and loader parts: the measuring path, which ImportAudit watches."""
    from har.engine import seed_everything

    c, rows = result["config"], result["rows"]
    device = torch.device(c["device"])
    seed_everything(c["seed"])  # as the train stage: deterministic algorithms, no cuDNN autotune
    found = profiles()
    if "ceiling" in c["parts"]:
        start = time.perf_counter()
        rows += ceiling(ceiling_models(found, quick, models), c, c["repeats"], device, quick)
        result["seconds"]["ceiling"] = time.perf_counter() - start
    if "loader" in c["parts"]:
        start = time.perf_counter()
        params, name = ((found["tiny"], next(iter(found["tiny"].models))) if quick
                        else (found[LOADER_MODEL[0]], LOADER_MODEL[1]))
        try:
            rows += loader(params, name, c, c["repeats"], c["workers"], device, quick,
                           tmp / "loader")
        except Exception as e:  # noqa: BLE001 - keep the ceiling's figures
            rows.append(row("loader", name, "data path", error=_error(e),
                            traceback=traceback.format_exc()))
        result["seconds"]["loader"] = time.perf_counter() - start


def _line(r: dict) -> str:
    c = r["clips_per_s"] or {}
    shape = "x".join(map(str, r["input"])) if r["input"] else ""
    status = (f"skipped: {r['skipped']}" if r["skipped"] else f"ERROR {r['error']}" if r["error"]
              else r["note"])
    ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else ""
    return (f"{r['section']:<8} {r['model'][:30]:<30} {r['setting'][:40]:<40} {shape:<14} "
            f"{r['batch'] or '':>5} {number(c.get('median')):>9} {number(c.get('min')):>9} "
            f"{number(c.get('max')):>9} {number(r['peak_mb']):>9} {ratio:>7} {r['baseline'] or '':<10}"
            f" {status}")


def format_table(result: dict) -> str:
    m, c = result["machine"], result["config"]
    g = m["gpu"]
    where = (f"{g['name']} x {g['count']} ({g['memory_gb']:.0f} GiB, compute {g['capability']}, "
             f"bf16 {'yes' if g['bf16'] else 'no: fp16 + GradScaler'})" if c["device"] == "cuda"
             else "CPU, no GPU (--quick: checks that everything runs; no GPU figures)")
    head = (f"{'section':<8} {'model':<30} {'setting':<40} {'input':<14} {'batch':>5} "
            f"{'clips/s':>9} {'min':>9} {'max':>9} {'peak MB':>9} {'ratio':>7} {'vs':<10} note")
    lines = [f"GPU check{' (quick)' if result['quick'] else ''}: {where}; torch {m['torch']}, "
             f"CUDA {g['cuda']}, cuDNN {g['cudnn']}, {m['cores']} cores; {c['repeats']} "
             f"epoch(s) of {c['batches']} batches after {c['warmup']} warm-up", "",
             head, "-" * len(head)]
    lines += [_line(r) for r in result["rows"]]
    lines += ["", f"the measuring path's own imports: {', '.join(result['measuring_path_packages'])}"]
    if result["outside_measuring_path"]:
        lines.append(f"  MORE than {', '.join(sorted(MEASURING_PATH))}: "
                     f"{', '.join(result['outside_measuring_path'])}")
    if result["errors"]:
        lines.append(f"{result['errors']} row(s) failed: see ERROR above, tracebacks in the JSON")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = benchmark_parser(NAME, __doc__, "the tiny profile on the CPU, one step each: checks "
                              "that it runs (the only mode without CUDA)",
                              f"timed epochs per figure, default {DEFAULT_REPEATS}, quick "
                              f"{QUICK_REPEATS}")
    parser.add_argument("--parts", help=f"comma-separated, default all: {','.join(PARTS)}")
    parser.add_argument("--models", help="ceiling only these models (params.yaml names)")
    parser.add_argument("--workers",
                        help=f"loader worker counts, default {','.join(map(str, WORKERS))}")
    args = parser.parse_args(argv)
    result = run(args.quick, args.repeats, args.parts.split(",") if args.parts else None,
                 args.models.split(",") if args.models else None,
                 [int(w) for w in args.workers.split(",")] if args.workers else None)
    report(result, format_table, args.json)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    os.chdir(ROOT)  # har.config's relative paths; the e2e stages run in their own scratch dir
    sys.exit(main())
