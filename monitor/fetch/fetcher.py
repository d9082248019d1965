"""The one HTTP door (DESIGN.md): conditional GET, size cap, total deadline,
bounded redirects, cancellation and an honest User-Agent.

Everything else in the monitor takes the bytes this module returns; no other
module opens a socket.

How the limits hold:

* The body is read with ``stream=True`` in small pieces (``read1``, which
  returns as soon as *any* bytes arrive, so a server dripping one byte a
  second is seen byte by byte) and the deadline and the stop event are checked
  between pieces.
* The body is decompressed here, not by urllib3, with ``max_length`` on every
  zlib call, so a gzip bomb grows memory by one piece at a time and the
  download stops as soon as the decompressed count passes ``max_bytes``.
* A watchdog thread shuts the socket down when the deadline passes or the
  stop event is set while a read is blocked on a silent server, so a stalled
  fetch ends within a fraction of a second of either.
* Redirects are followed by hand (at most five), and the body of a 3xx
  response is never read.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.client import responses as _REASONS
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import requests.adapters
from requests.structures import CaseInsensitiveDict

import monitor

from .config import FetchSettings

MAX_REDIRECTS = 5
_CHUNK = 64 * 1024
_REDIRECT_CODES = {301, 302, 303, 307, 308}
_WATCHDOG_TICK = 0.1
# Headers that must not follow a redirect to another host.
_PRIVATE_HEADERS = ("authorization", "cookie", "proxy-authorization")

REASONS = frozenset(
    {
        "dns",
        "connect",
        "tls",
        "timeout",
        "http",
        "too_large",
        "redirects",
        "cancelled",
        "invalid_url",
        "robots",
        "blocked_address",
    }
)


@dataclass(frozen=True)
class FetchResult:
    url: str  # final URL, after redirects
    status: int
    headers: Mapping[str, str] = field(repr=False)  # case-insensitive
    body: bytes = field(repr=False)
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None
    # Where 301/308 redirects from the requested URL led, when they all were
    # permanent: the address to ask next time.
    permanent_url: str | None = None

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


class FetchError(Exception):
    """A fetch that did not produce a usable response.

    ``reason`` is one of REASONS; ``status`` is the HTTP status when there was
    one. ``str(e)`` is a single line."""

    def __init__(
        self,
        reason: str,
        message: str,
        status: int | None = None,
        url: str | None = None,
        headers: Mapping[str, str] | None = None,
        body_head: bytes = b"",
    ):
        assert reason in REASONS, reason
        message = " ".join(str(message).split())
        super().__init__(message)
        self.reason = reason
        self.status = status
        self.url = url
        self.headers = headers or {}  # of an HTTP error response (Retry-After, bot-wall marks)
        self.body_head = body_head  # the first few KB of an error response's body


def default_user_agent(settings: FetchSettings) -> str:
    if settings.user_agent:
        return settings.user_agent
    ua = f"privacy-monitor/{monitor.__version__}"
    if settings.contact:
        ua += f" (+{settings.contact})"
    return ua


class _Deadline:
    """Why a fetch must end now, if it must."""

    def __init__(self, seconds: float, stop: threading.Event | None):
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.stop = stop
        self.killed: str | None = None  # set by the watchdog: "timeout" or "cancelled"

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def expired_reason(self) -> str | None:
        if self.stop is not None and self.stop.is_set():
            return "cancelled"
        if time.monotonic() >= self.at:
            return "timeout"
        return None

    def error(self, reason: str, url: str) -> FetchError:
        if reason == "cancelled":
            return FetchError("cancelled", "fetch cancelled: the service is stopping", url=url)
        return FetchError("timeout", f"deadline of {self.seconds:g} s exceeded", url=url)

    def check(self, url: str) -> None:
        reason = self.expired_reason()
        if reason:
            raise self.error(reason, url)


class _Watchdog:
    """One daemon thread per Fetcher that shuts down the socket of a body
    read that has outlived its deadline or whose stop event is set. Reads that
    make progress are stopped between pieces anyway; this is for a server
    that has gone silent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[int, tuple[_Deadline, requests.Response]] = {}
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def watch(self, deadline: _Deadline, resp: requests.Response) -> int:
        with self._lock:
            token = id(resp)
            self._active[token] = (deadline, resp)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="fetch-watchdog", daemon=True
                )
                self._thread.start()
            return token

    def unwatch(self, token: int) -> None:
        with self._lock:
            self._active.pop(token, None)

    def close(self) -> None:
        self._closed.set()

    def _run(self) -> None:
        while not self._closed.wait(_WATCHDOG_TICK):
            with self._lock:
                if not self._active:  # idle: end; the next watch() starts a new thread
                    self._thread = None
                    return
                due = [(t, d, r) for t, (d, r) in self._active.items() if d.expired_reason()]
                for token, _, _ in due:
                    self._active.pop(token, None)
            for _, deadline, resp in due:
                deadline.killed = deadline.expired_reason()
                _shutdown_socket(resp)


