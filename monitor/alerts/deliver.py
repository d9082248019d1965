"""Sending one rendered message to one destination through Apprise."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TextIO

import apprise


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    error: str | None = None
    permanent: bool = False  # retrying cannot help (the URL is not valid)


def is_valid_url(url: str) -> bool:
    return apprise.Apprise.instantiate(url) is not None


def mask_url(url: str) -> str:
    """The URL as Apprise prints it with secrets hidden, for logs."""
    if url == "stdout":
        return url
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        scheme = url.split("://", 1)[0] if "://" in url else "?"
        return f"{scheme}://(invalid)"
    return plugin.url(privacy=True).split("?", 1)[0]


def send(url: str, title: str, body: str, out: TextIO | None = None) -> SendResult:
    """Send to one destination: an Apprise URL, or "stdout"."""
    if url == "stdout":
        out = out or sys.stdout
        out.write(f"=== ALERT: {title}\n{body}\n\n")
        out.flush()
        return SendResult(True)
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        return SendResult(False, f"not a valid Apprise URL: {mask_url(url)}", permanent=True)
    ap = apprise.Apprise()
    ap.add(plugin)
    with apprise.LogCapture(level=apprise.logging.WARNING, fmt="%(message)s") as logs:
        try:
            result = ap.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT)
        except Exception as e:  # a plugin bug must not stop the service
            return SendResult(False, f"{type(e).__name__}: {e}")
        captured = logs.getvalue() if hasattr(logs, "getvalue") else ""
    if _succeeded(result):
        return SendResult(True)
    message = " ".join(line.strip() for line in captured.splitlines() if line.strip())[-300:]
    return SendResult(False, message or "delivery failed")


def _succeeded(result: object) -> bool:
    # Apprise 2 returns a result per service; we add exactly one service.
    services = getattr(result, "results", None)
    if services is not None:
        return len(services) == 1 and services[0].status == apprise.AppriseResultStatus.SUCCESS
    return bool(result)
