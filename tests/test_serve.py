"""`har serve`: the API through Flask's test client, then the real waitress server under load and fuzz."""

from __future__ import annotations

import io
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import har.predict
import har.serve
import tiny_model as tm
from har.config import ServeConfig
from har.predict import Predictor
from har.serve import create_app
from har.timeline import predict_windows
from serving import SETTINGS, get_json, live_server, post_video, second_model

UCF_CLIP = "mmaction2__tests_data__test.avi"


@pytest.fixture(scope="module")
def predictors(tiny_model, tmp_path_factory) -> list[Predictor]:
    root = tmp_path_factory.mktemp("serve_models")
    return [Predictor(tiny_model.checkpoint, clips=3), second_model(tiny_model, root)]


@pytest.fixture(scope="module")
def left_then_up(tmp_path_factory) -> Path:
    """3 s of MoveLeft, then 3 s of MoveUp, in one scene of a group the model never saw."""
    frames = np.concatenate([tm.clip("MoveLeft", 15, 1, frames=75), tm.clip("MoveUp", 15, 1, frames=75)])
    return tm.write_clip(tmp_path_factory.mktemp("concat") / "left_then_up.avi", frames)


@pytest.fixture
def uploads(tmp_path) -> Path:
    folder = tmp_path / "uploads"
    folder.mkdir()
    return folder


@pytest.fixture
def client(predictors, uploads):
    return create_app(predictors, SETTINGS, uploads).test_client()


def post(client, name: str, data: bytes, **fields):
    response = client.post("/api/predict", data={"file": (io.BytesIO(data), name), **fields},
                           content_type="multipart/form-data")
    return response.status_code, response.get_json()


def test_a_good_video_gets_the_top_classes(client, predictors, videos, uploads):
    data = (videos / UCF_CLIP).read_bytes()
    status, body = post(client, "clip.avi", data)
    assert status == 200
    assert set(body) == {"model", "topk", "frames_used", "seconds"}
    assert body["model"] == "tiny" and body["frames_used"] == 12 and body["seconds"] > 0
    expected = predictors[0].predict_file(videos / UCF_CLIP)
    assert body["topk"] == expected.topk(predictors[0].classes, 5)  # 3 classes: all 3
    assert [t["class"] for t in body["topk"]] != [] and list(uploads.iterdir()) == []


def test_model_and_topk_are_chosen_per_request(client, videos):
    status, body = post(client, "clip.avi", (videos / UCF_CLIP).read_bytes(), model="other", topk="2")
    assert status == 200 and body["model"] == "other"
    assert body["frames_used"] == 6 and len(body["topk"]) == 2  # "other" averages one clip


