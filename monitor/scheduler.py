"""When to poll each source, and fetching many at once without being rude.

* Every source is due at its own ``next_check_at`` (persisted in the store,
  so a restart does not fire every source at once), computed from its
  interval with a jitter that is stable per source name: two sources with
  the same interval do not stay in lock-step, and one source's rhythm does
  not drift from run to run.
* Servers may ask for less: ``Retry-After`` (on 429 and 503), Cache-Control
  ``max-age`` and an RSS ``<ttl>`` lengthen the interval, never beyond
  ``fetch.max_interval``, and never shorten it.
* ``fetch_all`` runs fetches on a small thread pool with per-host limits
  (fetches in flight, and a minimum delay between starting two) and hands
  each result back on the calling thread, where parsing, matching and the
  store run: parsing is CPU work that would only contend for the GIL on the
  fetch threads, and the store has one writer.

Nothing here parses or writes state; service.py does both through the hook
it passes in.
"""

from __future__ import annotations

import email.utils
import hashlib
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from .config import FetchSettings
from .fetch import Fetcher, FetchError, FetchResult

_MAX_AGE = re.compile(r"(?:^|[,\s])(?:s-)?max-age\s*=\s*\"?(\d+)", re.I)
_TTL = re.compile(rb"<ttl>\s*(\d{1,6})\s*</ttl>", re.I)
_TTL_WINDOW = 16 * 1024  # <ttl> sits in the channel header, before the items


def stable_jitter(name: str, fraction: float) -> float:
    """A factor in [1 - fraction, 1 + fraction], the same for the same name."""
    if fraction <= 0:
        return 1.0
    h = int.from_bytes(hashlib.sha1(name.encode("utf-8")).digest()[:8], "big")
    unit = h / float(1 << 64)  # [0, 1)
    return 1.0 + fraction * (2.0 * unit - 1.0)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        dt = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if dt is None:
        return None
    return max(0.0, dt.timestamp() - now)


def server_hint(result: FetchResult | FetchError, now: float) -> float | None:
    """The longest interval the server asked for, in seconds, if any."""
    hints: list[float] = []
    headers = result.headers or {}
    if isinstance(result, FetchError):
        if result.status in (429, 503):
            ra = parse_retry_after(headers.get("Retry-After"), now)
            if ra is not None:
                hints.append(ra)
        return max(hints) if hints else None
    cc = headers.get("Cache-Control") or ""
    if "no-store" not in cc.lower():
        m = _MAX_AGE.search(cc)
        if m:
            hints.append(float(m.group(1)))
    if result.body:
        ttl = _TTL.search(result.body, 0, _TTL_WINDOW)
        if ttl:
            hints.append(float(ttl.group(1)) * 60.0)  # minutes in RSS
    return max(hints) if hints else None


def next_interval(
    name: str, interval: float, settings: FetchSettings, hint: float | None = None
) -> float:
    """The interval until the next poll: the configured one, lengthened by a
    server's hint within max_interval, with the source's stable jitter."""
    base = interval
    if hint is not None and hint > base:
        base = min(hint, max(interval, settings.max_interval))
    return base * stable_jitter(name, settings.jitter)


def backoff_interval(
    name: str, interval: float, failures: int, settings: FetchSettings, hint: float | None = None
) -> float:
    """Exponential backoff after `failures` failures in a row, capped at
    max_interval (or the interval, when that is longer); never a disable."""
    cap = max(interval, settings.max_interval)
    delay = min(interval * 2 ** max(failures - 1, 0), cap)
    if hint is not None:
        delay = max(delay, min(hint, cap))
    return delay * stable_jitter(name, settings.jitter)


def host_of(url: str) -> str:
    try:
        parts = urlsplit(url)
        return (parts.hostname or "").lower() + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return url


@dataclass(frozen=True)
class Job:
    """One fetch to make. `key` is the caller's handle (a source name)."""

    key: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    headers: dict | None = None
    proxy: str | None = None
    before: Callable[[], None] | None = (
        None  # runs on the fetch thread first (robots.txt); may raise FetchError
    )
    # (service, seconds): at most one fetch every `seconds` to the service,
    # whatever the host, for every job that names it (GDELT asks for 5 s)
    pace: tuple[str, float] | None = None