def _response_socket(resp: requests.Response) -> socket.socket | None:
    raw = resp.raw
    for path in (("connection", "sock"), ("_connection", "sock"), ("_fp", "fp", "raw", "_sock")):
        obj: Any = raw
        try:
            for attr in path:
                obj = getattr(obj, attr)
        except AttributeError:
            continue
        if isinstance(obj, socket.socket):
            return obj
    return None


def _shutdown_socket(resp: requests.Response) -> None:
    sock = _response_socket(resp)
    try:
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Decoder:
    """Incremental Content-Encoding decoder with bounded output per call."""

    def __init__(self, coding: str):
        self.coding = coding
        self._first = True
        if coding in ("gzip", "x-gzip"):
            self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
        else:
            self._obj = zlib.decompressobj()

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._first and data:
            self._first = False
            # deflate is zlib-wrapped per the RFC but raw from some servers.
            if self.coding == "deflate" and not (
                len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            ):
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
        while data:
            if self._obj.eof:
                if self.coding == "deflate" or not data.startswith(b"\x1f\x8b"):
                    return  # padding or trailing bytes after the stream
                self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)  # the next gzip member
            before = len(data)
            out = self._obj.decompress(data, _CHUNK)
            data = self._obj.unused_data if self._obj.eof else self._obj.unconsumed_tail
            if out:
                yield out
            elif len(data) >= before:
                return

    def flush(self) -> bytes:
        try:
            return self._obj.flush()
        except zlib.error:
            return b""


def _reason_phrase(resp: requests.Response) -> str:
    return (resp.reason or _REASONS.get(resp.status_code, "")).strip()


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack.extend([e.__cause__, e.__context__])  # type: ignore[list-item]
        for arg in getattr(e, "args", ()):
            if isinstance(arg, BaseException):
                stack.append(arg)
        reason = getattr(e, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)


def _classify(exc: BaseException, url: str) -> FetchError:
    """Map a requests/urllib3/socket exception to a FetchError."""
    chain = list(_chain(exc))
    names = {type(e).__name__ for e in chain}
    host = urlsplit(url).hostname or url
    if isinstance(exc, requests.exceptions.TooManyRedirects):
        return FetchError("redirects", f"more than {MAX_REDIRECTS} redirects", url=url)
    if isinstance(
        exc,
        (
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
            requests.exceptions.URLRequired,
        ),
    ):
        return FetchError("invalid_url", f"invalid URL: {url}", url=url)
    if any(isinstance(e, socket.gaierror) for e in chain) or "NameResolutionError" in names:
        return FetchError("dns", f"cannot resolve host {host}", url=url)
    if isinstance(exc, requests.exceptions.SSLError) or any(
        isinstance(e, ssl.SSLError) for e in chain
    ):
        detail = next((str(e) for e in chain if isinstance(e, ssl.SSLError)), "handshake failed")
        return FetchError("tls", f"TLS error with {host}: {detail}", url=url)
    if isinstance(exc, requests.exceptions.ConnectTimeout) or "ConnectTimeoutError" in names:
        return FetchError("timeout", f"connect to {host} timed out", url=url)
    if (
        isinstance(exc, requests.exceptions.Timeout)
        or any(isinstance(e, (socket.timeout, TimeoutError)) for e in chain)
        or "ReadTimeoutError" in names
    ):
        return FetchError("timeout", f"read from {host} timed out", url=url)
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return FetchError("connect", f"connection to {host} refused", url=url)
    if any(isinstance(e, ConnectionResetError) for e in chain):
        return FetchError("connect", f"connection to {host} reset", url=url)
    for e in chain:
        if isinstance(e, OSError) and e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return FetchError("connect", f"{host} unreachable", url=url)
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return FetchError("connect", f"connection to {host} failed: {detail[:200]}", url=url)


