"""Helpers for the `har serve` tests: the app on a real waitress server, and uploads over HTTP."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

import torch
import waitress

from har.checkpoint import save_checkpoint
from har.config import ServeConfig
from har.predict import Predictor
from har.serve import create_app, waitress_options

# 0.4 MB: above the 0.28 MB UCF101 fixture clip, and small enough that an oversized upload
# stays below the 500 KB at which werkzeug's test client spools it to an (unclosed) file.
SETTINGS = ServeConfig(max_upload_mb=0.4, decode_timeout_s=20.0, threads=4)


def second_model(tiny_model, root: Path) -> Predictor:
    """The tiny checkpoint again, named "other" and averaging 1 clip: a second model to pick."""
    path = root / "other" / "model.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = torch.load(tiny_model.checkpoint, weights_only=True)
    save_checkpoint({**ckpt, "model_name": "other"}, path)  # the digest, as training saves it
    return Predictor(path, clips=1)


@contextmanager
def one_torch_thread():
    """As `har serve` runs: one torch thread per request, requests in parallel."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextmanager
def live_server(predictors: list[Predictor], upload_dir: Path, settings: ServeConfig = SETTINGS):
    """The app behind waitress, configured as `har serve` configures it, on a free port."""
    app = create_app(predictors, settings, upload_dir)
    sockets: dict = {}  # waitress's socket map: the listener, its wake-up pipe, open connections
    server = waitress.create_server(app, map=sockets, host="127.0.0.1", port=0,
                                    **waitress_options(settings))
    thread = threading.Thread(target=server.run, daemon=True)
    with one_torch_thread():
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.effective_port}"
        finally:
            # server.run() returns once every socket is closed (a browser keeps its connection
            # alive). They are closed in the server's own thread, between two polls.
            def close_all():
                for dispatcher in list(sockets.values()):
                    dispatcher.close()

            server.trigger.pull_trigger(close_all)
            thread.join(timeout=10)
            server.task_dispatcher.shutdown()
            assert not thread.is_alive(), "the waitress server did not stop"


def multipart(filename: str, data: bytes, **fields: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                 f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
                 + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def post_video(base: str, filename: str, data: bytes, timeout: float = 60, **fields: str
               ) -> tuple[int, dict]:
    """(status, JSON body) of POST /api/predict; a body that is not JSON fails the caller."""
    body, content_type = multipart(filename, data, **fields)
    request = urllib.request.Request(f"{base}/api/predict", data=body,
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


def get_json(url: str, timeout: float = 10) -> tuple[int, dict]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, json.loads(response.read())
