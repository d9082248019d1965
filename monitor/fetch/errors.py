"""What a fetch returns, and the one-line errors it raises: every failure
of urllib3 or the socket is mapped to one reason of REASONS."""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.client import responses as _REASONS
from urllib.parse import urlsplit

from urllib3 import BaseHTTPResponse
from urllib3 import exceptions as u3

MAX_REDIRECTS = 5

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


def reason_phrase(resp: BaseHTTPResponse) -> str:
    return (resp.reason or _REASONS.get(resp.status, "")).strip()


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


def _timed_out(e: BaseException) -> bool:
    # urllib3's NewConnectionError derives from its ConnectTimeoutError; a
    # refused or unresolvable connection is no timeout.
    return isinstance(e, (u3.TimeoutError, TimeoutError)) and not isinstance(
        e, u3.NewConnectionError
    )


def is_timeout(exc: BaseException) -> bool:
    """A connect or read timeout, however wrapped."""
    return any(_timed_out(e) for e in _chain(exc))


def classify(exc: BaseException, url: str, read_timeout: float | None = None) -> FetchError:
    """Map a urllib3/socket exception to a FetchError.

    A read timeout names its own limit, so it reads apart from the total
    deadline ("deadline of N s exceeded"), which shares the reason "timeout"."""
    chain = list(_chain(exc))
    names = {type(e).__name__ for e in chain}
    host = urlsplit(url).hostname or url
    if isinstance(exc, u3.LocationValueError):
        return FetchError("invalid_url", f"invalid URL: {url}", url=url)
    if any(isinstance(e, socket.gaierror) for e in chain) or "NameResolutionError" in names:
        return FetchError("dns", f"cannot resolve host {host}", url=url)
    if any(isinstance(e, (ssl.SSLError, u3.SSLError)) for e in chain):
        detail = next((str(e) for e in chain if isinstance(e, ssl.SSLError)), "handshake failed")
        return FetchError("tls", f"TLS error with {host}: {detail}", url=url)
    if any(isinstance(e, u3.ConnectTimeoutError) and _timed_out(e) for e in chain):
        return FetchError("timeout", f"connect to {host} timed out", url=url)
    if any(_timed_out(e) for e in chain):
        limit = f": no data for {read_timeout:g} s (read_timeout)" if read_timeout else ""
        return FetchError("timeout", f"read from {host} timed out{limit}", url=url)
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return FetchError("connect", f"connection to {host} refused", url=url)
    if any(isinstance(e, ConnectionResetError) for e in chain):
        return FetchError("connect", f"connection to {host} reset", url=url)
    for e in chain:
        if isinstance(e, OSError) and e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return FetchError("connect", f"{host} unreachable", url=url)
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return FetchError("connect", f"connection to {host} failed: {detail[:200]}", url=url)
