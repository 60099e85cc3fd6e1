"""An HTTP server on 127.0.0.1 for download tests: serves bytes the test built, can misbehave on cue."""

from __future__ import annotations

import re
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Seen:
    path: str
    range: str | None


@dataclass
class FileServer:
    port: int = 0
    files: dict[str, bytes] = field(default_factory=dict)  # name -> body
    drop_after: dict[str, int] = field(default_factory=dict)  # name -> bytes sent before hanging up (once)
    ignore_range: bool = False  # answer 200 with the whole file, as some servers do
    status: dict[str, int] = field(default_factory=dict)  # name -> error status to answer with
    requests: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        state: FileServer = self.server.state
        name = self.path.lstrip("/")
        header = self.headers.get("Range")
        with state.lock:
            state.requests.append(Seen(self.path, header))
            cut = state.drop_after.pop(name, None)
        if name in state.status:
            self.send_error(state.status[name])
            return
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


@contextmanager
def serve():
    """A running FileServer; add files to its `files` mapping."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.state = FileServer(port=httpd.server_address[1])
    # Short poll interval so shutdown() in the finaliser returns at once.
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01},
                              daemon=True)
    thread.start()
    try:
        yield httpd.state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
