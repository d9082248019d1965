"""Delivery: the outbox, dead letters with a retry button, digests
waiting, and silences (list, add with an expiry, remove)."""

from __future__ import annotations

import time

from flask import Flask, abort, render_template, request

from ... import log
from ...config import parse_duration
from .. import charts
from .common import back, dash, store

HOURS = 24


def delivery_page(error: str | None = None, status: int = 200):
    s = store()
    now = time.time()
    points = [now - (HOURS - i) * 3600 for i in range(HOURS + 1)]
    depth = s.outbox_depth(points)
    labels = [time.strftime("%H:%M", time.gmtime(t)) for t in points]
    failing = [dict(r) for r in s.failing_deliveries()]
    for row in failing:
        row["last_error"] = log.mask(row["last_error"] or "")
    dead = s.dead_rows()
    for row in dead:
        row["last_error"] = log.mask(row["last_error"] or "")
    return render_template(
        "delivery.html",
        counts=s.outbox_counts(),
        failing=failing,
        dead=dead,
        digests=s.digests_waiting(),
        silences=[dict(r) for r in s.silences()],
        rules=dash().rules().rules,
        chart=charts.line(labels, depth, f"outbox depth, last {HOURS} hours"),
        error=error,
    ), status


def retry():
    row = request.form.get("row", "")
    if row == "all":
        n = store().retry_dead()
    elif row.isdigit():
        n = int(store().retry_dead_row(int(row)))
    else:
        abort(400, "which dead letter? (row id or all)")
    log.event("web.retry_dead", rows=n)
    wake = dash().wake
    if wake is not None:
        wake()
    return back("delivery")


def add_silence():
    rule_id = request.form.get("rule_id", "").strip()
    duration = request.form.get("for", "").strip()
    reason = request.form.get("reason", "").strip()[:200]
    if dash().rules().get(rule_id) is None:
        return delivery_page(f"silence: no rule '{rule_id}'", 400)
    try:
        seconds = parse_duration(duration)
    except ValueError as e:
        return delivery_page(f"silence: for: {e}", 400)
    if seconds <= 0:
        return delivery_page("silence: for: give a duration above zero, e.g. 2h", 400)
    store().add_silence(rule_id, time.time() + seconds, reason)
    log.event("web.silence_added", rule=rule_id, seconds=seconds)
    return back("delivery")


def remove_silence():
    sid = request.form.get("silence", "")
    if not sid.isdigit() or not store().remove_silence(int(sid)):
        abort(404, "no such silence")
    return back("delivery")


def register(app: Flask) -> None:
    app.add_url_rule("/delivery", "delivery", delivery_page)
    app.add_url_rule("/delivery/retry", "retry_dead", retry, methods=["POST"])
    app.add_url_rule("/silences", "add_silence", add_silence, methods=["POST"])
    app.add_url_rule("/silences/remove", "remove_silence", remove_silence, methods=["POST"])
