"""Sign-in and sign-out (only when a password is set)."""

from __future__ import annotations

from flask import Flask, abort, redirect, render_template, request, session, url_for

from ... import log
from .common import dash


def _next() -> str:
    target = request.values.get("next", "")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("matches")
    return target


def signin():
    d = dash()
    if d.password is None:
        return redirect(url_for("matches"))
    error = None
    status = 200
    if request.method == "POST":
        client = request.remote_addr or "?"
        if d.limiter.blocked(client):
            error, status = "Too many failed sign-ins: wait a few minutes and try again.", 429
            log.event("web.signin_refused", level="warning", client=client)
        elif d.password.verify(request.form.get("password", "")):
            d.limiter.succeeded(client)
            csrf = session.get("csrf")
            session.clear()  # a new session on sign-in (no fixation)
            session["signed_in"] = True
            session["csrf"] = csrf
            session.permanent = True
            return redirect(_next(), code=303)
        else:
            d.limiter.failed(client)
            error, status = "Wrong password.", 403
            log.event("web.signin_failed", level="warning", client=client)
    return render_template("signin.html", error=error, next=_next()), status


def signout():
    if dash().password is None:
        abort(404)
    session.clear()
    return redirect(url_for("signin"), code=303)


def register(app: Flask) -> None:
    app.add_url_rule("/signin", "signin", signin, methods=["GET", "POST"])
    app.add_url_rule("/signout", "signout", signout, methods=["POST"])
