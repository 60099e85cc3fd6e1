"""har.weights against a real HTTP server on 127.0.0.1 that serves files built here."""

from __future__ import annotations

import hashlib
import io
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from har.weights import WeightsError, expected_hash_prefix, fetch, load_state_dict, weight_url


@dataclass
class Seen:
    path: str
    range: str | None


@dataclass
class WeightServer:
    port: int = 0
    files: dict[str, bytes] = field(default_factory=dict)  # name -> body
    drop_after: dict[str, int] = field(default_factory=dict)  # name -> bytes sent before hanging up (once)
    ignore_range: bool = False  # answer 200 with the whole file, as some servers do
    requests: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        state: WeightServer = self.server.state
        name = self.path.lstrip("/")
        header = self.headers.get("Range")
        with state.lock:
            state.requests.append(Seen(self.path, header))
            cut = state.drop_after.pop(name, None)
        body = state.files.get(name)
        if body is None:
            self.send_error(404)
            return
        start = 0
        if header is not None and not state.ignore_range:
            match = re.fullmatch(r"bytes=(\d+)-", header)
            if match is None:
                self.send_error(400)
                return
            start = int(match.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if cut is not None:
            # Promise the whole body, send part of it, hang up: a dropped connection.
            self.wfile.write(payload[:cut])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(payload)


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.state = WeightServer(port=httpd.server_address[1])
    # Short poll interval so shutdown() in the finaliser returns at once.
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01},
                              daemon=True)
    thread.start()
    yield httpd.state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(scope="module")
def weights():
    """(state dict, its torch.save bytes, torchvision-style file name)."""
    torch.manual_seed(0)
    state = torch.nn.Linear(64, 32).state_dict()
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    name = f"tiny-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    return state, data, name


def assert_same_tensors(loaded: dict, original: dict) -> None:
    assert loaded.keys() == original.keys()
    for key, tensor in original.items():
        assert torch.equal(loaded[key], tensor), key


def test_download_verifies_and_loads(server, weights, tmp_path):
    state, data, name = weights
    server.files[name] = data
    path = fetch(server.url(name), tmp_path, progress=False)
    assert path == tmp_path / name
    assert path.read_bytes() == data
    assert not (tmp_path / f"{name}.part").exists()
    assert [r.range for r in server.requests] == [None]
    assert_same_tensors(load_state_dict(path), state)


def test_dropped_connection_resumes_with_range(server, weights, tmp_path):
    _, data, name = weights
    cut = len(data) // 3
    server.files[name] = data
    server.drop_after[name] = cut
    path = fetch(server.url(name), tmp_path, backoff=0, progress=True)
    assert [r.range for r in server.requests] == [None, f"bytes={cut}-"]
    assert path.read_bytes() == data


def test_leftover_part_from_killed_run_is_resumed(server, weights, tmp_path):
    _, data, name = weights
    server.files[name] = data
    (tmp_path / f"{name}.part").write_bytes(data[:100])
    path = fetch(server.url(name), tmp_path, progress=False)
    assert [r.range for r in server.requests] == ["bytes=100-"]
    assert path.read_bytes() == data


def test_server_ignoring_range_restarts_from_zero(server, weights, tmp_path):
    _, data, name = weights
    server.files[name] = data
    server.ignore_range = True
    # Wrong bytes in the .part: appending the 200 body to them would fail the hash.
    (tmp_path / f"{name}.part").write_bytes(b"x" * 100)
    path = fetch(server.url(name), tmp_path, progress=False)
    assert [r.range for r in server.requests] == ["bytes=100-"]
    assert path.read_bytes() == data


def test_complete_part_answered_416_is_kept(server, weights, tmp_path):
    _, data, name = weights
    server.files[name] = data
    (tmp_path / f"{name}.part").write_bytes(data)
    path = fetch(server.url(name), tmp_path, progress=False)
    assert [r.range for r in server.requests] == [f"bytes={len(data)}-"]
    assert path.read_bytes() == data
    assert not (tmp_path / f"{name}.part").exists()


