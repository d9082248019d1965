"""robots.txt for scraped pages (html sources); feeds a user configured are
fetched as configured.

One robots.txt per scheme and host, fetched through the one HTTP door and
kept for a day. A robots.txt that cannot be had (404, an error, a timeout)
allows everything and is asked for again after an hour: a broken robots.txt
must not silence a source, and the source's own fetch reports its faults.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

from .fetch import Fetcher, FetchError

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

    def _rules(self, url: str) -> RobotFileParser | None:
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
                result = self.fetcher.get(origin + "/robots.txt")
                if result.status == 200:
                    parser = RobotFileParser()
                    parser.parse(result.body.decode("utf-8", "replace").splitlines())
                    keep = KEEP_OK
            except FetchError as e:
                if e.reason == "cancelled":
                    raise
            self._hosts[origin] = (self.clock() + keep, parser)
            return parser

    def allowed(self, url: str) -> bool:
        rules = self._rules(url)
        return rules is None or rules.can_fetch(PRODUCT, url)

    def check(self, url: str) -> None:
        if not self.allowed(url):
            raise FetchError(
                "robots", f"disallowed by robots.txt of {urlsplit(url).netloc}", url=url
            )

    def checker(self, src, url: str) -> Callable[[], None] | None:
        """What a fetch job for `src` at `url` runs first: scraped pages only."""
        from .sources.registry import KINDS

        kind = KINDS.get(src.kind)
        if kind is None or not kind.robots:
            return None
        return lambda: self.check(url)
