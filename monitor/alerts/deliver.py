"""Sending one rendered message to one destination through Apprise.

Apprise is imported where it is used: its hundred plugin modules cost a
start-up (`monitor check` without channels, `monitor once` with nothing to
send) that never needs them."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .formats import HTML, MARKDOWN, TEXT, kind_of_plugin


def _apprise() -> Any:
    import apprise

    return apprise


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    error: str | None = None
    permanent: bool = False  # retrying cannot help (invalid URL, a 4xx answer)
    unknown: bool = False  # a timeout: the receiver may or may not have it


def is_valid_url(url: str) -> bool:
    return _apprise().Apprise.instantiate(url) is not None


def mask_url(url: str) -> str:
    """The URL as Apprise prints it with secrets hidden, for logs."""
    if url == "stdout":
        return url
    plugin = _apprise().Apprise.instantiate(url)
    if plugin is None:
        scheme = url.split("://", 1)[0] if "://" in url else "?"
        return f"{scheme}://(invalid)"
    return _mask_path(plugin.url(privacy=True).split("?", 1)[0])


def _mask_path(url: str) -> str:
    """Apprise's private form keeps the path, where many services carry
    their secret (json://host/hooks/TOKEN, form://, ntfy topics): every path
    part it left whole is shortened to its first and last character."""
    if "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    host, sep, path = rest.partition("/")
    parts = [
        p if len(p) <= 3 or "..." in p or "*" in p else f"{p[0]}...{p[-1]}" for p in path.split("/")
    ]
    return f"{scheme}://{host}{sep}{'/'.join(parts)}"


# Discord parses @everyone, @here and <@id> in a webhook's content unless the
# message says otherwise: every message we send says "no mentions at all".
DISCORD_TEMPLATE = Path(__file__).with_name("discord.json")

_HTTP_CODE = re.compile(r"(?:error|code|status)[=: ]+(\d{3})\b", re.IGNORECASE)
_TIMEOUT = re.compile(r"timed? ?out", re.IGNORECASE)


def plugin_for(url: str):
    """The Apprise plugin for a URL, set up the way we send: Discord with
    allowed_mentions empty. None when the URL is not valid."""
    plugin = _apprise().Apprise.instantiate(url)
    if plugin is not None and kind_of_plugin(plugin) == "discord" and not len(plugin.template):
        # An operator's own ?template= is left alone; theirs decides the mentions.
        plugin.template.add(str(DISCORD_TEMPLATE))
    return plugin


def size_limit(url: str) -> int:
    """The longest body the service takes (Apprise's own figure)."""
    if url == "stdout":
        return 100_000
    plugin = _apprise().Apprise.instantiate(url)
    limit = getattr(plugin, "body_maxlen", 0) or 0
    return limit if limit > 0 else 100_000


def kind_of_url(url: str) -> str:
    if url == "stdout":
        return "text"
    plugin = _apprise().Apprise.instantiate(url)
    return kind_of_plugin(plugin) if plugin is not None else "text"


_FORMATS = {TEXT: "text", MARKDOWN: "markdown", HTML: "html"}  # apprise.NotifyFormat values


def send(
    url: str, title: str, body: str, out: TextIO | None = None, body_format: str = TEXT
) -> SendResult:
    """Send to one destination: an Apprise URL, or "stdout".

    The outcome is Apprise's result for that one service: success, a
    permanent failure (the URL is invalid, or the service answered a 4xx
    that no retry can fix), or a failure worth retrying (5xx, a refused
    connection, a timeout: a timeout is "unknown", since the receiver may
    have accepted the message, and is retried)."""
    if url == "stdout":
        out = out or sys.stdout
        out.write(f"=== ALERT: {title}\n{body}\n\n")
        out.flush()
        return SendResult(True)
    plugin = plugin_for(url)
    if plugin is None:
        return SendResult(False, f"not a valid Apprise URL: {mask_url(url)}", permanent=True)
    apprise = _apprise()
    ap = apprise.Apprise()
    ap.add(plugin)
    with apprise.LogCapture(level=apprise.logging.DEBUG, fmt="%(levelname)s %(message)s") as logs:
        try:
            result = ap.notify(
                body=body,
                title=title,
                body_format=apprise.NotifyFormat(_FORMATS.get(body_format, _FORMATS[TEXT])),
            )
        except Exception as e:  # a plugin bug must not stop the service
            return SendResult(False, f"{type(e).__name__}: {e}")
        captured = logs.getvalue() if hasattr(logs, "getvalue") else ""
    services = getattr(result, "results", None)
    if services is not None:
        # One service was added, so there is exactly one result to read.
        status = services[0].status if len(services) == 1 else None
        if status == apprise.AppriseResultStatus.SUCCESS:
            return SendResult(True)
        if status == apprise.AppriseResultStatus.TIMEOUT:
            return SendResult(False, "unknown: timed out", unknown=True)
    elif result:
        return SendResult(True)
    lines = [line.strip().split(" ", 1) for line in captured.splitlines() if line.strip()]
    warnings = [
        text for level, *rest in lines if level in ("WARNING", "ERROR", "CRITICAL") for text in rest
    ]
    message = " ".join(warnings)[-300:] or "delivery failed"
    code = next((int(m.group(1)) for m in _HTTP_CODE.finditer(message)), None)
    if code is not None and 400 <= code < 500 and code not in (408, 425, 429):
        return SendResult(False, f"permanent: http {code}: {message}", permanent=True)
    # The debug lines name the socket error: a read timeout means the
    # receiver may have the message; we cannot know, so we retry.
    if code is None and _TIMEOUT.search(captured):
        return SendResult(False, f"unknown: timed out: {message}", unknown=True)
    return SendResult(False, message)
