"""`har serve`: a web page and a JSON API over checkpoints loaded once, behind waitress.

Every upload is written under a random name in a private folder, validated by
decoding it (never by its extension), and deleted when the request ends, however it
ends. Every error is a 4xx JSON {"error": "..."} a person can read; a 500 would be a
bug here, never a bad upload. With `timeline=1` the answer also holds one prediction per
window of `window` seconds every `stride` seconds (har/timeline.py), which the page draws
under the video.

Models are .pt checkpoints (torch) or .onnx files from `har export` (ONNX Runtime, and
then torch is never imported).
"""

from __future__ import annotations

import atexit
import base64
import ctypes
import io
import logging
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from flask import Flask, jsonify, render_template, request
from PIL import Image
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from har.config import ServeConfig
from har.errors import HarError, InputError
from har.predict import Predictor
from har.timeline import predict_windows
from har.video import VideoError, poster_frame

log = logging.getLogger("har.serve")
MB = 1024 * 1024
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and headers around the file itself
PREVIEW_SIDE = 240  # short side of the frame the page shows for videos it cannot play
# Timeline requests: the seconds a window or stride may take, and the most frames a window may
# hold per second of it. windows() keeps one window's frames in memory, so these bound what a
# request can hold whatever the upload claims its frame rate is.
TIMELINE_SECONDS = (0.1, 10.0)
MAX_WINDOW_FPS = 120
# glibc's malloc raises its mmap threshold to the size of each large block freed (up to 32 MB),
# so once a decoder's frame buffers are freed, later ones come from the heaps of the waitress
# threads, which keep them: 304 bad uploads left the server at 1386 MB from 586 MB (1498 MB
# after 608). Fixed at glibc's default, blocks over 128 KB are mmapped and go back to the
# kernel when freed: 613-619 MB after the same uploads, for ~5-10% more CPU per 4K decode
# (page faults) and none measurable on a UCF101 clip (measured by the hostile_memory benchmark, since dropped: benchmarks/README.md).
M_MMAP_THRESHOLD = -3  # mallopt's parameter number, malloc.h
MMAP_THRESHOLD = 128 * 1024


class BadUpload(HarError):
    """An upload the server refuses: answered with `status` and a JSON error naming it."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def create_app(predictors: list[Predictor], settings: ServeConfig, upload_dir: Path | str) -> Flask:
    """The Flask app; `predictors` are loaded already, the first is the default model."""
    models = {p.name: p for p in predictors}
    if len(models) != len(predictors):
        raise InputError("two checkpoints have the same model name: "
                         f"{', '.join(str(p.path) for p in predictors)}")
    upload_dir = Path(upload_dir)
    max_bytes = int(settings.max_upload_mb * MB)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = max_bytes + FORM_OVERHEAD

    def error(status: int, message: str):
        return jsonify(error=message), status

    @app.errorhandler(BadUpload)
    def bad_upload(e: BadUpload):
        return error(e.status, str(e))

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(e):
        return error(413, f"the upload is larger than {settings.max_upload_mb:g} MB")

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        return error(e.code or 400, e.description or e.name)

    @app.errorhandler(Exception)
    def unexpected(e: Exception):
        log.exception("unexpected error")  # a bug: keep the traceback in the server log
        return error(500, "internal error; the server log has the details")

    @app.get("/")
    def index():
        return render_template("index.html", models=list(models), max_upload_mb=settings.max_upload_mb)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok", models=[
            {"name": p.name, "arch": p.arch, "classes": len(p.classes), "clips": p.clips,
             "crops": p.crops}
            for p in models.values()])

    @app.post("/api/predict")
    def api_predict():
        upload = request.files.get("file")
        if upload is None:
            raise BadUpload(400, "no video: send it as the multipart form field 'file'")
        name = request.form.get("model") or predictors[0].name
        if name not in models:
            raise BadUpload(400, f"unknown model {name!r}; this server has: {', '.join(models)}")
        predictor = models[name]
        topk = _topk(request.form.get("topk", "5"))
        timeline = _timeline_options(request.form)
        shown = _display_name(upload.filename)
        fd, tmp = tempfile.mkstemp(prefix="upload-", suffix=".video", dir=upload_dir)
        try:
            with os.fdopen(fd, "wb") as f:
                upload.save(f)
            size = os.path.getsize(tmp)
            if size == 0:
                raise BadUpload(422, f"{shown}: the file is empty")
            if size > max_bytes:
                raise BadUpload(413, f"the upload is larger than {settings.max_upload_mb:g} MB")
            started = time.perf_counter()
            try:
                prediction = predictor.predict_file(tmp, timeout=settings.decode_timeout_s)
                if timeline:
                    # The decode limit holds for both passes together.
                    left = settings.decode_timeout_s - (time.perf_counter() - started)
                    windows = _windows(predictor, tmp, *timeline, topk, max(left, 1e-3))
            except VideoError as e:
                # The message starts with our temporary path: name the user's file instead.
                raise BadUpload(422, str(e).replace(tmp, shown)) from None
            body = {"model": name, "topk": prediction.topk(predictor.classes, topk),
                    "frames_used": prediction.frames_used, "seconds": round(prediction.seconds, 4)}
            if timeline:
                body["timeline"] = {"window": timeline[0], "stride": timeline[1], "windows": windows}
                body["seconds"] = round(time.perf_counter() - started, 4)
            if request.form.get("preview") == "1":
                body["preview"] = _preview(tmp)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return jsonify(body)

    return app


def _topk(text: str) -> int:
    try:
        k = int(text)
    except ValueError:
        raise BadUpload(400, f"topk must be a whole number, got {text[:20]!r}") from None
    if not 1 <= k <= 100:
        raise BadUpload(400, f"topk must be between 1 and 100, got {k}")
    return k


def _timeline_options(form) -> tuple[float, float] | None:
    """(window, stride) in seconds when the form asks for a timeline (timeline=1), else None."""
    if form.get("timeline", "0") not in ("1", "true"):
        return None
    low, high = TIMELINE_SECONDS
    values = []
    for key, default in (("window", "2"), ("stride", "1")):
        text = form.get(key, default)
        try:
            value = float(text)
        except ValueError:
            raise BadUpload(400, f"{key} must be a number of seconds, got {text[:20]!r}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise BadUpload(400, f"{key} must be between {low:g} and {high:g} seconds, got {text[:20]}")
        values.append(value)
    return values[0], values[1]


def _windows(predictor: Predictor, path: str, window: float, stride: float, topk: int,
             timeout: float) -> list[dict]:
    """The timeline of one upload as JSON rows: start, end (seconds), frames, topk."""
    return [{"start": round(w.start, 3), "end": round(w.end, 3), "frames": w.frames,
             "topk": w.topk(predictor.classes, topk)}
            for w in predict_windows(predictor, path, window, stride, timeout=timeout, threads=1,
                                     max_window_frames=math.ceil(MAX_WINDOW_FPS * window))]


def _display_name(filename: str | None) -> str:
    """The uploaded file's base name, for messages (never used as a path)."""
    name = Path((filename or "").replace("\\", "/")).name
    return name[:100] or "the upload"


