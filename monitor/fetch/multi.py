"""Many fetches at once on one thread: a CurlMulti runs their transfers.

Each fetch is the fetcher's own `steps` (redirects, which headers go where,
the address guard), the same as a blocking `get`; only the waiting differs.
One thread waits on every socket of a cycle's fetches, where a pool of
fetch threads each blocked in a perform of its own and took the GIL back
from the parsing thread at every header line and piece of body. `monitor
once` of 2,000 unchanged feeds took 0.99 s this way, against 1.42 s with
the pool, on one 2-CPU machine (README, once_vs_urlwatch.py).

The limits hold as for a blocking fetch: libcurl's timeouts (the deadline,
connect_timeout) are set on each handle, and `wait`, which runs at least
every 50 ms while fetches are in flight, ends a transfer silent for
read_timeout or stopped, as the watchdog does for a blocking one, with the
error `get` would give. The batch's handles are its own (pools.py): libcurl
closes their sockets itself, and a guarded request opens a connection of
its own, checked, rather than take one from the multi's shared cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import pycurl

from monitor.fetch.errors import FetchError, FetchResult

if TYPE_CHECKING:
    from monitor.fetch.curl import Reply, Transfer
    from monitor.fetch.fetcher import Fetcher, Hop

    Steps = Generator[Hop, Reply | None, FetchResult]

Outcome = FetchResult | FetchError


class Batch:
    """Fetches added with `add`, run by `wait` on the calling thread, which
    hands back each one that ended as (key, FetchResult or FetchError).
    Use it from one thread only; `close` ends what is still in flight."""

    def __init__(self, fetcher: Fetcher, after: Callable[[str, FetchResult], None] | None = None):
        self.fetcher = fetcher
        self.after = after  # told of each result, with the URL asked for
        self.multi = pycurl.CurlMulti()
        # a running transfer's handle -> (key, url asked for, steps, transfer)
        self.flights: dict[Any, tuple[Any, str, Steps, Transfer]] = {}
        self.ended: list[tuple[Any, Outcome]] = []
        self.closed = False

    def __len__(self) -> int:
        """Fetches in flight."""
        return len(self.flights)

    def add(self, key: Any, url: str, **kw: Any) -> None:
        """Start fetching `url` (the keyword arguments of Fetcher.get)."""
        try:
            steps = self.fetcher.steps(url, **kw)
        except Exception as e:
            self._end(key, url, _failure(e, url))
            return
        self._advance(key, url, steps, None)

    def wait(self, timeout: float) -> list[tuple[Any, Outcome]]:
        """Run the transfers until one ends or `timeout` seconds pass; the
        fetches that ended since the last call."""
        self._perform()
        if not self.ended and self.flights:
            # libcurl's own next timer (a timeout, a resolver to look at) bounds the wait
            due = self.multi.timeout()
            self.multi.select(min(timeout, due / 1000.0) if due >= 0 else timeout)
            self._perform()
        now = time.monotonic()
        for curl, (_key, _url, _steps, transfer) in list(self.flights.items()):
            reason = transfer.due(now)
            if reason is not None:  # read_timeout, cancelled or past the deadline
                transfer.killed = reason
                self._done(curl, pycurl.error(pycurl.E_ABORTED_BY_CALLBACK, reason))
        ended, self.ended = self.ended, []
        return ended

    def close(self) -> None:
        """Drop every transfer still in flight (the caller is stopping)."""
        if self.closed:
            return
        self.closed = True
        for curl, (_key, _url, steps, transfer) in list(self.flights.items()):
            self.multi.remove_handle(curl)
            steps.close()
            try:
                transfer.end(pycurl.error(pycurl.E_ABORTED_BY_CALLBACK, "cancelled"))
            except FetchError:
                pass
            finally:
                self.fetcher.release(transfer)
        self.flights.clear()
        self.multi.close()

    def _perform(self) -> None:
        multi = self.multi
        while multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
            pass
        while True:
            queued, ok, failed = multi.info_read()
            for curl in ok:
                self._done(curl, None)
            for curl, code, message in failed:
                self._done(curl, pycurl.error(code, message))
            if not queued:
                return

    def _done(self, curl: Any, failure: pycurl.error | None) -> None:
        key, url, steps, transfer = self.flights.pop(curl)
        self.multi.remove_handle(curl)
        try:
            reply = transfer.end(failure)
        except Exception as e:
            steps.close()
            self._end(key, url, _failure(e, url))
            return
        finally:
            self.fetcher.release(transfer)
        self._advance(key, url, steps, reply)

    def _advance(self, key: Any, url: str, steps: Steps, reply: Reply | None) -> None:
        """Send the last reply to the fetch's steps; start its next request
        or hand back its end."""
        try:
            hop = steps.send(reply)
            transfer = self.fetcher.start(hop)
        except StopIteration as done:
            self._end(key, url, done.value)
            return
        except Exception as e:
            steps.close()
            self._end(key, url, _failure(e, url))
            return
        self.flights[transfer.curl] = (key, url, steps, transfer)
        self.multi.add_handle(transfer.curl)

    def _end(self, key: Any, url: str, out: Outcome) -> None:
        if self.after is not None and isinstance(out, FetchResult):
            try:
                self.after(url, out)
            except Exception as e:
                out = _failure(e, url)
        self.ended.append((key, out))


def _failure(e: Exception, url: str) -> FetchError:
    """A FetchError as it is; a bug met by one fetch named as its failure,
    so it cannot take the other fetches of the batch down."""
    if isinstance(e, FetchError):
        return e
    return FetchError("connect", f"fetch failed: {type(e).__name__}: {e}", url=url)
