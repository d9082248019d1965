"""One request through libcurl (pycurl): a Curl handle, reused by fetch
after fetch with its idle keep-alive connections, and the state of the
request it is running.

libcurl runs the whole request with the GIL released, so a fetch costs
the fetch threads a few Python callbacks (the header lines, each piece of
body, a new socket) rather than an HTTP client written in Python. What it
is allowed to do is set here once per handle: http and https only, no
redirects of its own, no ~/.netrc, no proxy from the environment (the
fetcher names one, or none), no decoding (body.py decodes, bounded), and
HTTP/1.1, so a connection is a fetch in flight.

The handle owns its sockets: libcurl asks for each one (OPENSOCKETFUNCTION),
which is where a guarded fetch checks the address it is about to connect
to, and tells us when it closes one. The watchdog (limits.py) shuts those
sockets down to end a request blocked on a silent server, so the stop
event ends a fetch within a fraction of a second and read_timeout may be
less than the whole seconds libcurl's own speed limit counts in.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from typing import Any

import pycurl

from monitor.fetch.body import Body
from monitor.fetch.errors import FetchError, classify
from monitor.fetch.guard import refusal
from monitor.fetch.headers import Headers
from monitor.fetch.limits import Deadline, Watchdog

# Not named by every pycurl release; CURLOPT_SUPPRESS_CONNECT_HEADERS is 265:
# the answer of a proxy to CONNECT is not passed on as response headers.
_SUPPRESS_CONNECT_HEADERS = getattr(pycurl, "SUPPRESS_CONNECT_HEADERS", 265)
_HTTP = pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS
PEEK = 8192  # bytes of an error page kept, to tell a bot wall from a plain error
_PEEK_SECONDS = 2.0
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_monotonic = time.monotonic


class Reply:
    """A response: status line, headers, and the body when one was read."""

    __slots__ = ("status", "reason", "headers", "body")

    def __init__(self, status: int, reason: str, headers: Headers, body: bytes):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body


class Transfer:
    """A Curl handle and the request it runs (one at a time)."""

    def __init__(
        self,
        watchdog: Watchdog,
        ca: tuple[str | None, str | None],
        guarded: bool,
        allow: tuple,
        max_connections: int,
        batched: bool = False,
    ):
        self.watchdog = watchdog
        self.guarded = guarded  # connects to public addresses (or `allow`) only
        # run by a Batch (multi.py), which ends it when due itself: libcurl
        # then closes its sockets, and the multi's connections are shared
        self.batched = batched
        self.allow = allow
        self._lock = threading.Lock()
        self._fds: set[int] = set()  # libcurl's open sockets
        self._pending: list[socket.socket] = []  # ours, until libcurl has its copy
        self._begin("", Deadline(1.0, None), 0.0, 0)
        c = self.curl = pycurl.Curl()
        c.setopt(pycurl.NOSIGNAL, 1)
        c.setopt(pycurl.FOLLOWLOCATION, 0)
        c.setopt(pycurl.PROTOCOLS, _HTTP)
        c.setopt(pycurl.REDIR_PROTOCOLS, _HTTP)
        c.setopt(pycurl.NETRC, pycurl.NETRC_IGNORED)
        c.setopt(pycurl.NOPROXY, "")  # NO_PROXY is the fetcher's to read
        c.setopt(pycurl.HTTP_CONTENT_DECODING, 0)
        c.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
        c.setopt(pycurl.PATH_AS_IS, 1)  # the path as the URL has it, /../ and all
        c.setopt(_SUPPRESS_CONNECT_HEADERS, 1)
        c.setopt(pycurl.SSL_VERIFYPEER, 1)
        c.setopt(pycurl.SSL_VERIFYHOST, 2)
        cafile, capath = ca
        if cafile:
            c.setopt(pycurl.CAINFO, cafile)
            c.setopt(pycurl.PROXY_CAINFO, cafile)
        else:
            c.unsetopt(pycurl.CAINFO)
        if capath:
            c.setopt(pycurl.CAPATH, capath)
            c.setopt(pycurl.PROXY_CAPATH, capath)
        c.setopt(pycurl.MAXCONNECTS, max_connections)
        c.setopt(pycurl.BUFFERSIZE, 64 * 1024)  # fewer, larger pieces to the callback
        c.setopt(pycurl.HEADERFUNCTION, self._on_header)
        c.setopt(pycurl.WRITEFUNCTION, self._on_data)
        c.setopt(pycurl.PREREQFUNCTION, self._sending)
        if not batched:
            c.setopt(pycurl.OPENSOCKETFUNCTION, self._open)
            c.setopt(pycurl.SOCKOPTFUNCTION, self._opened)
            c.setopt(pycurl.CLOSESOCKETFUNCTION, self._close)
        elif guarded:
            # A socket closed by the multi may outlive the handle's time in
            # it, when no callback of ours can run: libcurl closes its own.
            # A guarded request never reuses a connection of the multi's,
            # made without the check, and leaves none behind.
            c.setopt(pycurl.OPENSOCKETFUNCTION, self._open)
            c.setopt(pycurl.FRESH_CONNECT, 1)
            c.setopt(pycurl.FORBID_REUSE, 1)

    def _begin(self, url: str, deadline: Deadline, read_timeout: float, cap: int) -> None:
        self.url = url
        self.deadline = deadline
        self.read_timeout = read_timeout
        self.cap = cap
        self.status = 0
        self.reason = ""
        self.lines: list[tuple[str, str]] = []
        self.headers: Headers | None = None
        self.body: Body | None = None
        self.discard = False  # a 3xx: its body is never read
        self.error: FetchError | None = None  # raised by a callback
        self.killed: str | None = None  # by the watchdog: cancelled, timeout, read_timeout
        self.blocked: str | None = None  # a guarded socket refused
        self.connected = False  # the request is about to go out
        self.last = _monotonic()

    def run(self, *request: Any) -> Reply:
        """The request `begin` sets up (`request` is its arguments), performed
        on this thread: its reply, or its FetchError."""
        self.begin(*request)
        failure: pycurl.error | None = None
        try:
            self.curl.perform()
        except pycurl.error as e:
            failure = e
        except BaseException:
            self.watchdog.unwatch(self)
            self._drop_pending()
            raise
        return self.end(failure)

    def begin(
        self,
        url: str,
        curl_url: str,
        host: str,
        lines: list[bytes],
        proxy: str | None,
        deadline: Deadline,
        connect_timeout: float,
        read_timeout: float,
        cap: int,
        pin: list[str] | None = None,
    ) -> None:
        """Set the handle up to GET `curl_url` (`url` as libcurl takes it;
        errors name `url`) with header `lines`, the body read when the
        status asks for one (2xx whole, at most `cap`; >= 400 its first
        bytes), and watch it. The caller then performs it (run, or a
        CurlMulti: multi.py) and calls end with libcurl's error, if any."""
        self._begin(url, deadline, read_timeout, cap)
        self.host = host
        remaining = deadline.remaining()
        c = self.curl
        c.setopt(pycurl.URL, curl_url)
        c.setopt(pycurl.HTTPHEADER, lines)
        c.setopt(pycurl.PROXY, proxy or "")
        c.setopt(pycurl.TIMEOUT_MS, max(math.ceil(remaining * 1000) + 1, 1))
        c.setopt(
            pycurl.CONNECTTIMEOUT_MS, max(math.ceil(min(connect_timeout, remaining) * 1000), 1)
        )
        if pin is not None:
            c.setopt(pycurl.RESOLVE, pin)
        if not self.batched:
            self.watchdog.watch(self)

    def end(self, failure: pycurl.error | None) -> Reply:
        """The request's reply, or its FetchError, once libcurl is done with it."""
        if not self.batched:
            self.watchdog.unwatch(self)
        if self._pending:
            self._drop_pending()
        try:
            return self._outcome(failure)
        finally:  # an idle handle holds no body
            self.body = None
            self.headers = None
            self.lines = []

    def _outcome(self, failure: pycurl.error | None) -> Reply:
        if self.error is not None:
            raise self.error
        body = self.body
        peeked = body is not None and body.peek
        if self.headers is not None and (failure is None or self.discard or peeked):
            data = b"" if body is None else (body.head() if peeked else body.finish())
            return Reply(self.status, self.reason, self.headers, data)
        url = self.url
        if self.killed == "read_timeout":
            raise FetchError(
                "timeout",
                f"read from {self.host} timed out: no data for {self.read_timeout:g} s (read_timeout)",
                url=url,
            )
        if self.killed:
            raise self.deadline.error(self.killed, url)
        if self.blocked:
            raise FetchError("blocked_address", f"refused: {self.blocked}", url=url)
        code, message = failure.args if failure is not None else (0, "no response")
        reason = self.deadline.expired_reason()
        if reason and (reason == "cancelled" or code == 28 or self.connected):
            raise self.deadline.error(reason, url)
        raise classify(
            code,
            message,
            url,
            host=self.host,
            os_errno=self.curl.getinfo(pycurl.OS_ERRNO),
            connected=self.connected,
            read_timeout=self.read_timeout,
        )

    # -- libcurl's callbacks (they never raise: an error is kept for _outcome)

    def _on_header(self, line: bytes):
        self.last = _monotonic()
        if line[:5] == b"HTTP/":  # a status line: a response begins (1xx ones too)
            parts = line.split(None, 2)
            self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            self.reason = parts[2].decode("latin-1").strip() if len(parts) > 2 else ""
            self.lines = []
            self.headers = None
            self.body = None
            self.discard = False
            return None
        if line == b"\r\n" or line == b"\n":
            return self._headers_done() if self.status >= 200 else None
        text = line.decode("latin-1")
        if text[:1] in (" ", "\t") and self.lines:  # a folded continuation line
            name, value = self.lines[-1]
            self.lines[-1] = (name, f"{value} {text.strip()}")
            return None
        name, sep, value = text.partition(":")
        if sep:
            self.lines.append((name.strip(), value.strip()))
        return None

    def _headers_done(self):
        status = self.status
        self.headers = headers = Headers(self.lines)
        if 300 <= status < 400 and status != 304:
            # Followed (or refused) by the fetcher; the body is not wanted,
            # and an empty one leaves the connection open for the next hop.
            self.discard = True
            return None if headers.get("Content-Length", "").strip() == "0" else -1
        if status >= 400:
            left = self.deadline.remaining()
            self.deadline = Deadline(max(0.05, min(_PEEK_SECONDS, left)), self.deadline.stop)
            self.body = Body(self.url, status, headers, PEEK, peek=True)
            return None
        if status == 304 or status == 204:
            return None
        try:
            self.body = Body(self.url, status, headers, self.cap)
        except FetchError as e:
            self.error = e
            return -1
        return None

    def _on_data(self, data: bytes):
        self.last = _monotonic()
        body = self.body
        if body is None:
            return 0 if self.discard else None
        stop = self.deadline.stop
        if stop is not None and stop.is_set():
            if not body.peek:
                self.error = self.deadline.error("cancelled", self.url)
            return 0
        try:
            return 0 if body.feed(data) else None
        except FetchError as e:
            self.error = e
            return 0

    def _sending(self, *_address):
        if self.killed:  # the stop event, while the name was looked up
            return pycurl.PREREQFUNC_ABORT
        self.connected = True
        self.last = _monotonic()
        return pycurl.PREREQFUNC_OK

    def _open(self, _purpose, address):
        family, socktype, protocol, addr = address
        if self.guarded:
            kind = refusal(str(addr[0]), self.allow)
            if kind:
                self.blocked = f"{self.host} resolves to {addr[0]}, a {kind} address"
                return pycurl.SOCKET_BAD
        try:
            sock = socket.socket(family, socktype, protocol)
        except OSError:
            return pycurl.SOCKET_BAD
        self._pending.append(sock)  # pycurl hands libcurl a copy of it
        return sock

    def _opened(self, fd: int, _purpose):
        with self._lock:
            self._fds.add(fd)
        self._drop_pending()
        return 0

    def _drop_pending(self) -> None:
        for sock in self._pending:
            sock.close()
        self._pending.clear()

    def _close(self, fd: int):
        with self._lock:
            self._fds.discard(fd)
            try:
                os.close(fd)
            except OSError:
                pass
        return 0

    # -- the watchdog's side -------------------------------------------------

    def due(self, now: float) -> str | None:
        deadline = self.deadline
        if deadline.stop is not None and deadline.stop.is_set():
            return "cancelled"
        if now >= deadline.at:
            return "timeout"
        if self.connected and self.read_timeout and now - self.last > self.read_timeout:
            return "read_timeout"
        return None

    def kill(self, reason: str) -> bool:
        """End the request: shut down every socket of the handle (a blocked
        read returns at once; libcurl then closes them). False when it has
        none yet (a name being looked up): the request is refused as it
        is about to go out, and the watchdog tries again."""
        self.killed = reason
        with self._lock:
            if not self._fds:
                return False
            for fd in self._fds:
                try:
                    sock = socket.socket(fileno=fd)
                except OSError:
                    continue
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                finally:
                    sock.detach()
        return True

    def close(self) -> None:
        self.curl.close()  # libcurl closes its sockets through _close