def test_hash_mismatch_leaves_nothing(server, weights, tmp_path):
    _, data, name = weights
    server.files[name] = data[:-1] + bytes([data[-1] ^ 0xFF])
    with pytest.raises(WeightsError) as err:
        fetch(server.url(name), tmp_path, retries=1, progress=False)
    message = str(err.value)
    assert name in message and "sha256" in message and server.url(name) in message
    assert expected_hash_prefix(name) in message
    assert list(tmp_path.iterdir()) == []


def test_explicit_sha256_prefix_is_checked(server, weights, tmp_path):
    _, data, _ = weights
    server.files["plain.pth"] = data  # no hash in this name: only the argument can catch it
    with pytest.raises(WeightsError, match="sha256"):
        fetch(server.url("plain.pth"), tmp_path, sha256_prefix="00000000", progress=False)
    assert list(tmp_path.iterdir()) == []
    good = hashlib.sha256(data).hexdigest()[:12]
    assert fetch(server.url("plain.pth"), tmp_path, sha256_prefix=good,
                 progress=False).read_bytes() == data


def test_404_fails_at_once_with_manual_hint(server, tmp_path):
    name = "missing-0123abcd.pth"
    url = server.url(name)
    with pytest.raises(WeightsError) as err:
        fetch(url, tmp_path, backoff=0, progress=False)
    message = str(err.value)
    assert name in message and url in message and str(tmp_path / name) in message
    assert len(server.requests) == 1  # a 404 is not retried
    assert list(tmp_path.iterdir()) == []


def test_closed_port_fails_with_manual_hint(weights, tmp_path):
    _, _, name = weights
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/{name}"
    with pytest.raises(WeightsError) as err:
        fetch(url, tmp_path, retries=1, timeout=5, progress=False)
    message = str(err.value)
    assert name in message and url in message and str(tmp_path / name) in message
    assert not (tmp_path / name).exists()


def test_file_url(weights, tmp_path):
    state, data, name = weights
    source = tmp_path / "copy" / name
    source.parent.mkdir()
    source.write_bytes(data)
    path = fetch(source.as_uri(), tmp_path / "dest", progress=False)
    assert path == tmp_path / "dest" / name
    assert path.read_bytes() == data
    assert_same_tensors(load_state_dict(path), state)


def test_missing_file_url_names_destination(tmp_path):
    source = tmp_path / "nowhere-0123abcd.pth"
    with pytest.raises(WeightsError) as err:
        fetch(source.as_uri(), tmp_path / "dest", progress=False)
    assert source.name in str(err.value) and str(tmp_path / "dest" / source.name) in str(err.value)


def test_present_verified_file_needs_no_request(server, weights, tmp_path):
    _, data, name = weights
    (tmp_path / name).write_bytes(data)  # the server does not even have it
    assert fetch(server.url(name), tmp_path, progress=False) == tmp_path / name
    assert server.requests == []


def test_present_corrupt_file_is_fetched_again(server, weights, tmp_path):
    _, data, name = weights
    server.files[name] = data
    (tmp_path / name).write_bytes(b"truncated")
    assert fetch(server.url(name), tmp_path, progress=False).read_bytes() == data
    assert len(server.requests) == 1


def test_corrupt_file_raises_weights_error(tmp_path):
    path = tmp_path / "broken-0123abcd.pth"
    path.write_bytes(b"this is not a torch checkpoint")
    with pytest.raises(WeightsError, match=re.escape(path.name)):
        load_state_dict(path)


def test_weight_url_and_hash_prefix():
    url = weight_url("r3d_18")
    assert url.startswith("https://")
    prefix = expected_hash_prefix(url.rsplit("/", 1)[-1])
    assert prefix is not None and re.fullmatch(r"[0-9a-f]{8,}", prefix)
    assert expected_hash_prefix("resnet18-f37072fd.pth") == "f37072fd"
    assert expected_hash_prefix("model.pth") is None
    assert expected_hash_prefix("tiny-abc12.pth") is None  # too short to be a hash
    with pytest.raises(ValueError, match="r3d_18"):
        weight_url("no_such_model")
