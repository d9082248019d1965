"""The Flask application: security on every request, then one small
handler per page (pages/*.py).

Why Flask, Jinja2 and waitress: Flask is synchronous like the rest of the
monitor (the store, the engine and the fetcher are plain blocking code),
its test client drives every page without a server, and Jinja2 escapes
every value by default. Waitress (monitor/httpapi.py) is a pure-Python
server that reads requests without a thread per connection.
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, abort, g, redirect, render_template, request, session, url_for
from markupsafe import Markup, escape
from werkzeug.exceptions import HTTPException

from .. import log
from ..store import Store
from .auth import Limiter, PasswordHash, is_loopback

# No inline script or style anywhere: the SVG charts use presentation
# attributes, the few lines of script are a file under static/.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PUBLIC_PATHS = ("/signin", "/static/")


@dataclass
class Dashboard:
    """What the pages read besides the store: the running rules and config,
    the loop's health, and how to wake it for "poll now"."""

    state: str | Path
    rules: Callable[[], Any]  # -> RuleSet (the one running now, after reloads)
    config: Callable[[], Any]  # -> Config
    health: Callable[[], tuple[bool, dict]] = lambda: (True, {"status": "unknown"})
    ready: Callable[[], tuple[bool, dict]] = lambda: (True, {"status": "unknown"})
    password: PasswordHash | None = None
    listen_host: str = "127.0.0.1"
    public_url: str | None = None
    wake: Callable[[], None] | None = None  # the loop looks at the schedule again
    page_size: int = 50
    limiter: Limiter = field(default_factory=Limiter)


def create_app(dash: Dashboard) -> Flask:
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.jinja_env.autoescape = True  # every template, whatever its name
    app.secret_key = dash.password.session_key if dash.password else secrets.token_bytes(32)
    secure = bool(dash.public_url and dash.public_url.startswith("https://"))
    app.config.update(
        SESSION_COOKIE_NAME="monitor_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        PERMANENT_SESSION_LIFETIME=12 * 3600,
        MAX_CONTENT_LENGTH=1024 * 1024,
        MAX_FORM_MEMORY_SIZE=1024 * 1024,
    )
    app.extensions["dashboard"] = dash
    local = threading.local()
    opened: list[Store] = []
    lock = threading.Lock()

    def store() -> Store:
        """One store connection per server thread, opened on first use."""
        s = getattr(local, "store", None)
        if s is None:
            s = local.store = Store(dash.state)
            with lock:
                opened.append(s)
        return s

    def close_stores() -> None:
        with lock:
            for s in opened:
                s.close()
            opened.clear()

    app.extensions["store"] = store
    app.extensions["close_stores"] = close_stores

    @app.before_request
    def guard():
        g.started = time.perf_counter()
        if not _host_allowed(request.host, dash):
            abort(400, "unknown Host header")  # DNS rebinding onto a loopback page
        path = request.path
        if dash.password is not None and not path.startswith(PUBLIC_PATHS):
            if not session.get("signed_in"):
                if request.method != "GET":
                    abort(403, "sign in first")
                return redirect(url_for("signin", next=request.full_path.rstrip("?")))
        if request.method == "POST":
            sent = request.form.get("csrf_token", "")
            if not sent or not hmac.compare_digest(sent, csrf_token()):
                abort(403, "missing or wrong CSRF token: reload the page and try again")
        return None

    @app.after_request
    def headers(resp):
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers.setdefault("Cache-Control", "no-store")
        if "started" in g:
            resp.headers["Server-Timing"] = (
                f"app;dur={(time.perf_counter() - g.started) * 1000:.1f}"
            )
        return resp

    def csrf_token() -> str:
        token = session.get("csrf")
        if not token:
            token = session["csrf"] = secrets.token_urlsafe(32)
        return token

    @app.context_processor
    def common():
        return {
            "csrf_token": csrf_token,
            "signed_in": bool(session.get("signed_in")),
            "sign_in_needed": dash.password is not None,
            "now": time.time(),
        }

    app.jinja_env.filters.update(
        href=safe_href, when=when, ago=ago, marked=marked, mask=log.mask, pct=pct, where=where
    )

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        return render_template(
            "error.html", code=e.code, name=e.name, description=e.description
        ), e.code or 500

    from .pages import register

    register(app)
    return app


def _host_allowed(host: str, dash: Dashboard) -> bool:
    name = urlsplit("//" + host).hostname or ""
    if is_loopback(name) or name == dash.listen_host.strip("[]"):
        return True
    if dash.public_url and name == (urlsplit(dash.public_url).hostname or ""):
        return True
    # off loopback (a password is required there) any name may reach us
    return not is_loopback(dash.listen_host)


# -- template filters ----------------------------------------------------------


def safe_href(url: str | None) -> str:
    """The link if it is http(s), else '' (the title is then shown unlinked)."""
    if not url:
        return ""
    scheme = urlsplit(url.strip()).scheme.lower()
    return url.strip() if scheme in ("http", "https") else ""


def where(path) -> str:
    """A rule file's path as the operator wrote it: relative to the working
    folder when it lies inside it."""
    text = str(path)
    try:
        rel = os.path.relpath(text)
    except ValueError:
        return text
    return text if rel.startswith("..") else rel


def when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(t)) if t else "–"


def ago(t: float | None, now: float | None = None) -> str:
    if not t:
        return "never"
    s = int((now or time.time()) - t)
    future = s < 0
    s = abs(s)
    text = (
        f"{s}s"
        if s < 120
        else f"{s // 60}m"
        if s < 7200
        else f"{s // 3600}h"
        if s < 172800
        else f"{s // 86400}d"
    )
    return f"in {text}" if future else f"{text} ago"


def pct(pair: tuple[int, int] | None) -> str:
    if not pair or not pair[1]:
        return "–"
    good, n = pair
    return f"{100 * good / n:.0f}% ({good}/{n})"


def marked(text: str, terms: list[str] | None = None) -> Markup:
    """Escaped text with the terms (or [[...]] spans) in <mark>."""
    text = text or ""
    spans: list[tuple[int, int]] = []
    if terms is None:  # the explanation's own [[ ]] marks
        out, pos = [], 0
        while True:
            a = text.find("[[", pos)
            b = text.find("]]", a + 2) if a >= 0 else -1
            if a < 0 or b < 0:
                out.append(escape(text[pos:]))
                break
            out.append(escape(text[pos:a]))
            out.append(Markup("<mark>") + escape(text[a + 2 : b]) + Markup("</mark>"))
            pos = b + 2
        return Markup("").join(out)
    low = text.casefold()
    for term in terms:
        t = term.rstrip("*").casefold()
        if not t or len(low) != len(text):
            continue
        pos = low.find(t)
        while pos >= 0:
            spans.append((pos, pos + len(t)))
            pos = low.find(t, pos + len(t))
    spans.sort()
    out, pos = [], 0
    for a, b in spans:
        if a < pos:
            continue
        out.append(escape(text[pos:a]))
        out.append(Markup("<mark>") + escape(text[a:b]) + Markup("</mark>"))
        pos = b
    out.append(escape(text[pos:]))
    return Markup("").join(out)