# -- links found in content: public addresses only ------------------------------

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT


def address_kind(address: str) -> str | None:
    """Why an IP address is not a public one (loopback, private, link-local,
    which holds cloud metadata services, ...), or None when it is public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local (cloud metadata)"
    if ip.version == 4 and ip in _SHARED:
        return "shared (carrier NAT)"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return "reserved"
    if ip.is_private:
        return "private"
    return None


class BlockedAddress(Exception):
    """A link found in content resolved to an address it may not reach."""


def _guarded_pools(allow: tuple) -> dict:
    """urllib3 pool classes whose connections resolve the host, refuse it
    when any of its addresses is not public (unless in `allow`), and connect
    to the address they checked, so a second DNS answer cannot slip in
    between the check and the connection. Every redirect hop opens its
    connection through here."""
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
    from urllib3.exceptions import NameResolutionError

    def vetted(conn) -> str:
        try:
            infos = socket.getaddrinfo(conn._dns_host, conn.port, 0, socket.SOCK_STREAM)
        except socket.gaierror as e:
            raise NameResolutionError(conn.host, conn, e) from e
        first = None
        for info in infos:
            addr = info[4][0]
            kind = address_kind(addr)
            if kind and not any(
                ipaddress.ip_address(addr.split("%", 1)[0]) in net for net in allow
            ):
                raise BlockedAddress(f"{conn.host} resolves to {addr}, a {kind} address")
            first = first or addr
        return first or conn._dns_host

    class _Guard:
        def _new_conn(self):  # type: ignore[override]
            host = self._dns_host
            self._dns_host = vetted(self)
            try:
                return super()._new_conn()
            finally:
                self._dns_host = host

    class GuardedHTTP(_Guard, HTTPConnection):
        pass

    class GuardedHTTPS(_Guard, HTTPSConnection):
        pass

    class HTTPPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTP

    class HTTPSPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPS

    return {"http": HTTPPool, "https": HTTPSPool}


class Fetcher:
    """HTTP GET with the monitor's limits. Safe to share between threads
    (one requests.Session; its connection pool is thread-safe)."""

    def __init__(self, settings: FetchSettings, stop: threading.Event | None = None):
        self.settings = settings
        self.stop = stop
        self.user_agent = default_user_agent(settings)
        self.session = requests.Session()
        self.session.max_redirects = MAX_REDIRECTS
        self.session.headers.update(
            {
                "User-Agent": self.user_agent,
                "Accept-Encoding": "gzip, deflate",
                "Accept": "application/rss+xml, application/atom+xml, application/feed+json, "
                "application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.8, */*;q=0.5",
            }
        )
        self._watchdog = _Watchdog()
        self._guarded: requests.Session | None = None
        self._guard_lock = threading.Lock()

    def _guarded_session(self) -> requests.Session:
        """The session for links found in content: public addresses only
        (see _guarded_pools), no proxies from the environment (a proxy's
        own address would be what the guard checks)."""
        with self._guard_lock:
            if self._guarded is None:
                sess = requests.Session()
                sess.headers.update(self.session.headers)
                sess.trust_env = False
                allow = tuple(
                    ipaddress.ip_network(n, strict=False) for n in self.settings.allow_networks
                )
                pools = _guarded_pools(allow)
                for prefix in ("http://", "https://"):
                    adapter = requests.adapters.HTTPAdapter()
                    adapter.poolmanager.pool_classes_by_scheme = pools
                    sess.mount(prefix, adapter)
                self._guarded = sess
            return self._guarded

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._watchdog.close()
        self.session.close()
        if self._guarded is not None:
            self._guarded.close()

    # -- public ---------------------------------------------------------

    def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        headers: dict | None = None,
        proxy: str | None = None,
        content_link: bool = False,
    ) -> FetchResult:
        """GET `url`. `proxy` (http://host:port) overrides the standard
        HTTP(S)_PROXY / NO_PROXY environment variables for this fetch.

        `content_link`: the URL was found inside fetched content (an article
        link), not configured by the user. Unless fetch.allow_private_links
        is set, every hop must then connect to a public address; a loopback,
        private, link-local or metadata address fails as "blocked_address"."""
        deadline = _Deadline(self.settings.deadline, self.stop)
        self._check_url(url)
        req_headers: dict[str, str] = dict(headers or {})
        if etag:
            req_headers["If-None-Match"] = etag
        if last_modified:
            req_headers["If-Modified-Since"] = last_modified

        current = url
        permanent: str | None = None
        all_permanent = True
        for _hop in range(MAX_REDIRECTS + 1):
            deadline.check(current)
            resp = self._send(
                current,
                req_headers,
                deadline,
                proxy,
                guarded=content_link and not self.settings.allow_private_links,
            )
            if resp.status_code in _REDIRECT_CODES and resp.headers.get("Location"):
                resp.close()
                target = urljoin(current, resp.headers["Location"].strip())
                self._check_url(target)
                if (urlsplit(target).hostname or "") != (urlsplit(current).hostname or ""):
                    req_headers = {
                        k: v for k, v in req_headers.items() if k.lower() not in _PRIVATE_HEADERS
                    }
                all_permanent = all_permanent and resp.status_code in (301, 308)
                if all_permanent:
                    permanent = target
                current = target
                continue
            try:
                result = self._finish(resp, current, deadline, etag, last_modified)
            finally:
                resp.close()
            if permanent and permanent != url:
                from dataclasses import replace

                result = replace(result, permanent_url=permanent)
            return result
        raise FetchError("redirects", f"more than {MAX_REDIRECTS} redirects", url=url)

    # -- internals --------------------------------------------------------

    @staticmethod
    def _check_url(url: str) -> None:
        try:
            parts = urlsplit(url)
        except ValueError:
            raise FetchError("invalid_url", f"invalid URL: {url!r}", url=url) from None
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise FetchError("invalid_url", f"not an http(s) URL: {url!r}", url=url)

    def _send(
        self,
        url: str,
        headers: dict[str, str],
        deadline: _Deadline,
        proxy: str | None = None,
        guarded: bool = False,
    ) -> requests.Response:
        remaining = max(deadline.remaining(), 0.05)
        timeout = (
            min(self.settings.connect_timeout, remaining),
            min(self.settings.read_timeout, remaining),
        )
        proxies = {"http": proxy, "https": proxy} if proxy and not guarded else None
        session = self._guarded_session() if guarded else self.session
        try:
            return session.get(
                url,
                headers=headers,
                stream=True,
                allow_redirects=False,
                timeout=timeout,
                proxies=proxies,
            )
        except BlockedAddress as e:
            raise FetchError("blocked_address", f"refused: {e}", url=url) from None
        except requests.exceptions.RequestException as e:
            reason = deadline.expired_reason()
            if reason and isinstance(e, requests.exceptions.Timeout):
                raise deadline.error(reason, url) from None
            raise _classify(e, url) from None
        except (ValueError, UnicodeError) as e:  # e.g. a malformed host name
            raise FetchError("invalid_url", f"invalid URL: {url!r} ({e})", url=url) from None

    def _finish(
        self,
        resp: requests.Response,
        url: str,
        deadline: _Deadline,
        sent_etag: str | None,
        sent_last_modified: str | None,
    ) -> FetchResult:
        status = resp.status_code
        hdrs = CaseInsensitiveDict(resp.headers)
        if status == 304:
            return FetchResult(
                url=url,
                status=304,
                headers=hdrs,
                body=b"",
                not_modified=True,
                etag=hdrs.get("ETag") or sent_etag,
                last_modified=hdrs.get("Last-Modified") or sent_last_modified,
            )
        if status >= 400:
            raise FetchError(
                "http",
                f"http {status} {_reason_phrase(resp)}".strip(),
                status=status,
                url=url,
                headers=hdrs,
                body_head=self._peek_body(resp, url, deadline),
            )
        if 300 <= status < 400:
            raise FetchError(
                "http",
                f"http {status} {_reason_phrase(resp)} without a usable Location".strip(),
                status=status,
                url=url,
            )
        body = self._read_body(resp, url, deadline)
        return FetchResult(
            url=url,
            status=status,
            headers=hdrs,
            body=body,
            not_modified=False,
            etag=hdrs.get("ETag"),
            last_modified=hdrs.get("Last-Modified"),
        )

    def _read_body(self, resp: requests.Response, url: str, deadline: _Deadline) -> bytes:
        cap = self.settings.max_bytes
        coding = resp.headers.get("Content-Encoding", "").strip().lower()
        if coding in ("", "identity"):
            decoder: _Decoder | None = None
            declared = resp.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > cap:
                raise self._too_large(url)
        elif coding in ("gzip", "x-gzip", "deflate"):
            decoder = _Decoder(coding)
        else:
            decoder = None  # not one we asked for; let urllib3 decode (bounded in urllib3 >= 2.6)
        let_urllib3_decode = decoder is None and coding not in ("", "identity")

        parts: list[bytes] = []
        total = 0
        token = self._watchdog.watch(deadline, resp)
        try:
            for raw in self._raw_pieces(resp, url, deadline, let_urllib3_decode):
                pieces = decoder.feed(raw) if decoder else (raw,)
                for piece in pieces:
                    total += len(piece)
                    if total > cap:
                        raise self._too_large(url)
                    parts.append(piece)
                    deadline.check(url)
                deadline.check(url)
            if decoder:
                tail = decoder.flush()
                total += len(tail)
                if total > cap:
                    raise self._too_large(url)
                parts.append(tail)
        except zlib.error as e:
            raise FetchError(
                "http",
                f"http {resp.status_code} body is not valid {coding}: {e}",
                status=resp.status_code,
                url=url,
            ) from None
        finally:
            self._watchdog.unwatch(token)
        return b"".join(parts)

    def _peek_body(
        self, resp: requests.Response, url: str, deadline: _Deadline, limit: int = 8192
    ) -> bytes:
        """The first `limit` bytes of an error response (to tell a bot wall
        from a plain error); empty when they cannot be read quickly."""
        coding = resp.headers.get("Content-Encoding", "").strip().lower()
        decoder = _Decoder(coding) if coding in ("gzip", "x-gzip", "deflate") else None
        out = b""
        deadline = _Deadline(max(0.05, min(2.0, deadline.remaining())), deadline.stop)
        token = self._watchdog.watch(deadline, resp)
        try:
            for raw in self._raw_pieces(resp, url, deadline, False):
                for piece in decoder.feed(raw) if decoder else (raw,):
                    out += piece[: limit - len(out)]
                    if len(out) >= limit:
                        return out
        except (FetchError, zlib.error):
            pass
        finally:
            self._watchdog.unwatch(token)
        return out

    def _raw_pieces(
        self, resp: requests.Response, url: str, deadline: _Deadline, decode: bool
    ) -> Iterator[bytes]:
        raw = resp.raw
        read = getattr(raw, "read1", None) or raw.read
        while True:
            deadline.check(url)
            try:
                data = read(_CHUNK, decode_content=decode)
            except Exception as e:  # urllib3 and socket errors mid-body
                if deadline.killed:
                    raise deadline.error(deadline.killed, url) from None
                reason = deadline.expired_reason()
                if reason:
                    raise deadline.error(reason, url) from None
                raise _classify(e, url) from None
            if deadline.killed:
                raise deadline.error(deadline.killed, url)
            if not data:
                return
            yield data

    def _too_large(self, url: str) -> FetchError:
        return FetchError("too_large", f"body larger than {self.settings.max_bytes} bytes", url=url)
