"""An exported .onnx model on ONNX Runtime: the torch-free backend of `har predict` and `har serve`.

`har export` (har/onnx_export.py) writes the graph of the model for one clip and, as
ONNX metadata, everything prediction needs besides: the class names, the
preprocessing spec (har.preprocessing.Preprocessing: frames, crop, resize, mean/std,
layout, JPEG round trip) and the model's name and architecture. Nothing here
imports torch, so a deployment installs requirements-runtime.txt only.

The graph takes clips already preprocessed, always of the crop's size: frames of any aspect
are scaled to hold the crop where they do not (har.preprocessing.fit_crop) and cropped
before it, by the numpy code that feeds a .pt checkpoint, which is training's transform.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from har.errors import InputError, MissingFileError
from har.preprocessing import Preprocessing

FORMAT = "1"  # bumped when the metadata below changes meaning
# The metadata keys har export writes; every one is required to load the file.
KEYS = ("har.format", "har.model_name", "har.arch", "har.classes", "har.preprocessing")
INPUT, OUTPUT = "clip", "logits"


class OnnxModel:
    """One .onnx file in an ONNX Runtime session; `logits` is thread-safe (session.run is)."""

    def __init__(self, path: Path | str, threads: int | None = 1):
        import onnxruntime as ort  # here, so that a .pt-only process never loads it

        path = Path(path)
        if not path.is_file():
            raise MissingFileError(f"{path}: model not found (`har export` writes one)")
        options = ort.SessionOptions()
        # threads=0: ONNX Runtime's default, one per physical core. `har serve` runs requests
        # in parallel on waitress's threads, one intra-op thread each (as it sets torch's).
        options.intra_op_num_threads = threads or 0
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only; its warnings are about graph fusions
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # ONNX Runtime raises its own types, e.g. InvalidProtobuf, Fail
            raise InputError(f"{path}: not an ONNX model ({_first_line(e)})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        missing = [k for k in KEYS if k not in meta]
        if missing:
            raise InputError(f"{path}: an ONNX model without har's metadata (no {missing[0]!r}); "
                             "export it with `har export MODEL.pt OUT.onnx`")
        if meta["har.format"] != FORMAT:
            raise InputError(f"{path}: har.format {meta['har.format']!r}; this version reads "
                             f"{FORMAT!r}: export it again with this version's `har export`")
        try:
            self.prep = Preprocessing.from_dict(json.loads(meta["har.preprocessing"]))
            self.classes: list[str] = list(json.loads(meta["har.classes"]))
        except (ValueError, TypeError, KeyError) as e:
            raise InputError(f"{path}: har metadata is malformed ({_first_line(e)})") from None
        self.name: str = meta["har.model_name"]
        self.arch: str = meta["har.arch"]
        inputs = self.session.get_inputs()
        if [i.name for i in inputs] != [INPUT]:
            raise InputError(f"{path}: expected one input named {INPUT!r}, got "
                             f"{[i.name for i in inputs]}")

    def logits(self, clips: np.ndarray) -> np.ndarray:
        """(N, classes) float32 logits of N clips, each (C, T, H, W) or (T, C, H, W) float32.

        The graph takes one clip, as exported; the clips are run one after another.
        """
        return np.concatenate([self.session.run([OUTPUT], {INPUT: clip[None]})[0] for clip in clips])


def _first_line(e: Exception) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0][:300]
