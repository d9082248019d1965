"""Status: the facts of /healthz and `monitor status`."""

from __future__ import annotations

import time

from flask import Flask, render_template

from ... import log
from ...store import display_state
from .common import dash, store


def status_page():
    d = dash()
    s = store()
    healthy, health = d.health()
    ready, readiness = d.ready()
    reload = s.get_meta("last_reload") or health.get("reload")
    now = time.time()
    failing = [
        {"name": r["name"], "reason": r["last_error_reason"], "failures": r["failures"]}
        for r in s.sources()
        if r["last_error"] and r["name"] in {src.name for src in d.config().sources}
    ]
    return render_template(
        "status.html",
        healthy=healthy,
        health=health,
        ready=ready,
        readiness=readiness,
        last_cycle=s.get_meta("last_cycle"),
        reload=reload,
        reload_errors=[log.mask(str(e)) for e in (reload or {}).get("errors") or []],
        start_problems=[log.mask(str(e)) for e in (s.get_meta("start_problems") or [])],
        state=display_state(d.state),
        backend="PostgreSQL" if s.postgres else "SQLite",
        schema=s.schema_version,
        counts=s.outbox_counts(),
        sources=len(d.config().sources),
        rules=len(d.rules().rules),
        failing=failing,
        recent=s.recent_stories(10),
        day=s.matches_since(now - 86400),
        week=s.matches_since(now - 7 * 86400),
        now=now,
    )


def register(app: Flask) -> None:
    app.add_url_rule("/status", "status", status_page)