def _truncated(videos: Path) -> bytes:
    data = (videos / UCF_CLIP).read_bytes()
    return data[: len(data) // 3]


@pytest.mark.parametrize("name, make, fields, status, message", [
    ("notes.mp4", lambda v: b"These are my notes, not a video.\n" * 20, {}, 422,
     "notes.mp4: not a readable video"),
    ("random.avi", lambda v: random.Random(0).randbytes(5000), {}, 422, "random.avi: not a readable video"),
    ("empty.avi", lambda v: b"", {}, 422, "empty.avi: the file is empty"),
    ("huge.avi", lambda v: b"\0" * (int(SETTINGS.max_upload_mb * 2**20) + 1), {}, 413,
     "larger than 0.4 MB"),
    ("cut.avi", _truncated, {}, 422, "cut.avi: truncated or corrupt"),
    ("clip.avi", lambda v: (v / UCF_CLIP).read_bytes(), {"model": "resnet"}, 400,
     "unknown model 'resnet'; this server has: tiny, other"),
    ("clip.avi", lambda v: (v / UCF_CLIP).read_bytes(), {"topk": "many"}, 400, "topk must be"),
], ids=["text", "random-bytes", "empty", "oversized", "truncated-avi", "wrong-model", "bad-topk"])
def test_bad_uploads_get_a_4xx_json_error_and_leave_nothing(client, videos, uploads, name, make,
                                                            fields, status, message):
    code, body = post(client, name, make(videos), **fields)
    assert code == status
    assert list(body) == ["error"] and message in body["error"]
    assert str(uploads) not in body["error"]  # the user's file name, never our temporary path
    assert list(uploads.iterdir()) == []


def test_timeline_1_returns_the_windows_of_har_predict_timeline(client, predictors, left_then_up):
    status, body = post(client, "two.avi", left_then_up.read_bytes(), timeline="1", window="2",
                        stride="1", topk="2")
    assert status == 200 and set(body) == {"model", "topk", "frames_used", "seconds", "timeline"}
    timeline = body["timeline"]
    assert (timeline["window"], timeline["stride"]) == (2.0, 1.0)
    windows = timeline["windows"]
    expected = list(predict_windows(predictors[0], left_then_up, 2.0, 1.0))
    assert [(w["start"], w["end"], w["frames"]) for w in windows] == [
        (k, k + 2.0, 50) for k in range(5)]  # 6 s: windows start every second up to 4 s
    assert [w["topk"] for w in windows] == [e.topk(predictors[0].classes, 2) for e in expected]
    classes = [w["topk"][0]["class"] for w in windows]
    assert classes[:2] == ["MoveLeft"] * 2 and classes[-2:] == ["MoveUp"] * 2
    # Without timeline=1 the answer is as before: no windows computed.
    assert "timeline" not in post(client, "two.avi", left_then_up.read_bytes())[1]


@pytest.mark.parametrize("fields, message", [
    ({"window": "0"}, "window must be between 0.1 and 10 seconds, got 0"),
    ({"stride": "nan"}, "stride must be between 0.1 and 10 seconds, got nan"),
    ({"window": "1e9"}, "window must be between 0.1 and 10 seconds"),
    ({"stride": "fast"}, "stride must be a number of seconds, got 'fast'"),
], ids=["zero-window", "nan-stride", "huge-window", "text-stride"])
def test_bad_timeline_options_are_a_400(client, videos, uploads, fields, message):
    status, body = post(client, "clip.avi", (videos / UCF_CLIP).read_bytes(), timeline="1", **fields)
    assert status == 400 and message in body["error"] and list(uploads.iterdir()) == []


def test_a_timeline_never_holds_more_frames_than_the_limit(client, left_then_up, uploads,
                                                         monkeypatch):
    monkeypatch.setattr(har.serve, "MAX_WINDOW_FPS", 10)  # the video is 25 fps
    status, body = post(client, "two.avi", left_then_up.read_bytes(), timeline="1")
    assert status == 422
    assert body["error"] == ("two.avi: more than 20 frames within 2 s; its frame rate is too "
                             "high for a timeline")
    assert list(uploads.iterdir()) == []


def test_requests_without_a_file_or_to_unknown_routes_are_json(client):
    for response, status, message in [
        (client.post("/api/predict", data={"model": "tiny"}), 400, "multipart form field 'file'"),
        (client.get("/api/predict"), 405, "not allowed"),
        (client.get("/nothing/here"), 404, "not found"),
    ]:
        assert response.status_code == status and message in response.get_json()["error"]


def test_the_upload_is_deleted_whatever_happens(client, predictors, uploads, videos, monkeypatch):
    seen = []

    def crash(path, **kwargs):
        seen.append(Path(path))
        assert Path(path).is_file()  # stored while the request runs ...
        raise RuntimeError("a bug in prediction")

    monkeypatch.setattr(predictors[0], "predict_file", crash)
    status, body = post(client, "clip.avi", (videos / UCF_CLIP).read_bytes())
    assert status == 500 and body == {"error": "internal error; the server log has the details"}
    (stored,) = seen
    assert stored.parent == uploads and stored.name.startswith("upload-")  # random name, our folder
    assert "clip" not in stored.name and list(uploads.iterdir()) == []  # ... and gone after


def test_decoding_that_takes_too_long_is_refused(predictors, uploads, videos):
    slow = ServeConfig(max_upload_mb=0.4, decode_timeout_s=1e-4, threads=1)
    client = create_app(predictors, slow, uploads).test_client()
    status, body = post(client, "clip.avi", (videos / UCF_CLIP).read_bytes())
    assert status == 422 and "clip.avi: decoding took longer than 0.0001s" in body["error"]
    assert list(uploads.iterdir()) == []


def test_models_are_loaded_once_and_listed(client, videos, monkeypatch):
    def no_loading(*args, **kwargs):
        raise AssertionError("a checkpoint was loaded during a request")

    monkeypatch.setattr(har.predict, "load_model", no_loading)
    health = client.get("/healthz").get_json()
    assert health["status"] == "ok"
    assert [(m["name"], m["arch"], m["classes"], m["clips"]) for m in health["models"]] == [
        ("tiny", "cnn3d", 3, 3), ("other", "cnn3d", 3, 1)]
    assert post(client, "clip.avi", (videos / UCF_CLIP).read_bytes())[0] == 200


def test_the_page_offers_every_model_and_its_assets(client):
    page = client.get("/").get_data(as_text=True)
    assert '<option value="tiny">tiny</option>' in page and '<option value="other">other</option>' in page
    assert 'data-max-upload-mb="0.4"' in page and 'name="viewport"' in page
    for asset in ("/static/app.js", "/static/app.css"):
        with client.get(asset) as response:
            assert asset in page and response.status_code == 200


def test_one_model_shows_its_name_instead_of_a_selector(predictors, uploads):
    page = create_app(predictors[:1], SETTINGS, uploads).test_client().get("/").get_data(as_text=True)
    assert "<select" not in page and 'id="model-name">tiny<' in page


def test_eight_clients_five_uploads_each_on_the_real_server(predictors, tiny_model, videos, uploads):
    files = [tiny_model.videos / r["source"] for r in tiny_model.test_rows] + [videos / UCF_CLIP]
    expected = {f: predictors[0].predict_file(f).topk(predictors[0].classes, 3) for f in files}

    def client(number: int) -> list[tuple[Path, int, dict]]:
        answers = []
        for upload in range(5):
            video = files[(number * 5 + upload) % len(files)]
            answers.append((video, *post_video(base, video.name, video.read_bytes(), timeout=60)))
        return answers

    with live_server(predictors, uploads) as base:
        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(client, n) for n in range(8)]
            answers = [a for f in futures for a in f.result(timeout=300)]
    assert len(answers) == 40
    for video, status, body in answers:
        assert status == 200, body
        assert body["model"] == "tiny" and body["frames_used"] == 12
        assert [t["class"] for t in body["topk"]] == [t["class"] for t in expected[video]]
        for got, want in zip(body["topk"], expected[video]):
            assert got["probability"] == pytest.approx(want["probability"], abs=1e-5)
    assert list(uploads.iterdir()) == []


