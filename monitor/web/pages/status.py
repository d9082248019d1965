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
        now=time.time(),
    )


def register(app: Flask) -> None:
    app.add_url_rule("/status", "status", status_page)
