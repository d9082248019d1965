"""The monitor's own HTTP endpoint: /healthz, /readyz and /metrics.

Off unless `http.listen` is set; bound to loopback unless another host is
named. It answers from what the loop recorded and from the state file,
never from the network: an outage at a news site or at Slack must not get
the container restarted.

    /healthz   200 while the loop is alive and its last cycle ended within
               http.stale_after; 503 otherwise. The JSON body also tells
               the last reload's result (a rejected reload keeps the last
               good rules running, so it is reported, not made unhealthy).
    /readyz    200 when the state file answers a query, else 503.
    /metrics   Prometheus text format (prometheus-client).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .metrics import CONTENT_TYPE_LATEST

# (healthy or ready, JSON-able details)
Check = Callable[[], tuple[bool, dict]]


class ListenError(Exception):
    """The endpoint's address cannot be bound (in use, not local, no rights)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class HttpApi:
    def __init__(
        self, host: str, port: int, *, health: Check, ready: Check, metrics: Callable[[], bytes]
    ):
        class Handler(BaseHTTPRequestHandler):
            server_version = "privacy-monitor"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                path = self.path.split("?", 1)[0]
                try:
                    if path == "/healthz":
                        self._json(*health())
                    elif path == "/readyz":
                        self._json(*ready())
                    elif path == "/metrics":
                        self._send(200, CONTENT_TYPE_LATEST, metrics())
                    else:
                        self._send(
                            404,
                            "text/plain; charset=utf-8",
                            b"not found: try /healthz, /readyz, /metrics\n",
                        )
                except Exception as e:  # never let a probe take the server down
                    self._send(500, "text/plain; charset=utf-8", f"{type(e).__name__}\n".encode())

            def do_HEAD(self) -> None:  # noqa: N802
                self.do_GET()

            def _json(self, ok: bool, body: dict) -> None:
                data = (json.dumps(body, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
                self._send(200 if ok else 503, "application/json", data)

            def _send(self, status: int, ctype: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def log_message(self, *args) -> None:  # probes every few seconds are not events
                pass

        host = host.strip("[]")
        server_class = _Server6 if ":" in host else _Server
        self.server = server_class((host, port), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="monitor-http",
            daemon=True,
        )
        self.address: tuple[str, int] = self.server.server_address[:2]

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> HttpApi:
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
