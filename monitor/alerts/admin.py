"""What `monitor outbox` and `monitor silence` show and do, from the state
file: outbox counts, the last error of each failing destination, dead
letters queued again; silences added, listed and removed."""

from __future__ import annotations

import json
import time
from typing import TextIO

from ..config import Config, parse_duration
from ..store import Store, destination_id
from .deliver import mask_url


def _names(config: Config) -> dict[str, str]:
    """destination id -> the URL as logs show it (secrets masked)."""
    return {destination_id(u): mask_url(u) for c in config.channels.values() for u in c.urls}


def _when(t: float | None, now: float) -> str:
    if t is None:
        return "-"
    d = t - now
    if abs(d) < 1:
        return "now"
    span = abs(d)
    text = (
        f"{span:.0f}s"
        if span < 120
        else f"{span / 60:.0f}m"
        if span < 7200
        else f"{span / 3600:.1f}h"
    )
    return f"in {text}" if d > 0 else f"{text} ago"


def outbox_report(
    config: Config,
    store: Store,
    out: TextIO,
    *,
    as_json: bool = False,
    retry_dead: bool = False,
    config_arg: str = "config.yaml",
    now: float | None = None,
) -> int:
    now = time.time() if now is None else now
    if retry_dead:
        print(requeue_dead(config, store, now), file=out)
    names = _names(config)
    counts = store.outbox_counts()
    held = store.held_counts()
    failing = [
        dict(r) | {"to": names.get(r["destination"], r["destination"])}
        for r in store.failing_deliveries(100)
    ]
    if as_json:
        print(
            json.dumps(
                {"counts": counts, "held": held, "failing": failing}, ensure_ascii=False, indent=2
            ),
            file=out,
        )
        return 0
    extra = "".join(f"  (held for {fold}: {n})" for fold, n in held.items())
    print(
        f"OUTBOX  pending {counts['pending']}  sent {counts['sent']}  dead {counts['dead']}{extra}",
        file=out,
    )
    for f in failing:
        when = "" if f["status"] == "dead" else f"  next try {_when(f['next_attempt_at'], now)}"
        print(
            f"  {f['status']:<8} {f['channel']:<16} {f['to']}  rows {f['rows']}  attempts {f['attempts']}{when}",
            file=out,
        )
        print(f"           last error: {f['last_error']}", file=out)
    if counts["dead"] and not retry_dead:
        print(
            f"  retry the dead letters: monitor outbox --config {config_arg} --retry-dead", file=out
        )
    return 0


def requeue_dead(config: Config, store: Store, now: float | None = None) -> str:
    """Queue the dead letters again for their channel's destinations as
    configured now, and say what was done."""
    from .route import destinations

    dests = destinations(
        {n: list(c.urls) for n, c in config.channels.items()}, len(config.disabled_channels)
    )
    got = store.requeue_dead(
        {name: [destination_id(u) for u in urls] for name, urls in dests.items()}, now
    )

    def deliveries(count: int, adjective: str) -> str:
        return f"{count} {adjective} {'delivery' if count == 1 else 'deliveries'}"

    parts = [f"{deliveries(got['queued'], 'dead')} queued again"]
    if got["retargeted"]:
        text = (
            f"{got['retargeted']} re-targeted by channel name, as their destination left the "
            f"channel: {deliveries(got['created'], 'new')} to the channel's current destinations"
        )
        if got["had_it"]:
            text += f", {got['had_it']} skipped (that destination has the story already)"
        parts.append(text)
    if got["channel_gone"]:
        parts.append(
            f"{got['channel_gone']} left dead: their channel is no longer configured "
            "(add it back to send them)"
        )
    return "; ".join(parts)


def silence_add(
    store: Store,
    rule: str,
    duration: str,
    reason: str,
    known_rules: set[str] | None,
    out: TextIO,
    now: float | None = None,
) -> int:
    now = time.time() if now is None else now
    try:
        seconds = parse_duration(duration)
    except ValueError as e:
        print(f"error: --for: {e}", file=out)
        return 2
    if known_rules is not None and rule not in known_rules:
        print(f"error: no rule '{rule}' in the configured rules", file=out)
        return 2
    sid = store.add_silence(rule, now + seconds, reason, now)
    until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(now + seconds))
    print(f"silence {sid}: rule {rule} silenced until {until}", file=out)
    return 0


def silence_list(store: Store, out: TextIO, now: float | None = None) -> int:
    now = time.time() if now is None else now
    rows = store.silences(now)
    if not rows:
        print("no active silences", file=out)
    for r in rows:
        until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(r["expires_at"]))
        reason = f"  {r['reason']}" if r["reason"] else ""
        print(
            f"{r['id']:>4}  {r['rule_id']:<32} until {until} ({_when(r['expires_at'], now)}){reason}",
            file=out,
        )
    return 0
