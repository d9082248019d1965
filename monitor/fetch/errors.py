"""What a fetch returns, and the one-line errors it raises: every failure
of libcurl or the socket is mapped to one reason of REASONS."""

from __future__ import annotations

import errno
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import urlsplit

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


# libcurl's error codes (CURLE_*) that the mapping below tells apart
_RESOLVE_PROXY, _RESOLVE_HOST, _CONNECT, _TIMED_OUT = 5, 6, 7, 28
_TLS = frozenset({35, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91, 98})
_MALFORMED = frozenset({3})


def reason_phrase(status: int, reason: str) -> str:
    return (reason or _standard_phrase(status)).strip()


def _standard_phrase(status: int) -> str:
    # http.HTTPStatus, not http.client's table of the same phrases: importing
    # http.client brings ssl and the email package into every start-up
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def host_of(url: str) -> str:
    try:
        return urlsplit(url).hostname or url
    except ValueError:
        return url


def classify(
    code: int,
    message: str,
    url: str,
    *,
    host: str | None = None,
    os_errno: int = 0,
    connected: bool = False,
    read_timeout: float | None = None,
) -> FetchError:
    """Map a libcurl error (code, message, and the errno of the socket call
    that failed) to a FetchError. `connected`: the request had been sent,
    so a timeout was one of reading.

    A read timeout names its own limit, so it reads apart from the total
    deadline ("deadline of N s exceeded"), which shares the reason "timeout"."""
    host = host or host_of(url)
    detail = " ".join(str(message).split()) or f"libcurl error {code}"
    if code in _MALFORMED:
        return FetchError("invalid_url", f"invalid URL: {url!r} ({detail})", url=url)
    if code == _RESOLVE_HOST:
        return FetchError("dns", f"cannot resolve host {host}", url=url)
    if code == _RESOLVE_PROXY:
        name = detail.rpartition(":")[2].strip() or "host"
        return FetchError("dns", f"cannot resolve proxy {name}", url=url)
    if code in _TLS:
        return FetchError("tls", f"TLS error with {host}: {detail[:200]}", url=url)
    if code == _TIMED_OUT:
        if not connected:
            return FetchError("timeout", f"connect to {host} timed out", url=url)
        limit = f": no data for {read_timeout:g} s (read_timeout)" if read_timeout else ""
        return FetchError("timeout", f"read from {host} timed out{limit}", url=url)
    if os_errno == errno.ECONNREFUSED:
        return FetchError("connect", f"connection to {host} refused", url=url)
    if os_errno == errno.ECONNRESET or "reset by peer" in detail:
        return FetchError("connect", f"connection to {host} reset", url=url)
    if os_errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return FetchError("connect", f"{host} unreachable", url=url)
    return FetchError("connect", f"connection to {host} failed: {detail[:200]}", url=url)
