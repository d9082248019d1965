"""Working off the outbox: send what is due, back off what fails.

Each row is one alert for one destination. It is rendered for its service
when it is sent, and marked sent in its own commit right after Apprise
reports success for that destination, so a crash can repeat a message only
if it lands between the receiver's acceptance and that commit. Rows held
for a burst window or a digest are folded into one message (or a few parts
under the service's size limit); each part's rows are marked together.
Rows are claimed before they are sent (a lease in the store), so replicas
sharing one database never send the same row at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import log
from ..config import DeliverySettings
from ..store import OutboxRow, Store, destination_id
from .deliver import SendResult, kind_of_url, mask_url, send, size_limit
from .formats import TEXT, Message, alert_from_json, render, render_group

if TYPE_CHECKING:
    from ..config import ChannelConfig

Sender = Callable[..., SendResult]


@dataclass
class DeliveryStats:
    sent: int = 0  # outbox rows delivered
    messages: int = 0  # messages sent (a digest part carries several rows)
    failed: int = 0
    dead: int = 0
    deferred: int = 0  # not tried: their destination had just failed


# How long a replica holds the outbox rows it claimed: longer than a send
# (Apprise's timeouts) and a digest's parts; a replica that died lets them go
# to another after this.
DELIVERY_LEASE = 300.0


def backoff(attempts: int, settings: DeliverySettings) -> float:
    """Seconds before retry number `attempts` (1-based): doubling, capped."""
    return min(settings.retry_base * (2 ** max(0, attempts - 1)), settings.retry_max)


def _template(configs: dict[str, ChannelConfig], channel: str) -> dict[str, str] | None:
    cfg = configs.get(channel)
    if cfg is None or cfg.template is None:
        return None
    return {k: v for k, v in (("title", cfg.template.title), ("body", cfg.template.body)) if v}


def message_for(row: OutboxRow, url: str, configs: dict[str, ChannelConfig]) -> Message:
    """A row rendered for its destination's kind of service. A row written
    before alerts were stored as data is sent as it was rendered then."""
    if row.alert is None:
        return Message(row.title, row.body, TEXT)
    return render(
        alert_from_json(row.alert),
        kind_of_url(url),
        _template(configs, row.channel),
        size_limit(url),
    )


def deliver_due(
    store: Store,
    dests: dict[str, list[str]],
    settings: DeliverySettings,
    *,
    configs: dict[str, ChannelConfig] | None = None,
    stop: threading.Event | None = None,
    sender: Sender = send,
    now: Callable[[], float] = time.time,
) -> DeliveryStats:
    """Send every due outbox row once. A row is marked sent only after its
    destination accepted it; a failure is kept for a later cycle."""
    configs = configs or {}
    by_id = {destination_id(u): u for urls in dests.values() for u in urls}
    stats = DeliveryStats()
    done: set[int] = set()
    # Destinations that failed in this cycle -> (their retry time, the
    # error): their other rows wait without being tried, so an endpoint
    # that times out costs one timeout a cycle, not one per row.
    down: dict[str, tuple[float, str]] = {}
    t = now()
    for row in store.claim_deliveries(t, DELIVERY_LEASE):
        if stop is not None and stop.is_set():
            break
        if row.id in done:
            continue
        url = by_id.get(row.destination)
        if url is None:
            # The channel or URL left the config; keep the row visible as dead.
            store.mark_failed(
                row.id,
                f"destination of channel '{row.channel}' is no longer configured "
                "(--retry-dead sends it to the channel's current destinations)",
                None,
            )
            stats.dead += 1
            log.event(
                "alert.dead",
                level="warning",
                channel=row.channel,
                reason="destination removed",
                outbox_id=row.id,
            )
            continue
        if row.destination in down:
            retry_at, error = down[row.destination]
            store.defer([row.id], retry_at, f"waiting: the destination failed this cycle ({error})")
            stats.deferred += 1
            continue
        group = [row]
        if row.fold:
            # A burst takes everything waiting for the destination; a digest
            # the rows whose release time has come.
            group = store.claim_fold(
                row.destination, row.fold, t if row.fold == "digest" else None, DELIVERY_LEASE
            )
        done.update(r.id for r in group)
        live = [r for r in group if not _expired(store, r, t, settings, stats)]
        if not live:
            continue
        label = "Digest" if row.fold == "digest" else "Alerts"
        parts = _messages(store, live, url, f"{label} for {row.channel}", configs, stats)
        rows = {r.id: r for r in live}
        for i, (ids, msg) in enumerate(parts):
            outcome = _send_part(
                store, url, row.channel, [rows[x] for x in ids], msg, settings, sender, now, stats
            )
            if outcome is not None:
                failure, retry_at = outcome
                if not failure.permanent:  # a 4xx may be about this message; others may still go
                    down[row.destination] = (retry_at, failure.error or "failed")
                # Later parts were not tried: they wait with the failed one.
                later = [x for rest, _ in parts[i + 1 :] for x in rest]
                if later:
                    store.defer(
                        later, retry_at, f"waiting: an earlier part failed ({failure.error})"
                    )
                    stats.deferred += len(later)
                break
    return stats


def _messages(
    store: Store,
    live: list[OutboxRow],
    url: str,
    label: str,
    configs: dict[str, ChannelConfig],
    stats: DeliveryStats,
) -> list[tuple[list[int], Message]]:
    """The messages for these rows of one destination. A row that cannot be
    rendered (a bug meeting hostile text) is dead, named in the log; it
    never stops the others."""
    try:
        if len(live) == 1:
            return [([live[0].id], message_for(live[0], url, configs))]
        alerts = [(r.id, alert_from_json(r.alert)) for r in live if r.alert is not None]
        parts = render_group(alerts, kind_of_url(url), label, size_limit(url))
        return parts + [([r.id], message_for(r, url, configs)) for r in live if r.alert is None]
    except Exception:
        pass
    parts = []
    for r in live:  # one at a time, to find the row that fails
        try:
            parts.append(([r.id], message_for(r, url, configs)))
        except Exception as e:
            error = f"dead: cannot be rendered ({type(e).__name__}: {e})"[:300]
            store.mark_failed(r.id, error, None)
            stats.dead += 1
            log.event(
                "alert.dead",
                level="error",
                channel=r.channel,
                reason="render_error",
                error=error,
                outbox_id=r.id,
            )
    return parts


def _expired(
    store: Store, row: OutboxRow, t: float, settings: DeliverySettings, stats: DeliveryStats
) -> bool:
    if row.due_at >= t - settings.max_age:
        return False
    store.mark_failed(
        row.id, f"dead: older than max_age ({settings.max_age:.0f}s) without delivery", None
    )
    stats.dead += 1
    log.event(
        "alert.dead", level="warning", channel=row.channel, reason="max_age", outbox_id=row.id
    )
    return True


def _send_part(
    store: Store,
    url: str,
    channel: str,
    rows: list[OutboxRow],
    msg: Message,
    settings: DeliverySettings,
    sender: Sender,
    now: Callable[[], float],
    stats: DeliveryStats,
) -> tuple[SendResult, float] | None:
    """Send one message for these rows and record the outcome. On failure,
    the result and when the destination may be tried again (the backoff of
    these rows, also when they are now dead)."""
    ids = [r.id for r in rows]
    result = sender(url, msg.title, msg.body, body_format=msg.format)
    if result.ok:
        store.mark_sent(ids, now())  # first thing after the send: keeps the repeat window small
        stats.sent += len(ids)
        stats.messages += 1
        log.event(
            "alert.sent",
            channel=channel,
            to=mask_url(url),
            alerts=len(ids),
            outbox_id=",".join(map(str, ids)),
        )
        return None
    attempts = max(r.attempts for r in rows) + 1
    dead = result.permanent or attempts >= settings.max_attempts
    next_try = now() + backoff(attempts, settings)
    retry_at = None if dead else next_try
    store.mark_failed(ids, result.error or "failed", retry_at)
    stats.failed += len(ids)
    stats.dead += len(ids) if dead else 0
    log.event(
        "alert.failed",
        level="warning",
        channel=channel,
        to=mask_url(url),
        outbox_id=",".join(map(str, ids)),
        attempt=attempts,
        dead=str(dead).lower(),
        retry_in=None if retry_at is None else f"{retry_at - now():.0f}s",
        error=result.error,
    )
    return result, next_try
