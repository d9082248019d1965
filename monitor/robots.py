"""robots.txt for scraped pages (html sources); feeds a user configured are
fetched as configured.

One robots.txt per scheme and host, fetched through the one HTTP door the
way of the source it is fetched for (its proxy; for an article link, the
guard on private addresses) and kept for a day. A robots.txt that cannot be had (404, an error, a timeout)
allows everything and is asked for again after an hour: a broken robots.txt
must not silence a source, and the source's own fetch reports its faults.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from .fetch import Fetcher, FetchError
from .fetch.fetcher import same_origin

if TYPE_CHECKING:  # imported where a page source first asks (it brings http.client and ssl)
    from urllib.robotparser import RobotFileParser

KEEP_OK = 24 * 3600.0
KEEP_MISSING = 3600.0
PRODUCT = "privacy-monitor"  # the token a robots.txt names us by


class Robots:
    def __init__(self, fetcher: Fetcher, clock: Callable[[], float] = time.monotonic):
        self.fetcher = fetcher
        self.clock = clock
        self._lock = threading.Lock()
        self._hosts: dict[str, tuple[float, RobotFileParser | None]] = {}
        self._host_locks: dict[str, threading.Lock] = {}

    def _rules(
        self,
        url: str,
        *,
        content_link: bool,
        proxy: str | None,
        headers: dict | None,
        deadline: float | None = None,
    ) -> RobotFileParser | None:
        parts = urlsplit(url)
        origin = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        with self._lock:
            lock = self._host_locks.setdefault(origin, threading.Lock())
        with lock:  # one fetch of a host's robots.txt at a time
            cached = self._hosts.get(origin)
            if cached and cached[0] > self.clock():
                return cached[1]
            parser: RobotFileParser | None = None
            keep = KEEP_MISSING
            try:
                result = self.fetcher.get(
                    origin + "/robots.txt",
                    content_link=content_link,
                    proxy=proxy,
                    headers=headers,
                    deadline=deadline,
                )
                if result.status == 200:
                    from urllib.robotparser import RobotFileParser

                    parser = RobotFileParser()
                    parser.parse(result.body.decode("utf-8", "replace").splitlines())
                    keep = KEEP_OK
            except FetchError as e:
                if e.reason in ("cancelled", "blocked_address"):  # not the host's answer
                    raise
            self._hosts[origin] = (self.clock() + keep, parser)
            return parser

    def allowed(
        self,
        url: str,
        *,
        content_link: bool = False,
        proxy: str | None = None,
        headers: dict | None = None,
        deadline: float | None = None,
    ) -> bool:
        """Whether robots.txt lets us fetch `url`. robots.txt is fetched the
        way the page would be: through the source's proxy, with its headers
        (when on its origin), and for a link found in content (`content_link`)
        under the same address guard as the page."""
        rules = self._rules(
            url, content_link=content_link, proxy=proxy, headers=headers, deadline=deadline
        )
        return rules is None or rules.can_fetch(PRODUCT, url)

    def check(self, url: str, **how) -> None:
        if not self.allowed(url, **how):
            raise FetchError(
                "robots", f"disallowed by robots.txt of {urlsplit(url).netloc}", url=url
            )

    def checker(self, src, url: str) -> Callable[[], None] | None:
        """What a fetch job for `src` at `url` runs first: scraped pages only."""
        from .sources.registry import KINDS

        kind = KINDS.get(src.kind)
        if kind is None or not kind.robots:
            return None
        headers = src.headers if src.headers and same_origin(url, src.url) else None
        return lambda: self.check(url, proxy=src.proxy, headers=headers)
