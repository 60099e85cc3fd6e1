"""`har export MODEL.pt OUT.onnx`: a checkpoint as one ONNX file that predicts without torch.

The graph is the model's forward pass for one clip at its evaluation length
(prep.clip_frames(train=False) frames of the crop), exported by torch's own exporter
(torch.onnx.export, the torch.export-based one, which needs onnxscript). The class
names, the preprocessing spec and the model's name and architecture go into the
file's metadata (har/onnx_model.py reads them). Before the file is written, ONNX
Runtime runs it on a random clip and must give torch's logits: a graph the exporter
got wrong is refused, never written. Every registered architecture exports
(`python -m benchmarks.predict --architectures`); one that stopped exporting would
be refused with the exporter's reason or the difference it makes.

The clip's size is fixed, the crop's: a video of any aspect is scaled to hold the crop
where need be, then cropped, before the graph (har.preprocessing.eval_clip), so one
exported graph takes portrait, square and ultra-wide videos alike.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from har.checkpoint import load_model
from har.errors import InputError
from har.fileio import atomic_path
from har.onnx_model import FORMAT, INPUT, OUTPUT, OnnxModel

OPSET = 18  # the exporter's default in torch 2.15; ONNX Runtime 1.31 runs up to 23
# The largest difference allowed between ONNX Runtime's and torch's logits on the check clip.
TOLERANCE = 1e-4


@dataclass
class Exported:
    path: Path
    input_shape: tuple[int, ...]  # one clip, batch axis included
    max_difference: float  # |ONNX Runtime - torch| on the check clip, largest logit
    bytes: int


def export_onnx(checkpoint: Path | str, out: Path | str, opset: int = OPSET) -> Exported:
    """Write `checkpoint` as an ONNX file at `out` (atomically); ValueError says why it cannot."""
    checkpoint, out = Path(checkpoint), Path(out)
    if out.suffix.lower() != ".onnx":
        raise InputError(f"{out}: the output must be a .onnx file")
    model, prep, ckpt = load_model(checkpoint)
    arch = ckpt["arch"]
    height, width = prep.crop_hw
    frames = prep.clip_frames(train=False)
    shape = (1, 3, frames, height, width) if prep.layout == "NCTHW" else (1, frames, 3, height, width)
    clip = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    metadata = {"har.format": FORMAT, "har.model_name": ckpt.get("model_name") or checkpoint.parent.name,
                "har.arch": arch, "har.classes": json.dumps(list(ckpt["class_names"])),
                "har.preprocessing": json.dumps(prep.to_dict())}
    with atomic_path(out) as tmp:
        _export(model, clip, tmp, opset, checkpoint, arch)
        _add_metadata(tmp, metadata)
        difference = _check(model, clip, tmp, checkpoint, arch)
    return Exported(out, shape, difference, out.stat().st_size)


def _export(model: torch.nn.Module, clip: torch.Tensor, path: Path, opset: int, checkpoint: Path,
            arch: str) -> None:
    log = io.StringIO()  # the exporter prints its progress; only a failure needs it
    try:
        with contextlib.redirect_stdout(log), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, (clip,), dynamo=True, opset_version=opset,
                                        input_names=[INPUT], output_names=[OUTPUT],
                                        external_data=False)
        program.save(str(path), external_data=False)
    except Exception as e:  # the exporter raises many types; the message is what matters
        raise InputError(f"{checkpoint}: {arch} cannot be exported to ONNX: torch.onnx.export "
                         f"failed ({_first_line(e)})") from None


def _add_metadata(path: Path, metadata: dict[str, str]) -> None:
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


def _check(model: torch.nn.Module, clip: torch.Tensor, path: Path, checkpoint: Path, arch: str
           ) -> float:
    """Run the written file on ONNX Runtime, as `har predict` will; the largest logit difference."""
    with torch.inference_mode():
        expected = model(clip).float().numpy()
    got = OnnxModel(path, threads=1).logits(clip.numpy())
    difference = float(np.abs(got - expected).max())
    if not difference <= TOLERANCE:  # also refuses NaN
        raise InputError(f"{checkpoint}: {arch} cannot be exported to ONNX: ONNX Runtime's logits "
                         f"differ from torch's by {difference:.3g} (at most {TOLERANCE:g} allowed)")
    return difference


def _first_line(e: Exception) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0][:300]
