"""The slim install: a fresh venv from requirements-runtime.txt and the package without its
dependencies runs `har predict --json` and a `har serve` request on an exported model, without torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from commands import free_port, popen, run
from har.onnx_export import export_onnx
from har.predict import Predictor
from serving import multipart

pytestmark = pytest.mark.slow  # a venv and a pip install: about a minute, from pip's cache

ROOT = Path(__file__).resolve().parents[1]
CLIP = "mmaction2__tests_data__test.avi"


def _pip(venv: Path, *args: str) -> None:
    result = run([venv / "bin" / "python", "-m", "pip", "install", "--quiet",
                  "--disable-pip-version-check", *args], bin_dir=venv / "bin", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]


def _close(a: list[dict], b: list[dict]) -> bool:
    return [t["class"] for t in a] == [t["class"] for t in b] and all(
        abs(x["probability"] - y["probability"]) <= 1e-4 for x, y in zip(a, b))


def test_a_venv_from_requirements_runtime_predicts_and_serves_without_torch(tiny_model, videos,
                                                                          tmp_path):
    model = export_onnx(tiny_model.checkpoint, tmp_path / "tiny.onnx").path
    expected = Predictor(tiny_model.checkpoint, clips=3).predict_file(videos / CLIP).topk(
        tiny_model.classes, 3)

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], check=True, timeout=300)
    _pip(venv, "-r", str(ROOT / "requirements-runtime.txt"))
    # The package alone, as a user installs it (a copy: building in the tree would leave build/).
    source = tmp_path / "source"
    shutil.copytree(ROOT / "har", source / "har", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    _pip(venv, "--no-deps", str(source))
    python, har = venv / "bin" / "python", venv / "bin" / "har"
    # As a person runs them: that venv's bin first on PATH, no PYTHONPATH, no pinning variables.
    assert run([python, "-c", "import torch"], bin_dir=venv / "bin").returncode != 0

    # Outside the project (no params.yaml): eval.clips falls back to 3, as above.
    result = run([har, "predict", videos / CLIP, "--model", model, "--json"], tmp_path,
                 bin_dir=venv / "bin", timeout=120)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["model"] == "tiny" and answer["frames_used"] == 12
    assert _close(answer["topk"], expected)

    port = free_port()
    server = popen([har, "serve", "--model", model, "--port", port,
                    "--params", ROOT / "params.yaml"], tmp_path, bin_dir=venv / "bin",
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stderr.read().decode()[-3000:]
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "har serve did not answer within 60 s"
                time.sleep(0.2)
        body, content_type = multipart("clip.avi", (videos / CLIP).read_bytes(), topk="3")
        request = urllib.request.Request(f"{base}/api/predict", data=body,
                                         headers={"Content-Type": content_type})
        with urllib.request.urlopen(request, timeout=60) as response:
            served = json.loads(response.read())
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stderr.close()
    assert served["model"] == "tiny" and _close(served["topk"], expected)
