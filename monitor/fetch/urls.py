"""What the fetcher works out from a URL, once per URL: its origin (which
configured headers it may get), and the form libcurl takes it in (no
credentials or fragment, the host in ASCII, the path percent-encoded)
with the Basic authorization its user:password@ makes."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, unquote, urlsplit

from monitor.fetch.errors import FetchError

_PORTS = {"http": 80, "https": 443}
# What a URL's path and query may hold as they are; anything else (spaces,
# non-ASCII text) is percent-encoded as UTF-8 before libcurl sees it.
_URL_SAFE = re.compile(r"[A-Za-z0-9\-._~:/?\[\]@!$&'()*+,;=%]*\Z")


@lru_cache(maxsize=8192)
def origin_of(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, the port made explicit."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ("", url, None)
    scheme = parts.scheme.lower()
    return (scheme, (parts.hostname or "").lower(), port or _PORTS.get(scheme))


def same_origin(a: str, b: str) -> bool:
    return a == b or origin_of(a) == origin_of(b)


@dataclass(frozen=True, slots=True)
class Target:
    """A URL as the transport takes it, worked out once."""

    url: str  # as given
    curl_url: str  # no credentials or fragment, host in ASCII, path percent-encoded
    scheme: str
    host: str  # lower case, as in messages
    ascii_host: str  # as libcurl looks it up (IDNA), no brackets
    port: int
    origin: tuple[str, str, int | None]
    auth: bytes | None  # the Authorization line user:password@ in the URL makes


def line(name: str, value: str) -> bytes:
    """One request header line; an empty value is sent empty (libcurl would
    otherwise drop the header)."""
    if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
        raise ValueError(f"line break in header {name!r}")
    return (f"{name}: {value}" if value else f"{name};").encode("latin-1")


def parse_target(url: str) -> Target:
    """Target for `url`, or FetchError("invalid_url")."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchError("invalid_url", f"invalid URL: {url!r}", url=url) from None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _PORTS or not host:
        raise FetchError("invalid_url", f"not an http(s) URL: {url!r}", url=url)
    try:
        ascii_host = host if host.isascii() else _idna(host)
    except (UnicodeError, ValueError) as e:
        raise FetchError("invalid_url", f"invalid URL: {url!r} ({e})", url=url) from None
    netloc = parts.netloc.rpartition("@")[2]
    if ascii_host != host:
        netloc = ascii_host + (f":{port}" if port else "")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if not _URL_SAFE.match(path):
        path = quote(path, safe="/:?[]@!$&'()*+,;=%~")
    if any(ord(ch) < 33 or ord(ch) > 126 for ch in netloc):
        raise FetchError("invalid_url", f"invalid URL: {url!r}", url=url)
    auth = None
    if "@" in parts.netloc and parts.username is not None:  # becomes Basic authorization
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        token = base64.b64encode(pair.encode("latin-1", "replace")).decode("ascii")
        auth = f"Authorization: Basic {token}".encode("ascii")
    port = port or _PORTS[scheme]
    return Target(
        url=url,
        curl_url=f"{scheme}://{netloc}{path}",
        scheme=scheme,
        host=host.lower(),
        ascii_host=ascii_host.strip("[]"),
        port=port,
        origin=(scheme, host.lower(), port),
        auth=auth,
    )


def _idna(host: str) -> str:
    import idna

    return idna.encode(host, uts46=True).decode("ascii")
