"""The monitor's loop: poll due sources, match, store, deliver.

Size: the loop itself (cycle, leases, delivery, idle, signals, reload,
health); one source's poll is handled in polls.py, a group of unchanged
polls written by pollgroup.py.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from . import log
from .alerts.outbox import DeliveryStats, deliver_due
from .alerts.route import Router, destinations
from .bodyhash import HashingFetcher

# load_checked_rules is imported from here by the commands and tests too
from .checks import (  # noqa: F401
    hide_moved_secret,
    load_checked_rules,
    register_moved_secrets,
    register_secrets,
)
from .config import Config, SourceConfig
from .engine import RuleSet
from .fetch import Fetcher, FetchError, FetchResult
from .fetch.fetcher import same_origin
from .fetchall import Job, fetch_all
from .fulltext import Pacer
from .health import (
    NETWORK_REASONS,
    HealthKeeper,
    is_network_down,
)
from .pollgroup import PollGroup, WriteGroup
from .polls import PollOutcome, Polls, _one_line  # noqa: F401
from .reload import Reloader
from .robots import Robots
from .sources.search import expand, pace_of
from .store import LeaseLost, SourceState, Store, StoreUnavailable, display_state, probe

if TYPE_CHECKING:
    from .httpapi import HttpApi
    from .metrics import Metrics


def process_key() -> str:
    """The state's record of the `monitor run` on this host (a container
    keeps its hostname), which `status --health` reads."""
    return f"process:{socket.gethostname()}"


# After SIGTERM, how long in-flight work (a fetch, an Apprise send) may take
# before the process leaves anyway; Docker's default grace is 10 s.
STOP_GRACE = 8.0

# (done, total, what): called before each source is polled and once at the end
Progress = Callable[[int, int, str], None]


@dataclass
class CycleOutcome:
    polls: list[PollOutcome] = field(default_factory=list)
    delivery: DeliveryStats = field(default_factory=DeliveryStats)


class Monitor(Polls):
    def __init__(
        self,
        config: Config,
        ruleset: RuleSet,
        *,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.time,
        problems: list[str] | None = None,
        metrics: bool = True,
    ):
        self.config = config
        self.rules = ruleset
        self.stop = stop or threading.Event()
        self.clock = clock
        self.store = Store(config.state)
        self.store.release_dead_owners()
        # The sources this replica claimed for the current cycle: {name: lease token}
        self.leases: dict[str, int] = {}
        self.group: PollGroup | None = None  # the cycle's unchanged polls, written together
        self.hashing: HashingFetcher | None = None  # the cycle's fetcher (bodyhash.py)
        self.writes: WriteGroup | None = None  # the cycle's open group of written polls
        self.fetcher = Fetcher(config.fetch, self.stop)
        self.pool = ThreadPoolExecutor(max_workers=config.fetch.workers, thread_name_prefix="fetch")
        self.robots = Robots(self.fetcher)
        self.pacer = Pacer(config.fetch.per_host_delay, self.stop)
        # when each paced service (gdelt) was last asked, kept from cycle to cycle
        self.paced: dict[str, float] = {}
        # `monitor once` serves no /metrics: its polls are not counted, and
        # prometheus_client is not even imported
        self.metrics: Metrics | None = None
        if metrics:
            from .metrics import Metrics

            self.metrics = Metrics()
            log.subscribe(self.metrics.on_event)
        self._use_config()
        self.reloader = Reloader(self)
        self.api: HttpApi | None = (
            None  # the HTTP endpoint, while run_forever runs with http.listen set
        )
        self.wake = threading.Event()  # set by the dashboard ("poll now", a retry): end the sleep
        self.loop_alive = False
        self.started_at = time.monotonic()
        self.cycle_started_at: float | None = None  # monotonic
        self.cycle_ended_at: float | None = None
        self.last_reload: dict | None = None
        # Rule problems found at start (those files or rules were skipped); a
        # successful reload, which needs a set with no problem, clears them.
        self.start_problems: list[str] = list(problems or [])
        # Why the last cycle could not run (the store locked or away, a bug), until one does
        self.store_problem: dict | None = None

    @property
    def sources(self) -> list[SourceConfig]:
        """The enabled sources, a `queries: from_rules` search as one source
        per query (sources/search.py)."""
        return self._sources

    def close(self) -> None:
        if self.api is not None:
            self.api.close()
            self.api = None
        if self.metrics is not None:
            log.unsubscribe(self.metrics.on_event)
        self.pool.shutdown(wait=True)
        self.fetcher.close()
        self.store.close()

    # -- hot reload (monitor/reload.py decides; this swaps) ----------------
    def apply(self, config: Config, ruleset: RuleSet) -> None:
        """Run with a new config and rule set from the next cycle on."""
        old, self.config, self.rules = self.config, config, ruleset
        if config.fetch != old.fetch:
            self.fetcher.close()
            self.fetcher = Fetcher(config.fetch, self.stop)
            self.robots = Robots(self.fetcher)
            self.pacer = Pacer(config.fetch.per_host_delay, self.stop)
        if config.fetch.workers != old.fetch.workers:
            self.pool.shutdown(wait=True)
            self.pool = ThreadPoolExecutor(
                max_workers=config.fetch.workers, thread_name_prefix="fetch"
            )
        self._use_config()

    def _use_config(self) -> None:
        """What follows from self.config and self.rules, at start and after a reload."""
        config = self.config
        self._sources = expand([s for s in config.sources if s.enabled], self.rules.rules)
        self.dests = destinations(
            {name: list(c.urls) for name, c in config.channels.items()},
            len(config.disabled_channels),
        )
        self.router = Router(
            self.dests,
            dict(config.channels),
            config.delivery,
            self.store,
            public_url=config.http.public_url,
        )
        self.source_health = HealthKeeper(self.store, config.health, self.dests, self.clock)
        self.store.ensure_sources((src.name, src.url) for src in self.sources)
        register_secrets(config)
        register_moved_secrets(config, self.store.moved_sources())
        if self.metrics is not None:
            self.metrics.rules.set(len(self.rules.rules))
            self.metrics.sources.set(len(self.sources))

    def request_reload(self) -> None:
        self.reloader.request()

    def record_reload(self, ok: bool, errors: list[str]) -> None:
        # /healthz shows these to anyone who asks: no secret in them
        errors = [log.mask(e) for e in errors]
        self.last_reload = {"ok": ok, "at": time.time(), "errors": errors}
        self.store.set_meta("last_reload", self.last_reload)
        if ok and self.start_problems:
            self.start_problems = []
            self.store.set_meta("start_problems", [])

    # -- health, for the HTTP endpoint ------------------------------------
    def health(self) -> tuple[bool, dict]:
        """Alive while the loop runs and a cycle started or ended within
        http.stale_after. Never asks the network."""
        now = time.monotonic()
        last = max(
            t
            for t in (self.started_at, self.cycle_started_at, self.cycle_ended_at)
            if t is not None
        )
        age = now - last
        ok = self.loop_alive and age <= self.config.http.stale_after
        status = "ok" if ok else ("stopped" if not self.loop_alive else "stale")
        body = {
            "status": status,
            "seconds_since_progress": round(age, 1),
            "last_cycle_seconds_ago": None
            if self.cycle_ended_at is None
            else round(now - self.cycle_ended_at, 1),
            "reload": self.last_reload or {"ok": True, "at": None, "errors": []},
            "start_problems": self.start_problems,
        }
        if self.store_problem is not None:
            body["store"] = self.store_problem
        return ok, body

    def ready(self) -> tuple[bool, dict]:
        error = probe(self.config.state)
        return error is None, (
            {"status": "ok"} if error is None else {"status": "unavailable", "error": error}
        )

    def start_http(self) -> None:
        address = self.config.http.address
        if address is None or self.api is not None:
            return
        from .httpapi import HttpApi, Limits, ListenError

        http = self.config.http
        pages = None
        if http.pages:
            from .web.auth import SignInError
            from .web.serve import dashboard_for

            try:
                pages = dashboard_for(self, address[0])
            except SignInError as e:  # off loopback without a password: refuse to start
                raise ListenError(str(e)) from None
        limits = Limits(
            max_connections=http.max_connections,
            header_timeout=http.header_timeout,
            max_body_bytes=http.max_request_bytes,
        )
        try:
            self.api = HttpApi(
                *address,
                health=self.health,
                ready=self.ready,
                metrics=self.metrics.exposition if self.metrics else bytes,
                pages=pages,
                limits=limits,
            ).start()
        except OSError as e:
            raise ListenError(
                f"http.listen: cannot listen on {self.config.http.listen}: {e.strerror or e}"
            ) from None
        log.event("http.listening", url=self.api.url, pages=pages is not None)

    # -- one source -----------------------------------------------------
    def job(self, src: SourceConfig, state: SourceState | None) -> Job:
        """The fetch to make for `src`: its remembered permanent address and
        the validators of the last good response."""
        url = (state.permanent_url if state else None) or src.url
        return Job(
            src.name,
            url,
            etag=state.etag if state else None,
            last_modified=state.last_modified if state else None,
            # configured headers go to the configured origin only, also after a 301
            headers=src.headers
            if src.headers and (url == src.url or same_origin(url, src.url))
            else None,
            proxy=src.proxy,
            before=self.robots.checker(src, url),
            pace=pace_of(src),
        )

    @property
    def lease_seconds(self) -> float:
        """How long a claimed source is this replica's: a claimed batch is
        four fetches per worker (Store.claim_batch), so even when every one
        runs to the fetch deadline the batch ends within the lease, with
        time left for parsing and matching. A poll that still outlives it
        writes nothing (the lease token fences it)."""
        return 4 * self.config.fetch.deadline + 30.0

    def poll(self, src: SourceConfig) -> PollOutcome:
        """Fetch and handle one source now, on this thread (unclaimed: for
        tests and tools, not for replicas)."""
        self.leases.pop(src.name, None)
        state = self.store.source_state(src.name)
        job = self.job(src, state)
        try:
            if job.before is not None:
                job.before()
            result = self.fetcher.get(
                job.url,
                etag=job.etag,
                last_modified=job.last_modified,
                headers=job.headers,
                proxy=job.proxy,
            )
        except FetchError as e:
            return self.failed_fetch(src, state, e)
        return self.handle(src, state, result)

    def due(self) -> list[SourceConfig]:
        now = self.clock()
        states = self.store.source_states()
        out = []
        for src in self.sources:
            state = states.get(src.name)
            if state is None or state.next_check_at is None or state.next_check_at <= now:
                out.append(src)
        return out

    def cycle(
        self, sources: list[SourceConfig] | None = None, progress: Progress | None = None
    ) -> CycleOutcome:
        """Poll the due sources (or `sources`) over the fetch pool, then
        deliver. Results are handled here, on the loop's thread; `progress`
        hears of each as it comes back."""
        started = self.cycle_started_at = time.monotonic()
        outcome = CycleOutcome()
        # Claim before fetching: a source another replica holds is its to poll.
        wanted = self.sources if sources is None else sources
        self.leases = self.store.claim_sources(
            [s.name for s in wanted],
            self.clock(),
            self.lease_seconds,
            limit=self.store.claim_batch(self.config.fetch.workers),
            force=sources is not None,
        )
        todo = [s for s in wanted if s.name in self.leases]
        by_name = {s.name: s for s in todo}
        states = self.store.source_states()
        network: list[tuple[SourceConfig, FetchError]] = []

        def on_result(job: Job, out: FetchResult | FetchError) -> None:
            src = by_name[job.key]
            if progress:
                progress(len(outcome.polls) + len(network), len(todo), src.name)
            if isinstance(out, FetchError):
                if out.reason in NETWORK_REASONS:
                    network.append((src, out))  # decided once the cycle is over
                    return
                outcome.polls.append(
                    self._fenced(src, lambda: self.failed_fetch(src, states.get(src.name), out))
                )
            else:
                if src.full_text:  # its pages are fetched first: no lock is held meanwhile
                    writes.commit(self._fenced)
                outcome.polls.append(
                    self._fenced(src, lambda: self.handle(src, states.get(src.name), out))
                )

        group = self.group = PollGroup(self.store)
        writes = self.writes = WriteGroup(self.store)

        def flush() -> None:
            writes.commit(self._fenced)  # the unchanged rows go in a transaction of their own
            group.write(group.take(), self._fenced)

        def settle() -> float | None:
            """Write the group of unchanged polls, and commit the open group
            of written ones, when due; else the seconds until the first of
            them will be (the fetch loop wakes for it)."""
            wait = group.wait()
            if wait == 0:
                flush()
                wait = None
            due = writes.wait()
            if due == 0:
                writes.commit(self._fenced)
                due = None
            waits = [w for w in (wait, due) if w is not None]
            return min(waits) if waits else None

        def on_each(job: Job, out: FetchResult | FetchError) -> None:
            on_result(job, out)
            settle()

        jobs = []
        for s in todo:
            try:
                jobs.append(self.job(s, states.get(s.name)))
            except Exception as bad:  # e.g. a remembered address that no longer parses
                outcome.polls.append(self._fenced(s, functools.partial(_raise, bad)))
        by_url: dict[str, list[SourceConfig]] = {}
        for job in jobs:
            by_url.setdefault(job.url, []).append(by_name[job.key])
        self.hashing = HashingFetcher(self.fetcher, by_url)
        try:
            fetch_all(
                cast(Fetcher, self.hashing),  # get() and batch() are all fetch_all asks of it
                jobs,
                on_each,
                settings=self.config.fetch,
                stop=self.stop,
                pool=self.pool,
                paced=self.paced,
                idle=settle,
            )
            flush()
        finally:
            # a store error: the rows not written, or not committed, mean a poll again
            writes.abandon()
            self.group = self.writes = None
            self.hashing = None
        down = is_network_down(
            [e.reason for _, e in network], sum(p.ok for p in outcome.polls)
        ) and not any(p.reason not in NETWORK_REASONS for p in outcome.polls if not p.ok)
        if down:
            log.event(
                "network.down",
                level="warning",
                sources=len(network),
                error=str(network[0][1]),
                note="counted once, not against each source",
            )
        for src, e in network:
            outcome.polls.append(
                self._fenced(
                    src,
                    lambda: self.failed_fetch(src, states.get(src.name), e, count=not down),  # noqa: B023
                )
            )
        polled = {p.source for p in outcome.polls}
        unpolled = {n: t for n, t in self.leases.items() if n not in polled}
        if unpolled:  # stopping: fetches not started go back at once
            self.store.release_sources(unpolled)
        self.leases = {}
        if progress:
            progress(len(todo), len(todo), "delivering")
        outcome.delivery = self.deliver()
        self._cycle_ended(time.monotonic() - started)
        return outcome

    def _fenced(self, src: SourceConfig, write: Callable[[], PollOutcome]) -> PollOutcome:
        """Handle a result unless the source's lease was lost meanwhile (this
        replica stalled past it and another claimed the source)."""
        try:
            return self._savepointed(write)
        except LeaseLost:
            log.event(
                "source.lease_lost",
                level="warning",
                source=src.name,
                note="another replica claimed it; this poll's result was not written",
            )
            return PollOutcome(src.name, False, reason="lease_lost", error="lease lost")
        except StoreUnavailable:
            raise
        except Exception as e:  # a bug met by this source's data: the others go on
            error = _one_line(e)
            log.event("source.crashed", level="error", source=src.name, error=error)
            try:
                return self._savepointed(
                    lambda: self._failed(
                        src, self.store.source_state(src.name), "internal_error", error
                    )
                )
            except (LeaseLost, StoreUnavailable):
                raise
            except Exception:
                return PollOutcome(src.name, False, reason="internal_error", error=error)

    def _savepointed(self, write: Callable[[], PollOutcome]) -> PollOutcome:
        """`write`, in a savepoint of the open group on PostgreSQL, where a
        statement that fails would otherwise fail the whole transaction (on
        SQLite a failed statement undoes itself alone)."""
        if self.writes is None or not self.writes.open or not self.store.postgres:
            return write()
        with self.store.savepoint():
            return write()

    def _cycle_ended(self, seconds: float) -> None:
        self.cycle_ended_at = time.monotonic()
        ended = time.time()
        if self.metrics is not None:
            self.metrics.cycle_ended(seconds, ended, self.store.outbox_counts())
        self.store.set_meta("last_cycle", {"ended_at": ended, "seconds": round(seconds, 3)})

    def deliver(self) -> DeliveryStats:
        return deliver_due(
            self.store,
            self.dests,
            self.config.delivery,
            configs=dict(self.config.channels),
            stop=self.stop,
            now=self.clock,
        )

    def seconds_until_due(self) -> float:
        now = self.clock()
        states = self.store.source_states()
        # a source another replica is polling now is not this one's to wait for
        busy = self.store.held_elsewhere()
        times = [
            s.next_check_at
            for s in (states.get(x.name) for x in self.sources)
            if s and s.name not in busy
        ]
        nxt = self.store.next_delivery_at(claimable=True)
        if nxt is not None:
            times.append(nxt)
        if not times:
            return 60.0
        return max(0.0, min(t or now for t in times) - now)

    def run_forever(self) -> None:
        self.loop_alive = True
        try:
            self.store.set_meta("last_reload", None)  # a failed reload of an earlier run is history
            self.store.set_meta("start_problems", self.start_problems)
        except StoreUnavailable as e:  # locked or away: the loop waits for it below
            self._store_trouble("store.unavailable", str(e), "2s")
        self.start_http()
        process = {"pid": os.getpid(), "started_at": time.time(), "stopped_at": None}
        self.store.set_meta(process_key(), process)  # `status --health` reads it
        log.event(
            "monitor.started",
            sources=len(self.sources),
            rules=len(self.rules.rules),
            channels=",".join(self.dests),
            state=display_state(self.config.state),
        )
        try:
            while not self.stop.is_set():
                try:
                    self.cycle()
                    # Wake for the next due source or retry; never sleep past a minute
                    # so a changed clock or a new due row is noticed.
                    wait = min(max(self.seconds_until_due(), 0.2), 60.0)
                    self.store_problem = None
                except StoreUnavailable as e:
                    # A cut connection, a failover or a lock another process
                    # holds: what was not committed is redone (claimed sources
                    # come back to this replica, or to another when their lease
                    # ends); try again shortly.
                    self.leases = {}
                    self._store_trouble("store.unavailable", str(e), "2s")
                    wait = 2.0
                except Exception as e:  # a bug outside any one source: log it, go on
                    self.leases = {}
                    self._store_trouble("cycle.failed", _one_line(e), "5s", level="error")
                    wait = 5.0
                self._idle(wait)
        finally:
            self.loop_alive = False
            try:
                self.store.set_meta(process_key(), process | {"stopped_at": time.time()})
            except Exception:  # the state went away: the pid tells the same
                pass
        try:
            pending: int | None = self.store.outbox_counts()["pending"]
        except StoreUnavailable:
            pending = None
        log.event("monitor.stopped", outbox_pending=pending)

    def _store_trouble(self, event: str, error: str, retry: str, level: str = "warning") -> None:
        """A cycle that could not run: logged, and kept for /healthz."""
        since = (self.store_problem or {}).get("since") or time.time()
        self.store_problem = {"status": event, "error": error, "since": since}
        log.event(event, level=level, error=error, retry_in=retry)

    def _idle(self, seconds: float) -> None:
        """Sleep until `seconds` pass or the monitor stops; look for a reload
        every tick, and end the sleep early after one (a new source is due)."""
        until = time.monotonic() + seconds
        while not self.stop.is_set():
            left = until - time.monotonic()
            if left <= 0:
                return
            # short naps: a stop or the dashboard's wake is noticed within half a second
            self.stop.wait(min(left, self.reloader.tick, 0.5))
            if self.wake.is_set():
                self.wake.clear()
                return
            if not self.stop.is_set() and self._reload_checked():
                return

    def _reload_checked(self) -> bool:
        """Reloader.check, whose bug (or a store error while recording the
        result) is logged and kept: the rules in use go on running."""
        try:
            # wait=0: the files are read on the reloader's own thread, and
            # this loop goes on (and stops) while they are
            return self.reloader.check(wait=0)
        except Exception as e:
            error = _one_line(e)
            log.event("reload.failed", level="error", error=error)
            try:
                self.record_reload(False, [error])
            except Exception:
                self.last_reload = {"ok": False, "at": time.time(), "errors": [log.mask(error)]}
            return False


def _raise(e: BaseException) -> PollOutcome:
    raise e
