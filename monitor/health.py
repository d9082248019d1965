"""Source health: every failure named, episodes, and their two alerts.

A source's *episode* opens at its first failure and closes at its next good
poll. One "source broken" alert is queued when the episode reaches
``health.alert_after`` failures in a row, and one "source recovered" alert
when a broken-alerted episode closes; both go through the outbox to the
normal channels, like a story's alert. A source that polls fine but has had
no new story for longer than its ``expect_new_within`` is in an episode too
(reason ``no_new_items``), without any backoff.

Failure names (``reason``): dns, connect, tls, timeout, http (with the
status), too_large, redirects, invalid_url, not_a_feed, parse_error,
selector_empty, no_new_items, bot_wall, robots (disallowed by robots.txt).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from . import log
from .fetch import FetchError

if TYPE_CHECKING:
    from .config import HealthSettings, SourceConfig
    from .store import SourceState, Store

# Failures that say more about our network than about the source.
NETWORK_REASONS = frozenset({"dns", "connect", "timeout"})
# Fewer failures than this in one cycle are never taken for "the network is down".
NETWORK_DOWN_MIN = 3

_BOT_HEADERS = (
    ("cf-mitigated", None),  # Cloudflare challenge
    ("x-datadome", None),
    ("x-amzn-waf-action", None),
    ("x-sucuri-block", None),
)
_BOT_BODY = re.compile(
    rb"(?:<title>\s*(?:just a moment|attention required|access denied|are you a robot|pardon our interruption)"
    rb"|cf-browser-verification|challenge-platform|g-recaptcha|h-captcha|captcha-delivery\.com"
    rb"|perimeterx|px-captcha|distil_r_captcha|verify you are (?:a )?human)",
    re.I,
)


def looks_like_bot_wall(
    status: int | None, headers: Mapping[str, str] | None, body_head: bytes
) -> bool:
    """A challenge or block page from an anti-bot service, not the source."""
    headers = headers or {}
    for name, _ in _BOT_HEADERS:
        if headers.get(name):
            return True
    if (
        status in (403, 429, 503)
        and "cloudflare" in (headers.get("server") or "").lower()
        and body_head
    ):
        return bool(_BOT_BODY.search(body_head[:8192]))
    return bool(body_head) and bool(_BOT_BODY.search(body_head[:8192]))


def name_fetch_error(e: FetchError) -> tuple[str, str]:
    """(reason, one-line message) of a failed fetch, a bot wall told apart."""
    if e.reason == "http" and looks_like_bot_wall(e.status, e.headers, e.body_head):
        return "bot_wall", f"blocked by a bot wall (http {e.status})"
    return e.reason, str(e)


@dataclass(frozen=True)
class HealthAlert:
    kind: str  # "broken" or "recovered"
    source: str
    title: str
    body: str


def _when(ts: float | None) -> str:
    if ts is None:
        return "never"
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def broken_alert(
    source: str,
    url: str,
    reason: str,
    error: str,
    failures: int,
    since: float,
    last_success: float | None,
) -> HealthAlert:
    return HealthAlert(
        "broken",
        source,
        f"Source broken: {source} ({reason})",
        f"{source} has failed {failures} time(s) in a row since {_when(since)}.\n"
        f"Last error: {error}\nLast success: {_when(last_success)}\nURL: {url}\n"
        "It is still being polled, less often, and a recovered alert will follow when it works again.",
    )


def stale_alert(source: str, url: str, error: str, last_new: float | None) -> HealthAlert:
    return HealthAlert(
        "broken",
        source,
        f"Source broken: {source} (no_new_items)",
        f"{error}.\nLast new story: {_when(last_new)}\nURL: {url}\n"
        "The page still answers; its layout or feed may have changed.",
    )


def recovered_alert(source: str, url: str, since: float, now: float) -> HealthAlert:
    minutes = max(0, int((now - since) / 60))
    return HealthAlert(
        "recovered",
        source,
        f"Source recovered: {source}",
        f"{source} works again after {minutes // 60}h{minutes % 60:02d}m (broken since {_when(since)}).\nURL: {url}",
    )


def stale_error(expect: float, last_new: float | None, now: float) -> str | None:
    """The no_new_items message when the source has been quiet too long."""
    if last_new is None or now - last_new <= expect:
        return None
    hours = (now - last_new) / 3600.0
    return f"no new items for {hours:.1f} h (expected within {expect / 3600.0:g} h)"


def is_network_down(reasons: list[str], successes: int) -> bool:
    """Every poll of a cycle failed on the network: the fault is ours."""
    return (
        successes == 0
        and len(reasons) >= NETWORK_DOWN_MIN
        and all(r in NETWORK_REASONS for r in reasons)
    )


class HealthKeeper:
    """Opens and closes episodes in the store and queues their alerts."""

    def __init__(
        self, store: Store, settings: HealthSettings, dests: dict[str, list[str]], clock
    ) -> None:
        self.store = store
        self.settings = settings
        self.dests = dests
        self.clock = clock

    def _queue(self, alert: HealthAlert, key: str) -> None:
        from .store import Delivery, destination_id

        channels = self.settings.channels or list(self.dests)
        deliveries = [
            Delivery(ch, destination_id(url), alert.title, alert.body)
            for ch in channels
            for url in self.dests.get(ch, [])
        ]
        queued = self.store.queue_notice(key, alert.title, alert.body, deliveries, self.clock())
        log.event(
            f"source.{alert.kind}",
            level="warning" if alert.kind == "broken" else "info",
            source=alert.source,
            queued=queued,
        )

    def failure(
        self,
        src: SourceConfig,
        state: SourceState | None,
        reason: str,
        error: str,
        failures: int,
        now: float,
    ) -> None:
        since = state.broken_since if state is not None and state.broken_since is not None else now
        self.store.open_episode(src.name, since)
        if failures >= self.settings.alert_after and not (
            state is not None and state.broken_alerted
        ):
            last_ok = state.last_success_at if state is not None else None
            self._queue(
                broken_alert(src.name, src.url, reason, error, failures, since, last_ok),
                f"health:{src.name}:{since:.3f}:broken",
            )
            self.store.mark_broken_alerted(src.name)

    def success(self, src: SourceConfig, state: SourceState | None, now: float, new: int) -> None:
        if src.expect_new_within and state is not None and state.baseline_done and not new:
            message = stale_error(src.expect_new_within, state.last_new_at, now)
            if message:
                self.store.record_stale(src.name, message)
                since = state.broken_since if state.broken_since is not None else now
                self.store.open_episode(src.name, since)
                if not state.broken_alerted:
                    self._queue(
                        stale_alert(src.name, src.url, message, state.last_new_at),
                        f"health:{src.name}:{since:.3f}:broken",
                    )
                    self.store.mark_broken_alerted(src.name)
                return
        if state is not None and state.broken_since is not None:
            if state.broken_alerted:
                self._queue(
                    recovered_alert(src.name, src.url, state.broken_since, now),
                    f"health:{src.name}:{state.broken_since:.3f}:recovered",
                )
            self.store.close_episode(src.name)
