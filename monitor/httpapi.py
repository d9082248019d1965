"""The monitor's own HTTP endpoint: /healthz, /readyz, /metrics, and the
dashboard's pages (monitor/web/) when they are on.

Off unless `http.listen` is set; bound to loopback unless another host is
named. The probes answer from what the loop recorded and from the state
file, never from the network: an outage at a news site or at Slack must not
get the container restarted.

    /healthz   200 while the loop is alive and its last cycle ended within
               http.stale_after; 503 otherwise. The JSON body also tells
               the last reload's result (a rejected reload keeps the last
               good rules running, so it is reported, not made unhealthy).
    /readyz    200 when the state file answers a query, else 503.
    /metrics   Prometheus text format (prometheus-client).

The server is waitress: one thread reads every connection without
blocking and hands only complete requests to a small pool of workers, so
slow or half-sent requests cost a socket, not a thread. On top of its own
limits (request header and body size, idle connections), a request whose
headers have not all arrived within `header_timeout` is dropped, and when
the connections reach their limit the oldest one that has not sent a whole
request gives its place to the newcomer, so a probe still gets through.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer, create_server

from .metrics import CONTENT_TYPE_LATEST

# (healthy or ready, JSON-able details)
Check = Callable[[], tuple[bool, dict]]
PROBES = ("/healthz", "/readyz", "/metrics")


class ListenError(Exception):
    """The endpoint's address cannot be bound (in use, not local, no rights)."""


@dataclass(frozen=True)
class Limits:
    max_connections: int = 200
    header_timeout: float = 10.0  # seconds for a request's headers to arrive
    idle_timeout: float = 30.0  # a keep-alive connection with nothing to do
    max_header_bytes: int = 16 * 1024
    max_body_bytes: int = 1024 * 1024
    threads: int = 4


class _Channel(HTTPChannel):
    """Remembers when the request being read began."""

    request_started: float | None = None

    def received(self, data):
        if self.request is None and not self.requests and data:
            self.request_started = time.monotonic()
        got = super().received(data)
        if self.request is None:
            self.request_started = None  # the request is complete (or none began)
        return got


def _install_guards(server: TcpWSGIServer, limits: Limits) -> None:
    """Header deadline and eviction on the server's own dispatcher thread."""
    base_maintenance = server.maintenance
    base_readable = server.readable

    def reading(channel) -> bool:
        return not channel.requests and not getattr(channel, "will_close", False)

    def maintenance(now: float) -> None:
        base_maintenance(now)
        cutoff = time.monotonic() - limits.header_timeout
        for channel in list(server.active_channels.values()):
            started = getattr(channel, "request_started", None)
            if reading(channel) and started is not None and started < cutoff:
                channel.will_close = True  # headers too slow: closed by the loop

    def readable() -> bool:
        active = [c for c in server.active_channels.values() if not c.will_close]
        excess = len(active) - limits.max_connections + 1
        if excess > 0:  # room for the next one: the oldest that is still reading goes
            idle = [c for c in active if reading(c)]
            idle.sort(key=lambda c: getattr(c, "request_started", None) or c.last_activity)
            for channel in idle[:excess]:
                channel.will_close = True
        return base_readable()

    server.maintenance = maintenance
    server.readable = readable


def _probe_app(health: Check, ready: Check, metrics: Callable[[], bytes], pages):
    def send(start_response, status: int, ctype: str, body: bytes, head: bool):
        reason = {200: "OK", 404: "Not Found", 500: "Internal Server Error", 503: "Unavailable"}
        start_response(
            f"{status} {reason.get(status, '')}",
            [
                ("Content-Type", ctype),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [b"" if head else body]

    def app(environ, start_response):
        path = environ.get("PATH_INFO") or "/"
        head = environ.get("REQUEST_METHOD") == "HEAD"
        if path not in PROBES and pages is not None:
            return pages(environ, start_response)
        try:
            if path in ("/healthz", "/readyz"):
                ok, body = (health if path == "/healthz" else ready)()
                data = (json.dumps(body, ensure_ascii=False, sort_keys=True) + "\n").encode()
                return send(start_response, 200 if ok else 503, "application/json", data, head)
            if path == "/metrics":
                return send(start_response, 200, CONTENT_TYPE_LATEST, metrics(), head)
            return send(
                start_response,
                404,
                "text/plain; charset=utf-8",
                b"not found: try /healthz, /readyz, /metrics\n",
                head,
            )
        except Exception as e:  # never let a probe take the server down
            return send(
                start_response,
                500,
                "text/plain; charset=utf-8",
                f"{type(e).__name__}\n".encode(),
                head,
            )

    return app


class HttpApi:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        health: Check,
        ready: Check,
        metrics: Callable[[], bytes],
        pages=None,  # a WSGI app for every other path (the dashboard), or None
        limits: Limits | None = None,
    ):
        limits = limits or Limits()
        host = host.strip("[]")
        app = _probe_app(health, ready, metrics, pages)
        self.server = create_server(
            app,
            host=host,
            port=port,
            threads=limits.threads,
            connection_limit=limits.max_connections + 16,  # our eviction acts first
            channel_timeout=max(1, int(limits.idle_timeout)),
            cleanup_interval=1,
            max_request_header_size=limits.max_header_bytes,
            max_request_body_size=limits.max_body_bytes,
            asyncore_use_poll=True,  # select() stops at 1024 descriptors
            ident="privacy-monitor",
            expose_tracebacks=False,
            clear_untrusted_proxy_headers=True,
        )
        if not isinstance(self.server, TcpWSGIServer):  # one address: never a multi-socket server
            raise ListenError(f"cannot listen on {host}:{port}")
        self.server.channel_class = _Channel
        _install_guards(self.server, limits)
        self.pages = pages
        self.thread = threading.Thread(target=self._run, name="monitor-http", daemon=True)
        self.address: tuple[str, int] = self.server.socket.getsockname()[:2]

    def _run(self) -> None:
        try:
            self.server.run()
        except Exception:  # closed under it at shutdown
            pass

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> HttpApi:
        self.thread.start()
        return self

    def close(self) -> None:
        from waitress import wasyncore

        # closed on the server's own thread, which then leaves its loop
        self.server.trigger.pull_trigger(lambda: wasyncore.close_all(self.server._map))
        self.thread.join(timeout=5)
        self.server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        close = getattr(self.pages, "close", None)
        if close is not None:
            close()  # the pages' store connections