def _preview(path: str) -> str | None:
    """A JPEG data URL of the video's middle frame, for browsers that cannot play the file."""
    try:
        frame = poster_frame(path, PREVIEW_SIDE)
    except VideoError:
        return None  # the prediction succeeded; a missing picture is no reason to fail it
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def private_upload_dir() -> Path:
    """A fresh 0700 folder for uploads, removed when the server exits."""
    path = Path(tempfile.mkdtemp(prefix="har-serve-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def return_freed_memory() -> bool:
    """Fix glibc's mmap threshold (M_MMAP_THRESHOLD) so that large freed blocks go back to the
    kernel; False where the C library is not glibc or MALLOC_MMAP_THRESHOLD_ already sets it."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, TypeError, AttributeError):  # TypeError: Windows has no CDLL(None)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1


def serve(checkpoints: list[str], settings: ServeConfig, clips: int, host: str, port: int,
          crops: int | None = None) -> None:
    """crops: spatial views per clip (eval.crops); None reads eval.crops of ./params.yaml."""
    import waitress

    return_freed_memory()  # before anything large is allocated and freed
    # SIGTERM (kill, systemd, docker stop) would end the process without atexit, leaving the
    # upload folder behind: make it a normal exit.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    start = time.perf_counter()
    # Requests run in parallel on waitress's threads. One intra-op thread each (threads=1 for
    # ONNX Runtime's sessions, torch's process-wide setting below): several requests with a
    # pool of threads each would fight over the cores.
    predictors = [Predictor(c, clips=clips, threads=1, crops=crops) for c in checkpoints]
    if "torch" in sys.modules:  # a .pt model was loaded; .onnx models never import torch
        sys.modules["torch"].set_num_threads(1)
    app = create_app(predictors, settings, private_upload_dir())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    log.info("loaded %s in %.1f s; serving http://%s:%d/", ", ".join(p.name for p in predictors),
             time.perf_counter() - start, host, port)
    waitress.serve(app, host=host, port=port, **waitress_options(settings))


def waitress_options(settings: ServeConfig) -> dict:
    # waitress buffers a whole body before the app sees it. Past this size it refuses it
    # unread with its own plain-text 413; up to it (twice the limit) the app's 413 is JSON.
    return {"threads": settings.threads, "ident": "har",
            "max_request_body_size": 2 * int(settings.max_upload_mb * MB) + FORM_OVERHEAD}
