"""A loopback HTTP server for tests: fixture pages and feeds, conditional
GET, redirects, slow and broken servers. No test touches the internet.

    with LocalServer() as srv:
        srv.add("/feed.xml", body, content_type="application/rss+xml")
        srv.add_conditional("/c.xml", body, etag='"v1"')
        srv.route("/slow", drip(b"x" * 100, interval=0.2))
        url = srv.url("/feed.xml")
        ...
        assert srv.requests[-1].headers["User-Agent"].startswith("privacy-monitor/")

Routes map a path (tried first with its query string, then without) to
either a `Response(status, headers, body)` (or a plain
``(status, headers, body)`` tuple) or a callable taking the request handler.
The routes table can be changed while the server runs. Under pytest use the
``http_server`` fixture from conftest.py.
"""

from __future__ import annotations

import email.utils
import gzip
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Union

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


Handler = Callable[["RequestHandler"], None]
Route = Union[Response, tuple, Handler]  # noqa: UP007


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    headers: Any  # email.message.Message: case-insensitive .get() / ["Name"]
    time: float


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet in tests
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    # helpers for route callables ---------------------------------------------

    @property
    def stopping(self) -> threading.Event:
        return self.server.owner.stopping

    def send(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        """A complete response with Content-Length."""
        self.send_response(status)
        have = {k.lower() for k in (headers or {})}
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if "content-length" not in have and status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304) and body:
            self.wfile.write(body)

    # internals -----------------------------------------------------------

    def _dispatch(self) -> None:
        owner = self.server.owner
        owner._record(RequestRecord(self.command, self.path, self.headers, time.time()))
        route = owner.routes.get(self.path)
        if route is None:
            route = owner.routes.get(self.path.split("?", 1)[0])
        try:
            if route is None:
                self.send(404, {"Content-Type": "text/html; charset=utf-8"}, NOT_FOUND_PAGE)
            elif callable(route):
                route(self)
            else:
                resp = route if isinstance(route, Response) else Response(*route)
                self.send(resp.status, resp.headers, resp.body)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: LocalServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (aborted downloads, pooled keep-alive sockets
        # closed by the test) are normal here; anything else is printed.
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)


class LocalServer:
    """ThreadingHTTPServer on 127.0.0.1, a free port, in a background thread."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[RequestRecord] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle ---------------------------------------------------------------

    def start(self) -> LocalServer:
        self._server = _Server(("127.0.0.1", 0), RequestHandler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="test-http-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # addresses -----------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    # routes --------------------------------------------------------------------

    def add(
        self,
        path: str,
        body: bytes | str = b"",
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> str:
        """Serve a fixed response at `path`; returns its URL."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        hdrs = dict(headers or {})
        if content_type:
            hdrs["Content-Type"] = content_type
        self.routes[path] = Response(status, hdrs, body)
        return self.url(path)

    def add_fixture(
        self, path: str, name: str, content_type: str, headers: dict[str, str] | None = None
    ) -> str:
        """Serve tests/fixtures/<name> at `path`; returns its URL."""
        return self.add(
            path, (FIXTURES / name).read_bytes(), content_type=content_type, headers=headers
        )

    def add_conditional(
        self,
        path: str,
        body: bytes | str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        content_type: str = "application/xml",
        headers: dict[str, str] | None = None,
    ) -> str:
        """Serve `body` with validators; answer 304 when the request's
        If-None-Match holds the ETag (or, without one, If-Modified-Since
        equals Last-Modified)."""
        self.routes[path] = conditional(
            body, etag=etag, last_modified=last_modified, content_type=content_type, headers=headers
        )
        return self.url(path)

    def route(self, path: str, handler: Route) -> str:
        self.routes[path] = handler
        return self.url(path)

    # the request log -------------------------------------------------------------

    def _record(self, rec: RequestRecord) -> None:
        with self._lock:
            self.requests.append(rec)

    def requests_to(self, path: str) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self.requests if r.path == path or r.path.split("?", 1)[0] == path]

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()


