"""Working off the outbox: send what is due, back off what fails."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

from .. import log
from ..config import DeliverySettings
from ..store import Store, destination_id
from .deliver import SendResult, mask_url, send


@dataclass
class DeliveryStats:
    sent: int = 0
    failed: int = 0
    dead: int = 0


def backoff(attempts: int, settings: DeliverySettings) -> float:
    """Seconds before retry number `attempts` (1-based): doubling, capped."""
    return min(settings.retry_base * (2 ** max(0, attempts - 1)), settings.retry_max)


def deliver_due(
    store: Store,
    dests: dict[str, list[str]],
    settings: DeliverySettings,
    *,
    stop: threading.Event | None = None,
    sender: Callable[[str, str, str], SendResult] = send,
    now: Callable[[], float] = time.time,
) -> DeliveryStats:
    """Send every due outbox row once. A row is marked sent only after its
    destination accepted it; a failure is kept for a later cycle."""
    by_id = {destination_id(u): u for urls in dests.values() for u in urls}
    stats = DeliveryStats()
    for row in store.due_deliveries(now()):
        if stop is not None and stop.is_set():
            break
        url = by_id.get(row.destination)
        if url is None:
            # The channel or URL left the config; keep the row visible as dead.
            store.mark_failed(row.id, f"destination of channel '{row.channel}' is no longer configured", None)
            stats.dead += 1
            log.event("alert.dead", level="warning", channel=row.channel, reason="destination removed")
            continue
        result = sender(url, row.title, row.body)
        if result.ok:
            store.mark_sent(row.id, now())
            stats.sent += 1
            log.event("alert.sent", channel=row.channel, to=mask_url(url), outbox_id=row.id)
            continue
        attempts = row.attempts + 1
        dead = result.permanent or attempts >= settings.max_attempts
        retry_at = None if dead else now() + backoff(attempts, settings)
        store.mark_failed(row.id, result.error or "failed", retry_at)
        stats.failed += 1
        stats.dead += int(dead)
        log.event("alert.failed", level="warning", channel=row.channel, to=mask_url(url), outbox_id=row.id,
                  attempt=attempts, dead=str(dead).lower(), error=result.error)
    return stats
