"""When held alerts are released: digest schedules and burst windows.

A digest channel holds its alerts in the outbox until the next time of its
schedule (`hourly`, `daily` or a five-field cron expression, read in UTC);
then the delivery worker folds every held row of a destination into one
message, grouped by rule and split under the service's size limit
(formats.render_group). A burst window holds each alert `burst` seconds, and
everything that arrived for the destination by then goes out together.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

NAMED = {"hourly": "0 * * * *", "daily": "0 0 * * *"}


def schedule_of(spec: str) -> Callable[[float], float]:
    """A function giving the first release time strictly after `now`.
    Raises ValueError for a spec that is neither a name nor valid cron."""
    from croniter import croniter  # here: only digest channels need it

    expr = NAMED.get(spec.strip().lower(), spec.strip())
    if len(expr.split()) != 5 or not croniter.is_valid(expr):
        raise ValueError(
            f"digest '{spec}' is not hourly, daily or a five-field cron expression "
            'such as "0 8,17 * * 1-5"'
        )

    def next_after(now: float) -> float:
        start = datetime.fromtimestamp(now, UTC)
        return float(croniter(expr, start).get_next(float))

    return next_after