class HostGate:
    """Per-host limits, decided on the dispatching thread only."""

    def __init__(
        self,
        concurrency: int,
        delay: float,
        clock: Callable[[], float] = time.monotonic,
        paced: dict[str, float] | None = None,
    ):
        self.concurrency = concurrency
        self.delay = delay
        self.clock = clock
        self.inflight: dict[str, int] = {}
        self.last_start: dict[str, float] = {}
        # paced services: one fetch at a time, `gaps[key]` apart; their last
        # starts live in `paced`, which outlives the cycle
        self.gaps: dict[str, float] = {}
        self.paced = paced if paced is not None else {}

    def wait_for(self, host: str) -> float | None:
        """0 when a fetch to `host` may start now; seconds to wait when only
        the delay holds it back; None when the host is at its concurrency."""
        gap = self.gaps.get(host)
        if self.inflight.get(host, 0) >= (1 if gap is not None else self.concurrency):
            return None
        last = self.paced.get(host) if gap is not None else self.last_start.get(host)
        delay = max(self.delay, gap or 0.0)
        if last is None or delay <= 0:
            return 0.0
        return max(0.0, last + delay - self.clock())

    def start(self, host: str) -> None:
        self.inflight[host] = self.inflight.get(host, 0) + 1
        (self.paced if host in self.gaps else self.last_start)[host] = self.clock()

    def done(self, host: str) -> None:
        self.inflight[host] -= 1


Outcome = FetchResult | FetchError


def fetch_all(
    fetcher: Fetcher,
    jobs: Iterable[Job],
    on_result: Callable[[Job, Outcome], None],
    *,
    settings: FetchSettings,
    stop: threading.Event | None = None,
    pool: ThreadPoolExecutor | None = None,
    paced: dict[str, float] | None = None,
    idle: Callable[[], float | None] | None = None,
) -> None:
    """Fetch every job with per-host limits on a pool, calling
    on_result(job, result-or-FetchError) on this thread as each finishes.
    `idle` runs before each wait for a result and returns the seconds
    until it wants to run again (None: only when a result comes).
    Returns when every started fetch has been handed back; jobs not started
    when `stop` is set are dropped. Jobs with a `pace` are queued by their
    service instead of their host; `paced` keeps when each was last asked."""
    gate = HostGate(settings.per_host_concurrency, settings.per_host_delay, paced=paced)
    waiting: dict[str, deque[Job]] = {}
    for job in jobs:
        if job.pace is not None:
            gate.gaps[job.pace[0]] = job.pace[1]
        waiting.setdefault(job.pace[0] if job.pace else host_of(job.url), deque()).append(job)
    done_q: queue.Queue[tuple[Job, str, Outcome]] = queue.Queue()
    own_pool = pool is None
    pool = pool or ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="fetch")
    in_flight = 0

    def run(job: Job, host: str) -> None:
        try:
            if job.before is not None:
                job.before()
            out: Outcome = fetcher.get(
                job.url,
                etag=job.etag,
                last_modified=job.last_modified,
                headers=job.headers,
                proxy=job.proxy,
            )
        except FetchError as e:
            out = e
        except Exception as e:  # a bug in a fetch must not lose the cycle
            out = FetchError("connect", f"fetch failed: {type(e).__name__}: {e}", url=job.url)
        done_q.put((job, host, out))

    def dispatch() -> float | None:
        """Start everything the limits allow: round-robin over hosts, one
        start per host per round, until no host may start more (so one host
        with concurrency N gets N fetches in flight). Returns the seconds
        until a host held back only by its delay may start, if any."""
        nonlocal in_flight
        if stop is not None and stop.is_set():
            waiting.clear()
            return None
        soonest: float | None = None
        started = True
        while started and waiting and in_flight < settings.workers:
            started = False
            for host in list(waiting):
                if in_flight >= settings.workers:
                    break
                wait = gate.wait_for(host)
                if wait is None:
                    continue
                if wait > 0:
                    soonest = wait if soonest is None else min(soonest, wait)
                    continue
                job = waiting[host].popleft()
                if not waiting[host]:
                    del waiting[host]
                gate.start(host)
                in_flight += 1
                started = True
                pool.submit(run, job, host)
        return soonest

    def take(host: str) -> None:
        # A fetch came back: refill the pool before the result is handled,
        # so the network stays busy while this thread parses and stores.
        nonlocal in_flight
        in_flight -= 1
        gate.done(host)
        dispatch()

    try:
        while waiting or in_flight:
            soonest = dispatch()
            if not in_flight:
                if not waiting:
                    break
                time.sleep(min(soonest or 0.05, 0.5))
                continue
            try:
                timeout = soonest
                again = idle() if idle is not None else None
                if again is not None:
                    timeout = again if timeout is None else min(timeout, again)
                job, host, out = done_q.get(
                    timeout=timeout if timeout is None else max(timeout, 0.001)
                )
            except queue.Empty:
                continue
            take(host)
            on_result(job, out)
            # Hand back everything else that is ready before waiting again.
            while True:
                try:
                    job, host, out = done_q.get_nowait()
                except queue.Empty:
                    break
                take(host)
                on_result(job, out)
    finally:
        if own_pool:
            pool.shutdown(wait=True)
