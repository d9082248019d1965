"""Cookies set along one fetch's redirects, sent on its later hops.

Some sites answer a first visit with a cookie and a redirect, and loop
until the cookie comes back. The standard library's CookieJar decides which
cookie goes to which host and path; the jar lives for one fetch only, so
nothing set by one site outlives its fetch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a redirect first sets a cookie
    from http.cookiejar import CookieJar


class _Received:
    """The response side CookieJar reads: its Set-Cookie headers."""

    def __init__(self, headers: Mapping[str, str]):
        self._headers = headers

    def info(self) -> _Received:
        return self

    def get_all(self, name: str, default: list[str] | None = None) -> list[str] | None:
        getlist = getattr(self._headers, "getlist", None)
        found = (
            getlist(name)
            if getlist
            else [v for k, v in self._headers.items() if k.lower() == name.lower()]
        )
        return found or default


def remember(jar: CookieJar | None, url: str, headers: Mapping[str, str]) -> CookieJar | None:
    """The jar with the cookies a response from `url` set (made on the first)."""
    if "Set-Cookie" not in headers and "Set-Cookie2" not in headers:
        return jar
    if jar is None:
        from http.cookiejar import CookieJar

        jar = CookieJar()
    import urllib.request  # here: only a redirect that sets a cookie needs it

    jar.extract_cookies(_Received(headers), urllib.request.Request(url))  # type: ignore[arg-type]
    return jar


def cookie_header(jar: CookieJar | None, url: str) -> str | None:
    """The Cookie header the jar holds for `url`, if any."""
    if jar is None:
        return None
    import urllib.request

    request = urllib.request.Request(url)
    jar.add_cookie_header(request)
    return request.unredirected_hdrs.get("Cookie")


def with_cookies(headers: dict[str, str], cookie: str | None) -> dict[str, str]:
    """`headers` with `cookie` added to any Cookie header they have."""
    if not cookie:
        return headers
    out = dict(headers)
    name = next((k for k in out if k.lower() == "cookie"), "Cookie")
    out[name] = f"{out[name]}; {cookie}" if out.get(name) else cookie
    return out
