"""Fetching many sources at once without being rude: per-host limits
(fetches in flight, and a minimum delay between starting two), and a pace
for services that ask for one.

``fetch_all`` runs the fetches on one fetch thread, which waits on all
their sockets at once (fetch/multi.py), and hands each result back on the
calling thread, where parsing, matching and the store run: parsing is CPU
work that would only contend for the GIL on the fetch thread, and the
store has one writer. Nothing here parses or writes state; service.py does
both through the hook it passes in.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .config import FetchSettings
from .fetch import Fetcher, FetchError, FetchResult
from .scheduler import host_of


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


class _Handoff:
    """fetch_all's results, from its fetch thread to the caller's: all that
    ended together in one wake-up (rather than one each, every one a GIL
    handover), and whether the caller is `full` results behind, when the
    fetch thread starts nothing new."""

    def __init__(self, full: int):
        self.full = full
        self.cond = threading.Condition()
        self.ready: list[tuple[Job, Outcome]] = []
        self.in_hand = 0  # taken by the caller, not yet handled
        self.closed = False  # the fetch thread is done
        self.stopped = False  # the caller is done

    def put(self, items: list[tuple[Job, Outcome]]) -> None:
        if items:
            with self.cond:
                self.ready.extend(items)
                self.cond.notify_all()

    def behind(self) -> bool:
        """Whether the caller is `full` results behind (read without the lock:
        a moment late at worst)."""
        return not self.stopped and len(self.ready) + self.in_hand >= self.full

    def wait_for_room(self) -> None:
        with self.cond:
            if self.behind():
                self.cond.wait(0.05)

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def take(self, timeout: float | None) -> list[tuple[Job, Outcome]] | None:
        """What has ended, waiting at most `timeout` for it (an empty list
        when nothing came); None once the fetch thread is done and all is taken."""
        with self.cond:
            if not self.ready and not self.closed:
                self.cond.wait(timeout if timeout is None else max(timeout, 0.001))
            items, self.ready = self.ready, []
            self.in_hand = len(items)
            return None if not items and self.closed else items

    def handled(self) -> None:
        self.in_hand -= 1
        if self.in_hand == self.full - 1:  # room again: wake a waiting fetch thread
            with self.cond:
                self.cond.notify_all()

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify_all()


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
    """Fetch every job with per-host limits, calling on_result(job,
    result-or-FetchError) on this thread as each finishes.

    One fetch thread starts the jobs as the limits allow and runs their
    transfers together (the fetcher's batch, fetch/multi.py); a job with a
    `before` step (a robots.txt check, which fetches on its own) runs on
    `pool` instead. `idle` runs before each wait for a result and returns
    the seconds until it wants to run again (None: only when a result
    comes). Returns when every started fetch has been handed back; jobs not
    started when `stop` is set are dropped. Jobs with a `pace` are queued by
    their service instead of their host; `paced` keeps when each was last
    asked. If on_result raises, the fetches still in flight are dropped and
    the error goes on."""
    gate = HostGate(settings.per_host_concurrency, settings.per_host_delay, paced=paced)
    waiting: dict[str, deque[Job]] = {}
    for job in jobs:
        if job.pace is not None:
            gate.gaps[job.pace[0]] = job.pace[1]
        waiting.setdefault(job.pace[0] if job.pace else host_of(job.url), deque()).append(job)
    # While this thread is `full` results behind, the fetch thread starts no
    # more fetches (those in flight go on, their clocks running) until it is
    # below that again: fetching further ahead gains nothing then, and would
    # take the GIL from the handling here and hold bodies in memory.
    handoff = _Handoff(full=max(2, settings.workers))
    own_pool = pool is None and any(j.before for q in waiting.values() for j in q)
    if own_pool:
        pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="fetch")
    batch = fetcher.batch()
    pooled: queue.Queue[tuple[int, Outcome]] = queue.Queue()  # ends of `pool` fetches
    abandon = threading.Event()  # on_result raised: start nothing more
    started: dict[int, tuple[Job, str]] = {}  # in flight, by a number of their own
    numbers = itertools.count()
    ends: list[tuple[Job, Outcome]] = []  # of this round of the fetch thread

    def run(n: int, job: Job) -> None:
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
        pooled.put((n, out))

    def dispatch() -> float | None:
        """Start everything the limits allow: round-robin over hosts, one
        start per host per round, until no host may start more (so one host
        with concurrency N gets N fetches in flight). Returns the seconds
        until a host held back only by its delay may start, if any."""
        if abandon.is_set() or (stop is not None and stop.is_set()):
            waiting.clear()
            return None
        if handoff.behind():  # the fetches in flight go on; no more start
            return None
        soonest: float | None = None
        begun = True
        while begun and waiting and len(started) < settings.workers:
            begun = False
            for host in list(waiting):
                if len(started) >= settings.workers:
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
                begun = True
                n = next(numbers)
                started[n] = (job, host)
                if job.before is not None:
                    assert pool is not None
                    pool.submit(run, n, job)
                else:
                    batch.add(
                        n,
                        job.url,
                        etag=job.etag,
                        last_modified=job.last_modified,
                        headers=job.headers,
                        proxy=job.proxy,
                    )
        return soonest

    def ended(n: int, out: Outcome) -> None:
        got = started.pop(n, None)
        if got is not None:  # else dropped, once on_result raised
            gate.done(got[1])
            ends.append((got[0], out))

    def io() -> None:
        """The fetch thread: start jobs, run the batch, hand back each end."""
        try:
            while True:
                soonest = dispatch()
                if not started:
                    if not waiting:
                        return
                    if handoff.behind():
                        handoff.wait_for_room()
                    else:
                        time.sleep(min(soonest or 0.05, 0.5))
                    continue
                wait = 0.05 if soonest is None else min(soonest, 0.05)
                if len(batch):
                    for n, out in batch.wait(wait if len(batch) == len(started) else 0.01):
                        ended(n, out)
                else:
                    try:
                        ended(*pooled.get(timeout=wait))
                    except queue.Empty:
                        pass
                while True:
                    try:
                        ended(*pooled.get_nowait())
                    except queue.Empty:
                        break
                if ends:
                    handoff.put(ends)
                    ends.clear()
                if abandon.is_set():  # nobody reads the results: drop the batch's
                    for n in [n for n, (job, _) in started.items() if job.before is None]:
                        del started[n]
        except BaseException as e:  # a bug here must not leave the cycle waiting
            for n in list(started):
                job = started[n][0]
                ended(
                    n, FetchError("connect", f"fetch failed: {type(e).__name__}: {e}", url=job.url)
                )
            raise
        finally:
            batch.close()
            handoff.put(ends)
            handoff.close()

    thread = threading.Thread(target=io, name="fetch", daemon=True)
    thread.start()
    try:
        while True:
            items = handoff.take(idle() if idle is not None else None)
            if items is None:
                break
            for item in items:
                on_result(*item)
                handoff.handled()
    finally:
        abandon.set()
        handoff.stop()
        thread.join()
        if own_pool:
            assert pool is not None
            pool.shutdown(wait=True)