# -- behaviours for route callables ---------------------------------------------

NOT_FOUND_PAGE = (
    b"<!DOCTYPE html><html><head><title>404 Not Found</title></head>"
    b"<body><h1>Not Found</h1><p>The requested page does not exist.</p></body></html>"
)


def http_date(ts: float | None = None) -> str:
    return email.utils.formatdate(ts if ts is not None else time.time(), usegmt=True)


def conditional(
    body: bytes | str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    content_type: str = "application/xml",
    headers: dict[str, str] | None = None,
) -> Handler:
    if isinstance(body, str):
        body = body.encode("utf-8")

    def handle(h: RequestHandler) -> None:
        validators = {}
        if etag:
            validators["ETag"] = etag
        if last_modified:
            validators["Last-Modified"] = last_modified
        inm = h.headers.get("If-None-Match")
        ims = h.headers.get("If-Modified-Since")
        if etag and inm is not None:
            fresh = etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*"
        elif last_modified and ims is not None:
            fresh = ims.strip() == last_modified
        else:
            fresh = False
        if fresh:
            h.send(304, validators)
        else:
            h.send(200, {"Content-Type": content_type, **validators, **(headers or {})}, body)

    return handle


def redirect(location: str, status: int = 302) -> Handler:
    def handle(h: RequestHandler) -> None:
        h.send(
            status,
            {"Location": location, "Content-Type": "text/html"},
            b'<a href="%s">moved</a>' % location.encode(),
        )

    return handle


def drip(
    body: bytes, interval: float = 0.2, chunk: int = 1, content_type: str = "text/plain"
) -> Handler:
    """Send `body` `chunk` bytes every `interval` seconds (a slow trickle that
    never trips a per-read timeout)."""

    def handle(h: RequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.flush()
        for i in range(0, len(body), chunk):
            if h.stopping.is_set():
                break
            h.wfile.write(body[i : i + chunk])
            h.wfile.flush()
            time.sleep(interval)
        h.close_connection = True

    return handle


def stall(after: bytes = b"", seconds: float = 30.0) -> Handler:
    """Send headers and `after`, then go silent for `seconds` (or until the
    server stops)."""

    def handle(h: RequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Content-Length", str(len(after) + 1000))
        h.end_headers()
        h.wfile.write(after)
        h.wfile.flush()
        h.stopping.wait(seconds)
        h.close_connection = True

    return handle


def reset() -> Handler:
    """Close the connection abruptly (RST) before any response."""

    def handle(h: RequestHandler) -> None:
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.close_connection = True
        h.connection.close()

    return handle


_BOMB_CACHE: dict[tuple[int, str], bytes] = {}


def compressed_zeros(size: int, coding: str = "gzip") -> bytes:
    """`size` zero bytes gzip- or deflate-compressed (about size/1000 bytes)."""
    key = (size, coding)
    if key not in _BOMB_CACHE:
        comp = zlib.compressobj(
            9, zlib.DEFLATED, 16 + zlib.MAX_WBITS if coding == "gzip" else zlib.MAX_WBITS
        )
        block = b"\0" * (1 << 20)
        parts = [comp.compress(block) for _ in range(size // len(block))]
        parts.append(comp.compress(b"\0" * (size % len(block))))
        parts.append(comp.flush())
        _BOMB_CACHE[key] = b"".join(parts)
    return _BOMB_CACHE[key]


def compressed_bomb(
    size: int = 50 * 1024 * 1024, coding: str = "gzip", content_type: str = "text/html"
) -> Handler:
    """A small response that inflates to `size` bytes of zeros."""
    payload = compressed_zeros(size, coding)

    def handle(h: RequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Encoding", coding)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)

    return handle


def gzipped(
    body: bytes, content_type: str = "text/html", headers: dict[str, str] | None = None
) -> Response:
    return Response(
        200,
        {"Content-Type": content_type, "Content-Encoding": "gzip", **(headers or {})},
        gzip.compress(body),
    )


def free_port() -> int:
    """A loopback port that nothing listens on (for connection-refused tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
