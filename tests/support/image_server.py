"""A tiny real HTTP server on 127.0.0.1 for the image_url tests, run in a thread.

Routes:
  /image.png        the configured image (served as image/png)
  /fake.png         b"not an image" served as image/png (content sniffing must decide)
  /hops/N           302 to /hops/N-1; /hops/0 serves the image
  /to?url=X         302 to X
  /status/N         an empty answer with status N
  /big              `big_bytes` bytes, no Content-Length (only a cut mid-stream stops it)
  /big-declared     the same with an honest Content-Length
  /slow             headers at once, then one byte every 0.1 s (for up to 10 s)
  /hang             nothing at all for 10 s
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class ImageServer:
    def __init__(self, image: bytes, big_bytes: int = 2_000_000, tls: ssl.SSLContext | None = None) -> None:
        self.image = image
        self.big_bytes = big_bytes
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                server.hits.append(self.path)
                # The gateway hangs up on purpose at the size cap or the deadline.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    server._route(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False  # do not wait for /hang and /slow on shutdown
        self.scheme = "https" if tls else "http"
        if tls:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def __enter__(self) -> ImageServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _route(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        path = parts.path
        if path == "/image.png":
            _send(handler, 200, self.image, "image/png")
        elif path == "/fake.png":
            _send(handler, 200, b"not an image", "image/png")
        elif path.startswith("/hops/"):
            left = int(path.rsplit("/", 1)[1])
            if left == 0:
                _send(handler, 200, self.image, "image/png")
            else:
                _redirect(handler, f"/hops/{left - 1}")
        elif path == "/to":
            _redirect(handler, parse_qs(parts.query)["url"][0])
        elif path.startswith("/status/"):
            _send(handler, int(path.rsplit("/", 1)[1]), b"", "text/plain")
        elif path in ("/big", "/big-declared"):
            handler.send_response(200)
            handler.send_header("Content-Type", "image/png")
            if path == "/big-declared":
                handler.send_header("Content-Length", str(self.big_bytes))
            handler.end_headers()
            chunk = b"\0" * 65536
            for _ in range(0, self.big_bytes, len(chunk)):
                handler.wfile.write(chunk)
        elif path == "/slow":
            handler.send_response(200)
            handler.send_header("Content-Type", "image/png")
            handler.send_header("Content-Length", "100")
            handler.end_headers()
            for _ in range(100):
                handler.wfile.write(b"x")
                handler.wfile.flush()
                time.sleep(0.1)
        elif path == "/hang":
            time.sleep(10)
        else:
            _send(handler, 404, b"", "text/plain")


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _redirect(handler: BaseHTTPRequestHandler, location: str) -> None:
    handler.send_response(302)
    handler.send_header("Location", location)
    handler.send_header("Content-Length", "0")
    handler.end_headers()
