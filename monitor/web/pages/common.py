"""What every page handler uses: the dashboard, its store, safe redirects."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from flask import current_app, redirect, request, url_for

from ..app import Dashboard


def dash() -> Dashboard:
    return current_app.extensions["dashboard"]


def store():
    return current_app.extensions["store"]()


def back(default: str = "matches"):
    """Redirect (303) to the form's `next`, a path on this site only."""
    target = request.form.get("next", "")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = url_for(default)
    return redirect(target, code=303)


def parse_day(value: str | None, field: str) -> tuple[float | None, str | None]:
    """A YYYY-MM-DD date (UTC midnight) -> (epoch seconds, error)."""
    if not value:
        return None, None
    try:
        day = datetime.strptime(value.strip(), "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None, f"{field}: '{value}' is not a date (expected YYYY-MM-DD)"
    return day.timestamp(), None


def day_start(days_back: int, now: float | None = None) -> float:
    """UTC midnight `days_back` days before today."""
    now = time.time() if now is None else now
    return (int(now // 86400) - days_back) * 86400.0


def rule_tags(ruleset) -> list[str]:
    return sorted({t for r in ruleset.rules for t in r.tags})


def int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else None
