"""The dashboard of a running monitor: its store, its current rules and
config (after every reload), its health, and its wake-up for "poll now"."""

from __future__ import annotations

from .. import log
from .app import Dashboard, create_app
from .auth import PasswordHash, check_listen, read_password


def dashboard_for(mon, host: str):
    """The WSGI application of the pages; raises SignInError when they
    would be open off loopback without a password."""
    password = read_password()
    if password:
        log.add_secret(password)
    hashed = PasswordHash(password) if password else None
    del password
    check_listen(host, hashed)
    app = create_app(
        Dashboard(
            state=mon.config.state,
            rules=lambda: mon.rules,
            config=lambda: mon.config,
            health=mon.health,
            ready=mon.ready,
            password=hashed,
            listen_host=host,
            public_url=mon.config.http.public_url,
            wake=mon.wake.set,
        )
    )
    app.close = app.extensions["close_stores"]  # type: ignore[attr-defined]
    return app
