"""The monitor's loop: poll due sources, match, store, deliver."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import log
from .alerts.deliver import is_valid_url
from .alerts.outbox import DeliveryStats, deliver_due
from .alerts.route import destinations, plan_deliveries
from .config import Config, SourceConfig
from .engine import RuleSet, load_rules
from .fetch import FetchError, Fetcher
from .identity import canonical_url
from .sources import SourceError, parse
from .store import Planned, Store
from .yamlfile import FileError

# A failing source is retried later and later, never given up on.
MAX_FAILURE_BACKOFF = 6 * 3600.0


@dataclass
class PollOutcome:
    source: str
    ok: bool
    new: int = 0
    baseline: bool = False
    matched: int = 0
    queued: int = 0
    not_modified: bool = False
    reason: str | None = None
    error: str | None = None


@dataclass
class CycleOutcome:
    polls: list[PollOutcome] = field(default_factory=list)
    delivery: DeliveryStats = field(default_factory=DeliveryStats)


def load_checked_rules(config: Config) -> tuple[RuleSet, list[FileError]]:
    """The rules named by the config, plus every problem found in them or in
    how they refer to the config (unknown channels, invalid Apprise URLs)."""
    ruleset, problems = load_rules(config.rule_paths)
    problems = list(problems)
    known = set(config.channels)
    for rule in ruleset.rules:
        for ch in rule.channels:
            if ch not in known:
                hint = f"; configured channels: {', '.join(sorted(known))}" if known else "; no channels are configured"
                problems.append(FileError(rule.path, rule.line, None,
                                          f"rule {rule.id}: unknown channel '{ch}'{hint}"))
    for name, channel in config.channels.items():
        for i, url in enumerate(channel.urls):
            if not is_valid_url(url):
                scheme = url.split("://", 1)[0] if "://" in url else url[:12]
                problems.append(FileError(config.path or "config", None, None,
                                          f"channels.{name}.urls.{i}: not a valid Apprise URL (scheme '{scheme}')"))
    return ruleset, problems


class Monitor:
    def __init__(self, config: Config, ruleset: RuleSet, *, stop: threading.Event | None = None,
                 clock: Callable[[], float] = time.time):
        self.config = config
        self.rules = ruleset
        self.stop = stop or threading.Event()
        self.clock = clock
        self.store = Store(config.state)
        self.fetcher = Fetcher(config.fetch, self.stop)
        self.dests = destinations({name: list(c.urls) for name, c in config.channels.items()})
        for src in self.sources:
            self.store.ensure_source(src.name, src.url)

    @property
    def sources(self) -> list[SourceConfig]:
        return [s for s in self.config.sources if s.enabled]

    def close(self) -> None:
        self.fetcher.close()
        self.store.close()

    # -- one source -----------------------------------------------------
    def poll(self, src: SourceConfig) -> PollOutcome:
        state = self.store.source_state(src.name)
        now = self.clock()
        try:
            result = self.fetcher.get(src.url, etag=state.etag if state else None,
                                      last_modified=state.last_modified if state else None,
                                      headers=src.headers or None)
        except FetchError as e:
            return self._failed(src, state, e.reason, str(e))
        if result.not_modified:
            self.store.record_not_modified(src.name, now + src.interval, now)
            log.event("source.polled", source=src.name, status=304, new=0)
            return PollOutcome(src.name, True, not_modified=True)
        try:
            stories = parse(src, result)
        except SourceError as e:
            return self._failed(src, state, e.reason, str(e))
        except Exception as e:  # a parser bug must not take the loop down
            return self._failed(src, state, "parse_error", f"{type(e).__name__}: {e}")

        baseline = state is None or not state.baseline_done
        known = self.store.known_keys(src.name, [s.key for s in stories])
        new = [s for s in stories if s.key not in known]
        seen_urls = self.store.known_urls(canonical_url(s.link) for s in new)
        planned: list[Planned] = []
        matched = 0
        for story in new:
            canon = canonical_url(story.link)
            duplicate = bool(canon) and canon in seen_urls
            if canon:
                seen_urls.add(canon)  # a second copy in this same document is a duplicate too
            if baseline or duplicate:
                planned.append(Planned(story))
                continue
            matches = self.rules.match(story, self.config.delivery.snippet_chars)
            if not matches:
                planned.append(Planned(story))
                continue
            matched += 1
            for m in matches:
                log.event("rule.matched", source=src.name, rule=m.rule_id, story=story.title[:120],
                          terms="|".join(m.terms))
            planned.append(Planned(story, tuple(matches), tuple(plan_deliveries(story, matches, self.dests))))
        queued = self.store.record_poll(src.name, planned, etag=result.etag, last_modified=result.last_modified,
                                        next_check_at=now + src.interval, now=now)
        log.event("source.polled", source=src.name, status=result.status, stories=len(stories), new=len(new),
                  baseline=str(baseline).lower(), matched=matched, queued=queued)
        return PollOutcome(src.name, True, len(new), baseline, matched, queued)

    def _failed(self, src: SourceConfig, state, reason: str, error: str) -> PollOutcome:
        now = self.clock()
        failures = (state.failures if state else 0) + 1
        delay = min(src.interval * 2 ** (failures - 1), max(src.interval, MAX_FAILURE_BACKOFF))
        if reason == "cancelled":
            delay = 0.0  # stopping, not the source's fault: poll it first next time
        self.store.record_failure(src.name, reason, error, now + delay, now)
        log.event("source.failed", level="warning", source=src.name, reason=reason, error=error,
                  failures=failures, retry_in=f"{delay:.0f}s")
        return PollOutcome(src.name, False, reason=reason, error=error)

    # -- cycles ---------------------------------------------------------
    def due(self) -> list[SourceConfig]:
        now = self.clock()
        out = []
        for src in self.sources:
            state = self.store.source_state(src.name)
            if state is None or state.next_check_at is None or state.next_check_at <= now:
                out.append(src)
        return out

    def cycle(self, sources: list[SourceConfig] | None = None) -> CycleOutcome:
        outcome = CycleOutcome()
        for src in (self.due() if sources is None else sources):
            if self.stop.is_set():
                break
            outcome.polls.append(self.poll(src))
        outcome.delivery = self.deliver()
        return outcome

    def deliver(self) -> DeliveryStats:
        return deliver_due(self.store, self.dests, self.config.delivery, stop=self.stop, now=self.clock)

    def seconds_until_due(self) -> float:
        now = self.clock()
        times = [s.next_check_at for s in (self.store.source_state(x.name) for x in self.sources) if s]
        nxt = self.store.next_delivery_at()
        if nxt is not None:
            times.append(nxt)
        if not times:
            return 60.0
        return max(0.0, min(t or now for t in times) - now)

    def run_forever(self) -> None:
        log.event("monitor.started", sources=len(self.sources), rules=len(self.rules.rules),
                  channels=",".join(self.dests), state=str(Path(self.config.state)))
        while not self.stop.is_set():
            self.cycle()
            # Wake for the next due source or retry; never sleep past a minute
            # so a changed clock or a new due row is noticed.
            self.stop.wait(min(max(self.seconds_until_due(), 0.2), 60.0))
        log.event("monitor.stopped")
