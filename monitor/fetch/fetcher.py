"""The one HTTP door (DESIGN.md): conditional GET, size cap, total deadline,
bounded redirects, cancellation and an honest User-Agent.

Everything else in the monitor takes the bytes this module returns; no other
module opens a socket.

This module is the policy (which headers go where, redirects, the address
guard, proxies); the transport is libcurl (curl.py, through pycurl). libcurl
runs a request with the GIL released, where an HTTP client written in
Python (urllib3, before) spent most of a fetch's CPU under the GIL that the
fetch threads share with parsing. What is worked out from a URL (its
origin, the form libcurl takes, Basic credentials; urls.py) is kept per
URL, and the environment's proxy per origin: a running monitor asks for
the same URLs every cycle.

How the limits hold:

* libcurl's own timeout is the total deadline, its connect timeout the
  connect_timeout; a watchdog thread (limits.py) shuts the sockets of a
  request down when the stop event is set or no data has come for
  read_timeout seconds, so a stalled fetch ends within a fraction of a
  second of either.
* The body is decompressed here, not by libcurl, with ``max_length`` on
  every zlib call, as each piece arrives (body.py), so a gzip bomb grows
  memory by one piece at a time and the download stops as soon as the
  decompressed count passes ``max_bytes``.
* Redirects are followed by hand (at most five), and the body of a 3xx
  response is never read.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Generator
from dataclasses import replace
from typing import cast
from urllib.parse import urljoin, urlsplit

import monitor
from monitor.config import FetchSettings
from monitor.fetch.cookies import cookie_header, remember, with_cookies
from monitor.fetch.curl import Reply, Transfer
from monitor.fetch.errors import (
    MAX_REDIRECTS,
    FetchError,
    FetchResult,
    reason_phrase,
)
from monitor.fetch.guard import BlockedAddress, host_kind, resolves_inside, vetted
from monitor.fetch.limits import Deadline, Watchdog
from monitor.fetch.multi import Batch
from monitor.fetch.pools import Pools, ca_location
from monitor.fetch.urls import Target, line, origin_of, parse_target, same_origin

__all__ = ["Fetcher", "default_user_agent", "origin_of", "same_origin"]

_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
_MAX_TARGETS = 8192  # URLs worked out and kept (feeds, then article links)

# One request of a fetch: (target, header lines, deadline, proxy, guarded)
Hop = tuple[Target, list[bytes], Deadline, "str | None", bool]


def default_user_agent(settings: FetchSettings) -> str:
    if settings.user_agent:
        return settings.user_agent
    ua = f"privacy-monitor/{monitor.__version__}"
    if settings.contact:
        ua += f" (+{settings.contact})"
    return ua


class Fetcher:
    """HTTP GET with the monitor's limits. Safe to share between threads
    (each fetch in flight has a Curl handle of its own)."""

    def __init__(self, settings: FetchSettings, stop: threading.Event | None = None):
        self.settings = settings
        self.stop = stop
        self.user_agent = default_user_agent(settings)
        self.headers = {
            "User-Agent": self.user_agent,
            "Accept-Encoding": "gzip, deflate",  # decoded here (body.py), never by libcurl
            "Accept": "application/rss+xml, application/atom+xml, application/feed+json, "
            "application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.8, */*;q=0.5",
            "Connection": "keep-alive",  # HTTP/1.0 servers and proxies close without it
        }
        self._own = {k.lower() for k in self.headers}
        self._own_lines = [line(k, v) for k, v in self.headers.items()]
        self._watchdog = Watchdog()
        self._pools = Pools(settings, self._watchdog)
        self._targets: dict[str, Target] = {}
        self._configured: dict[tuple, list[bytes]] = {}

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._watchdog.close()
        self._pools.close()

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
        deadline: float | None = None,
    ) -> FetchResult:
        """GET `url`. `proxy` (http://, https://, socks5:// or socks5h://
        host:port, credentials allowed) overrides the standard HTTP(S)_PROXY
        / ALL_PROXY / NO_PROXY environment variables for this fetch.

        `headers` (a source's configured headers) go to the origin of `url`
        only: a redirect to another scheme, host or port drops them all.

        `content_link`: the URL was found inside fetched content (an article
        link, its robots.txt), not configured by the user. Unless
        fetch.allow_private_links is set, every hop must then connect to a
        public address; a loopback, private, link-local or metadata address
        fails as "blocked_address". A configured URL on a public host is
        held to the same once it redirects: its hops may not reach inside
        either (fetch.allow_networks opens a network to both). A redirect
        from https to http is followed but never remembered as the source's
        new address.

        `deadline` shortens fetch.deadline for this fetch (what is left of a
        poll's budget for its article pages)."""
        steps = self.steps(
            url,
            etag=etag,
            last_modified=last_modified,
            headers=headers,
            proxy=proxy,
            content_link=content_link,
            deadline=deadline,
        )
        reply: Reply | None = None
        while True:
            try:
                hop = steps.send(reply)
            except StopIteration as done:
                return done.value
            reply = self._send(*hop)

    def steps(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        headers: dict | None = None,
        proxy: str | None = None,
        content_link: bool = False,
        deadline: float | None = None,
    ) -> Generator[Hop, Reply | None, FetchResult]:
        """`get`, as the requests it makes: yields each hop's request
        (target, header lines, deadline, proxy, guarded), is sent its Reply,
        and returns the FetchResult. get runs it one request at a time on
        its thread; a Batch (multi.py) runs many at once."""
        seconds = (
            self.settings.deadline if deadline is None else min(deadline, self.settings.deadline)
        )
        limit = Deadline(max(seconds, 0.05), self.stop)
        first = self._target(url)
        current = first
        permanent: str | None = None
        all_permanent = True
        guarded = content_link and not self.settings.allow_private_links
        jar = None  # cookies set by this fetch's redirects
        for _hop in range(MAX_REDIRECTS + 1):
            limit.check(current.url)
            configured = headers if current.origin == first.origin else None
            lines = self._lines(current, configured, etag, last_modified, jar)
            reply = cast(Reply, (yield (current, lines, limit, proxy, guarded)))
            location = reply.headers.get("Location") if reply.status in _REDIRECT_CODES else None
            if location:
                jar = remember(jar, current.url, reply.headers)
                target = self._target(urljoin(current.url, location.strip()))
                if not guarded and not self.settings.allow_private_links:
                    # Through a proxy (the source's or the environment's),
                    # judged without a DNS lookup of our own.
                    proxy = proxy or self._env_proxy(target)
                    guarded = not self._inside(url, proxy)
                downgrade = first.scheme == "https" and target.scheme == "http"
                all_permanent = all_permanent and reply.status in (301, 308) and not downgrade
                if all_permanent:
                    permanent = target.url
                current = target
                continue
            result = self._finish(reply, current.url, etag, last_modified)
            if permanent and permanent != url:
                result = replace(result, permanent_url=permanent)
            return result
        raise FetchError("redirects", f"more than {MAX_REDIRECTS} redirects", url=url)

    def batch(self) -> Batch:
        """A batch of fetches run at once on the calling thread (multi.py)."""
        return Batch(self)

    def start(self, hop: Hop) -> Transfer:
        """A handle set up for one hop of `steps`, for a Batch to perform;
        give it back with `release` once its `end` is called."""
        transfer, args = self._prepare(*hop, batched=True)
        try:
            transfer.begin(*args)
        except BaseException:
            self._pools.give(transfer)
            raise
        return transfer

    def release(self, transfer: Transfer) -> None:
        self._pools.give(transfer)

    # -- internals --------------------------------------------------------

    def _target(self, url: str) -> Target:
        """parse_target(url), kept: a monitor asks for the same URLs again."""
        found = self._targets.get(url)
        if found is None:
            found = parse_target(url)
            if len(self._targets) >= _MAX_TARGETS:
                self._targets.clear()
            self._targets[url] = found
        return found

    def _lines(
        self,
        target: Target,
        configured: dict | None,
        etag: str | None,
        last_modified: str | None,
        jar,
    ) -> list[bytes]:
        """The request's header lines: ours under the source's configured
        ones (names compared without case), the validators, the cookies of
        this fetch's redirects and the URL's credentials."""
        try:
            lines = self._configured_lines(configured) if configured else self._own_lines
            extra: list[bytes] = []
            if etag:
                extra.append(line("If-None-Match", etag))
            if last_modified:
                extra.append(line("If-Modified-Since", last_modified))
            cookie = cookie_header(jar, target.url) if jar is not None else None
            if cookie:
                given = with_cookies(dict(configured or {}), cookie)
                name = next(k for k in given if k.lower() == "cookie")
                lines = [x for x in lines if not x.lower().startswith(b"cookie:")]
                extra.append(line(name, given[name]))
            if target.auth is not None:
                lines = [x for x in lines if not x.lower().startswith(b"authorization:")]
                extra.append(target.auth)
        except (ValueError, UnicodeError) as e:
            raise FetchError(
                "invalid_url", f"invalid URL: {target.url!r} ({e})", url=target.url
            ) from None
        return lines + extra if extra else lines

    def _configured_lines(self, configured: dict) -> list[bytes]:
        key = tuple(configured.items())
        found = self._configured.get(key)
        if found is None:
            lower = {str(k).lower() for k in configured}
            found = [line(k, v) for k, v in self.headers.items() if k.lower() not in lower] + [
                line(str(k), str(v)) for k, v in configured.items()
            ]
            if len(self._configured) >= 1024:
                self._configured.clear()
            self._configured[key] = found
        return found

    def _allowed(self, address: str) -> bool:
        ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
        return any(ip in net for net in self._pools.allow)

    def _env_proxy(self, target: Target) -> str | None:
        return self._pools.environment_proxy(target.origin, target.url)

    def _inside(self, url: str, proxy: str | None) -> bool:
        """Whether a configured URL is itself on an internal host (then its
        redirects may stay inside), asked once it redirects. Through a proxy
        only what the URL says counts: the name is the proxy's to resolve."""
        parts = urlsplit(url)
        if proxy:
            return host_kind(parts.hostname or "") is not None
        return resolves_inside(parts.hostname or "", parts.port)

    def _check_proxied(self, target: Target) -> None:
        """A guarded fetch through a proxy: the proxy resolves the name, so
        only what the URL itself says can be judged here (a literal
        internal address, localhost)."""
        host = target.host
        kind = host_kind(host)
        if kind is None:
            return
        try:
            allowed = self._allowed(host)
        except ValueError:  # a name (localhost), not an address
            allowed = False
        if not allowed:
            raise FetchError(
                "blocked_address", f"refused: {host} is a {kind} address", url=target.url
            )

    def _pin(self, target: Target) -> list[str]:
        """A guarded fetch without a proxy: every address of the host checked
        here, and libcurl told to connect to those (its sockets are checked
        again as they open)."""
        host = target.ascii_host
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
            literal = True
        except ValueError:
            literal = False
        try:
            addresses = vetted(host, target.port, self._pools.allow)
        except BlockedAddress as e:
            raise FetchError("blocked_address", f"refused: {e}", url=target.url) from None
        except (OSError, UnicodeError, ValueError):
            raise FetchError("dns", f"cannot resolve host {target.host}", url=target.url) from None
        if literal:
            return []
        shown = ",".join(f"[{a}]" if ":" in a else a for a in addresses)
        return [f"{host}:{target.port}:{shown}"]

    def _send(
        self,
        target: Target,
        lines: list[bytes],
        deadline: Deadline,
        proxy: str | None = None,
        guarded: bool = False,
    ) -> Reply:
        """One request, on this thread; the body read only when its status wants it."""
        transfer, args = self._prepare(target, lines, deadline, proxy, guarded)
        try:
            return transfer.run(*args)
        finally:
            self._pools.give(transfer)

    def _prepare(
        self,
        target: Target,
        lines: list[bytes],
        deadline: Deadline,
        proxy: str | None,
        guarded: bool,
        batched: bool = False,
    ) -> tuple[Transfer, tuple]:
        """A handle for one request, and the arguments of its run. Links
        found in content connect to checked public addresses only, on handles
        of their own, and never through the environment's proxies: a proxy's
        own address would be what the guard checks."""
        if guarded and proxy:
            self._check_proxied(target)
        if not proxy and not guarded:
            proxy = self._pools.environment_proxy(target.origin, target.url)
        if target.scheme == "https" or (proxy and proxy[:8].lower() == "https://"):
            trouble = self._pools.ca_error()
            if trouble is not None:
                raise FetchError(
                    "tls",
                    f"cannot read CA certificates from {ca_location()}: "
                    f"{trouble.strerror or trouble}",
                    url=target.url,
                )
        direct_guard = guarded and not proxy
        pin = self._pin(target) if direct_guard else None
        settings = self.settings
        args = (
            target.url,
            target.curl_url,
            target.host,
            lines,
            proxy,
            deadline,
            settings.connect_timeout,
            settings.read_timeout,
            settings.max_bytes,
            pin,
        )
        return self._pools.take(direct_guard, batched), args

    def _finish(
        self,
        reply: Reply,
        url: str,
        sent_etag: str | None,
        sent_last_modified: str | None,
    ) -> FetchResult:
        status = reply.status
        hdrs = reply.headers  # case-insensitive
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
                f"http {status} {reason_phrase(status, reply.reason)}".strip(),
                status=status,
                url=url,
                headers=hdrs,
                body_head=reply.body,
            )
        if 300 <= status < 400:
            raise FetchError(
                "http",
                f"http {status} {reason_phrase(status, reply.reason)} without a usable Location".strip(),
                status=status,
                url=url,
            )
        return FetchResult(
            url=url,
            status=status,
            headers=hdrs,
            body=reply.body,
            not_modified=False,
            etag=hdrs.get("ETag"),
            last_modified=hdrs.get("Last-Modified"),
        )
