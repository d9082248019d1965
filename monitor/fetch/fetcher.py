"""The one HTTP door (DESIGN.md): conditional GET, size cap, total deadline,
bounded redirects, cancellation and an honest User-Agent.

Everything else in the monitor takes the bytes this module returns; no other
module opens a socket.

It speaks urllib3 directly (pools.py keeps its pool managers): through
requests a fetch took more than twice the CPU, spent under the GIL that the
fetch threads share with parsing.

How the limits hold:

* The body is read unpreloaded (body.py), in small pieces (``read1``, which
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

import base64
import ipaddress
import threading
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import urllib3
from urllib3 import BaseHTTPResponse
from urllib3.util import Retry, Timeout

import monitor
from monitor.config import FetchSettings
from monitor.fetch.body import BodyReader
from monitor.fetch.cookies import cookie_header, remember, with_cookies
from monitor.fetch.errors import (
    MAX_REDIRECTS,
    FetchError,
    FetchResult,
    classify,
    is_timeout,
    reason_phrase,
)
from monitor.fetch.guard import BlockedAddress, host_kind, resolves_inside
from monitor.fetch.limits import Deadline, Watchdog
from monitor.fetch.pools import Pools, ca_location

# No retries and no redirects inside urllib3: a failure is reported as it
# happened, and redirects are followed (and checked) here.
_NO_RETRY = Retry(total=0, read=False, redirect=False, raise_on_redirect=False)
_REDIRECT_CODES = {301, 302, 303, 307, 308}


def origin_of(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, the port made explicit."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ("", url, None)
    scheme = parts.scheme.lower()
    return (scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme))


def same_origin(a: str, b: str) -> bool:
    return origin_of(a) == origin_of(b)


def default_user_agent(settings: FetchSettings) -> str:
    if settings.user_agent:
        return settings.user_agent
    ua = f"privacy-monitor/{monitor.__version__}"
    if settings.contact:
        ua += f" (+{settings.contact})"
    return ua


class Fetcher:
    """HTTP GET with the monitor's limits. Safe to share between threads
    (urllib3's pools are thread-safe)."""

    def __init__(self, settings: FetchSettings, stop: threading.Event | None = None):
        self.settings = settings
        self.stop = stop
        self.user_agent = default_user_agent(settings)
        self.headers = {
            "User-Agent": self.user_agent,
            "Accept-Encoding": "gzip, deflate",
            "Accept": "application/rss+xml, application/atom+xml, application/feed+json, "
            "application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.8, */*;q=0.5",
            "Connection": "keep-alive",  # HTTP/1.0 servers and proxies close without it
        }
        self._own = {k.lower() for k in self.headers}
        self._watchdog = Watchdog()
        self._body = BodyReader(settings, self._watchdog)
        self._pools = Pools(settings)

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
        """GET `url`. `proxy` (http://host:port) overrides the standard
        HTTP(S)_PROXY / NO_PROXY environment variables for this fetch.

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
        seconds = (
            self.settings.deadline if deadline is None else min(deadline, self.settings.deadline)
        )
        limit = Deadline(max(seconds, 0.05), self.stop)
        self._check_url(url)
        configured: dict[str, str] = dict(headers or {})
        validators: dict[str, str] = {}
        if etag:
            validators["If-None-Match"] = etag
        if last_modified:
            validators["If-Modified-Since"] = last_modified

        current = url
        permanent: str | None = None
        all_permanent = True
        guarded = content_link and not self.settings.allow_private_links
        jar = None  # cookies set by this fetch's redirects
        for _hop in range(MAX_REDIRECTS + 1):
            limit.check(current)
            sent = {**configured, **validators} if same_origin(current, url) else validators
            if jar is not None:
                sent = with_cookies(sent, cookie_header(jar, current))
            resp = self._send(current, sent, limit, proxy, guarded=guarded)
            if resp.status in _REDIRECT_CODES and resp.headers.get("Location"):
                resp.close()
                jar = remember(jar, current, resp.headers)
                target = urljoin(current, resp.headers["Location"].strip())
                self._check_url(target)
                if not guarded and not self.settings.allow_private_links:
                    # Through a proxy (the source's or the environment's),
                    # judged without a DNS lookup of our own.
                    proxy = proxy or self._env_proxy(target)
                    guarded = not self._inside(url, proxy)
                downgrade = urlsplit(url).scheme == "https" and urlsplit(target).scheme == "http"
                all_permanent = all_permanent and resp.status in (301, 308) and not downgrade
                if all_permanent:
                    permanent = target
                current = target
                continue
            try:
                result = self._finish(resp, current, limit, etag, last_modified)
            finally:
                resp.close()
            if permanent and permanent != url:
                from dataclasses import replace

                result = replace(result, permanent_url=permanent)
            return result
        raise FetchError("redirects", f"more than {MAX_REDIRECTS} redirects", url=url)

    # -- internals --------------------------------------------------------

    def _allowed(self, address: str) -> bool:
        ip = ipaddress.ip_address(address.strip("[]").split("%", 1)[0])
        return any(
            ip in ipaddress.ip_network(n, strict=False) for n in self.settings.allow_networks
        )

    def _env_proxy(self, url: str) -> str | None:
        return self._pools.environment_proxy(url)

    def _inside(self, url: str, proxy: str | None) -> bool:
        """Whether a configured URL is itself on an internal host (then its
        redirects may stay inside), asked once it redirects. Through a proxy
        only what the URL says counts: the name is the proxy's to resolve."""
        parts = urlsplit(url)
        if proxy:
            return host_kind(parts.hostname or "") is not None
        return resolves_inside(parts.hostname or "", parts.port)

    def _check_proxied(self, url: str) -> None:
        """A guarded fetch through a proxy: the proxy resolves the name, so
        only what the URL itself says can be judged here (a literal
        internal address, localhost)."""
        host = urlsplit(url).hostname or ""
        kind = host_kind(host)
        if kind is None:
            return
        try:
            allowed = self._allowed(host)
        except ValueError:  # a name (localhost), not an address
            allowed = False
        if not allowed:
            raise FetchError("blocked_address", f"refused: {host} is a {kind} address", url=url)

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
        deadline: Deadline,
        proxy: str | None = None,
        guarded: bool = False,
    ) -> BaseHTTPResponse:
        """One request, its body left unread. Links found in content go
        through the guarded pools (public addresses only) and never through
        the environment's proxies: a proxy's own address would be what the
        guard checks."""
        remaining = max(deadline.remaining(), 0.05)
        timeout = Timeout(
            connect=min(self.settings.connect_timeout, remaining),
            read=min(self.settings.read_timeout, remaining),
        )
        if guarded and proxy:
            self._check_proxied(url)
        if not proxy and not guarded:
            proxy = self._pools.environment_proxy(url)
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        try:
            manager = self._pools.manager(scheme, proxy, guarded)
        except ImportError:  # a socks5:// proxy without PySocks
            p = urlsplit(proxy or "")
            shown = f"{p.scheme}://{p.netloc.rpartition('@')[2]}"  # no password in a message
            raise FetchError(
                "connect", f"cannot use proxy {shown}: socks proxies need PySocks", url=url
            ) from None
        except OSError as e:  # the CA certificates the environment names
            where = ca_location()
            raise FetchError(
                "tls", f"cannot read CA certificates from {where}: {e.strerror or e}", url=url
            ) from None
        try:
            sent = self._merged(headers)
            netloc = parts.netloc
            if "@" in netloc:  # user:password@ becomes Basic authorization
                netloc = netloc.rpartition("@")[2]
                if parts.username is not None:
                    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
                    sent["Authorization"] = "Basic " + base64.b64encode(
                        pair.encode("latin-1", "replace")
                    ).decode("ascii")
            if proxy and scheme == "http" and not proxy.lower().startswith("socks"):
                # a forward proxy takes the whole URL in the request line
                target = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
            else:
                target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            pool = manager.connection_from_url(url)
            return pool.urlopen(
                "GET",
                target,
                headers=sent,
                retries=_NO_RETRY,
                redirect=False,
                assert_same_host=False,
                timeout=timeout,
                preload_content=False,
                decode_content=False,
            )
        except BlockedAddress as e:
            raise FetchError("blocked_address", f"refused: {e}", url=url) from None
        except urllib3.exceptions.HTTPError as e:
            reason = deadline.expired_reason()
            if reason and is_timeout(e):
                raise deadline.error(reason, url) from None
            raise classify(e, url, self.settings.read_timeout) from None
        except (ValueError, UnicodeError) as e:  # e.g. a malformed host name
            raise FetchError("invalid_url", f"invalid URL: {url!r} ({e})", url=url) from None

    def _merged(self, extra: dict[str, str]) -> dict[str, str]:
        """The fetcher's own headers under `extra`, names compared without case."""
        if not extra:
            return dict(self.headers)
        lower = {k.lower() for k in extra}
        if lower & self._own:
            merged = {k: v for k, v in self.headers.items() if k.lower() not in lower}
        else:
            merged = dict(self.headers)
        merged.update(extra)
        return merged

    def _finish(
        self,
        resp: BaseHTTPResponse,
        url: str,
        deadline: Deadline,
        sent_etag: str | None,
        sent_last_modified: str | None,
    ) -> FetchResult:
        status = resp.status
        hdrs = resp.headers  # case-insensitive
        if status == 304:
            # A 304 has no body (http.client reads none, whatever the headers
            # say): reading it returns the connection to the pool, where
            # closing the response unread would drop it, and the next poll
            # of the host would open a new one.
            resp.read()
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
                f"http {status} {reason_phrase(resp)}".strip(),
                status=status,
                url=url,
                headers=hdrs,
                body_head=self._body.peek(resp, url, deadline),
            )
        if 300 <= status < 400:
            raise FetchError(
                "http",
                f"http {status} {reason_phrase(resp)} without a usable Location".strip(),
                status=status,
                url=url,
            )
        body = self._body.read(resp, url, deadline)
        return FetchResult(
            url=url,
            status=status,
            headers=hdrs,
            body=body,
            not_modified=False,
            etag=hdrs.get("ETag"),
            last_modified=hdrs.get("Last-Modified"),
        )
