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
