"""Sources: each one's health, its last new story, its next check, new
stories per day, and a "poll now" button."""

from __future__ import annotations

import time

from flask import Flask, abort, render_template, request

from ... import log
from .. import charts
from .common import back, dash, day_start, store

DAYS = 14


def sources_page():
    s = store()
    now = time.time()
    start = day_start(DAYS - 1, now)
    per_day = s.stories_per_day(start)
    states = {r["name"]: dict(r) for r in s.sources()}
    rows = []
    for src in dash().config().sources:
        st = states.get(src.name, {})
        counts = per_day.get(src.name, {})
        values = [counts.get(i, 0) for i in range(DAYS)]
        rows.append(
            {
                "name": src.name,
                "kind": getattr(src, "kind", ""),
                "enabled": src.enabled,
                "url": log.mask(st.get("permanent_url") or src.url),
                "failing": bool(st.get("last_error")),
                "failures": st.get("failures") or 0,
                "since": st.get("broken_since"),
                "reason": st.get("last_error_reason"),
                "error": log.mask(st.get("last_error") or ""),
                "last_success": st.get("last_success_at"),
                "last_new": st.get("last_new_at"),
                "next_check": st.get("next_check_at"),
                "stories": st.get("stories_seen") or 0,
                "chart": charts.sparkline(values, f"new stories per day, last {DAYS} days"),
                "week": sum(values[-7:]),
            }
        )
    failures = s.broken_notices_per_day(start)
    days = [time.strftime("%m-%d", time.gmtime(start + i * 86400)) for i in range(DAYS)]
    chart = charts.line(
        days, [failures.get(i, 0) for i in range(DAYS)], "source failures (broken alerts) per day"
    )
    return render_template("sources.html", rows=rows, chart=chart, days=DAYS)


def poll_now():
    name = request.form.get("source", "")
    if name not in {src.name for src in dash().config().sources}:
        abort(404, "no such source")
    store().poll_now(name)
    wake = dash().wake
    if wake is not None:
        wake()
    log.event("web.poll_now", source=name)
    return back("sources")


def register(app: Flask) -> None:
    app.add_url_rule("/sources", "sources", sources_page)
    app.add_url_rule("/sources/poll", "poll_now", poll_now, methods=["POST"])
