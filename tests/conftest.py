"""Shared pytest fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from httpserver import LocalServer  # noqa: E402


@pytest.fixture
def http_server():
    """A loopback HTTP server (tests/httpserver.py), stopped after the test."""
    with LocalServer() as server:
        yield server


@pytest.fixture
def smtp_sink():
    """A real SMTP server (aiosmtpd) on loopback."""
    from receivers import SmtpSink

    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def webhook():
    """A JSON webhook receiver on loopback for Apprise's json:// URLs."""
    from receivers import WebhookReceiver

    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def chat(monkeypatch):
    """Slack- and Discord-shaped webhook endpoints and a Telegram-shaped bot
    API on loopback, with Apprise's own plugins aimed at them."""
    from receivers import ChatReceiver

    with ChatReceiver() as receiver:
        receiver.point_apprise_at(monkeypatch)
        yield receiver


@pytest.fixture(scope="session")
def pg_server():
    """One PostgreSQL server for the session (tests/pgserver.py); skipped,
    saying why, where no PostgreSQL server binary is installed."""
    from pgserver import PgServer, find_bindir

    bindir = find_bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL tests skipped: no server binary (initdb, pg_ctl) on PATH, in PG_BINDIR "
            "or in /usr/lib/postgresql/*/bin"
        )
    server = PgServer(bindir).start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server):
    """The URL of a fresh, empty database on the session's server."""
    return pg_server.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def state(request, tmp_path):
    """A state location on each backend: a SQLite file, then a fresh
    PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "state.db"
    return request.getfixturevalue("pg_url")