def _fuzz_cases(tiny_model, videos, count: int, seed: int = 0):
    """(name, bytes) of random bytes, truncated or corrupted videos and renamed text files."""
    rng = random.Random(seed)
    good = [(videos / UCF_CLIP).read_bytes(),
            *(p.read_bytes() for p in sorted(tiny_model.videos.rglob("*g13_c01.avi")))]
    text = (Path(__file__).read_text() * 3).encode()
    for i in range(count):
        kind = i % 5
        video = rng.choice(good)
        if kind == 0:
            yield f"random{i}.avi", rng.randbytes(rng.randrange(0, 20000))
        elif kind == 1:
            yield f"cut{i}.avi", video[: rng.randrange(0, len(video))]
        elif kind == 2:
            yield f"notes{i}{rng.choice(['.avi', '.mp4', '.mkv', '.mov'])}", text[: rng.randrange(1, len(text))]
        elif kind == 3:
            corrupt = bytearray(video)
            for _ in range(rng.randrange(1, 50)):
                corrupt[rng.randrange(len(corrupt))] = rng.randrange(256)
            yield f"flipped{i}.avi", bytes(corrupt)
        else:  # a real header, then garbage: passes any check by magic bytes
            yield f"header{i}.avi", video[:rng.randrange(12, 4096)] + rng.randbytes(rng.randrange(0, 30000))


def test_fuzzed_uploads_never_break_the_server(predictors, tiny_model, videos, uploads):
    statuses = []
    with live_server(predictors, uploads) as base:
        for name, data in _fuzz_cases(tiny_model, videos, 200):
            status, body = post_video(base, name, data, timeout=60)
            statuses.append(status)
            assert status < 500, (name, body)
            if status == 200:
                assert set(body) == {"model", "topk", "frames_used", "seconds"}
            else:
                assert 400 <= status < 500 and list(body) == ["error"] and body["error"], (name, body)
        assert get_json(f"{base}/healthz") == (200, {"status": "ok", "models": [
            {"name": "tiny", "arch": "cnn3d", "classes": 3, "clips": 3, "crops": 1},
            {"name": "other", "arch": "cnn3d", "classes": 3, "clips": 1, "crops": 1}]})
        status, _ = post_video(base, "clip.avi", (videos / UCF_CLIP).read_bytes())
        assert status == 200  # still predicting
    assert len(statuses) == 200 and statuses.count(422) > 100  # most of it is refused, as it should
    assert list(uploads.iterdir()) == []
