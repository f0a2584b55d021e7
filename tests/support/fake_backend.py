"""A recognizer stand-in on a real port, for gateway tests that need a backend's exact answers.

`FakeBackend` runs a threaded HTTP server on 127.0.0.1 and hands every request to its `handle`
(the handler, with the request body already read); a subclass answers with `send` or `send_json`.
Used as a context manager: the server runs inside the `with` block only.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class FakeBackend:
    def __init__(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                fake.handle(self, b"")

            def do_POST(self) -> None:
                fake.handle(self, self.rfile.read(int(self.headers.get("Content-Length", 0))))

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        raise NotImplementedError

    @staticmethod
    def send(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
        handler.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    @classmethod
    def send_json(cls, handler: BaseHTTPRequestHandler, status: int, body: object, **headers: str) -> None:
        cls.send(handler, status, json.dumps(body).encode(), {"Content-Type": "application/json", **headers})
