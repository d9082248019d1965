"""When to poll each source.

* Every source is due at its own ``next_check_at`` (persisted in the store,
  so a restart does not fire every source at once), computed from its
  interval with a jitter that is stable per source name: two sources with
  the same interval do not stay in lock-step, and one source's rhythm does
  not drift from run to run.
* Servers may ask for less: ``Retry-After`` (on 429 and 503), Cache-Control
  ``max-age`` and an RSS ``<ttl>`` lengthen the interval, never beyond
  ``fetch.max_interval``, and never shorten it.
* Fetching many sources at once, within per-host limits, is fetchall.py's.

Nothing here fetches, parses or writes state.
"""

from __future__ import annotations

import email.utils
import hashlib
import re
from urllib.parse import urlsplit

from .config import FetchSettings
from .fetch import FetchError, FetchResult

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
