"""One line per event, to stdout (DESIGN.md, Conventions).

    log.event("source.polled", source="wire", status=200, new=2)

prints ``ts=... level=info event=source.polled source=wire status=200 new=2``
(text, the default) or the same as one JSON object (``log.format: json``).

Secrets never reach a line: every value is passed through ``mask()``, which
replaces the secrets registered with ``add_secret()`` (the values the config
took from the environment, each channel's Apprise URL by its masked form) and
the password of any ``scheme://user:password@host`` URL.

Subscribers (``subscribe()``) see every event with its fields, whatever the
log level: the metrics count what the log tells, so the two never disagree.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable

_logger = logging.getLogger("monitor")

FORMATS = ("text", "json")
_format = "text"
# secret -> what is printed instead; applied longest first
_secrets: dict[str, str] = {}
_secret_order: list[str] = []
_subscribers: list[Callable[[str, dict], None]] = []
# Called before and after a line is written (a progress display clears its
# line, then draws it again under the log line).
before_write: Callable[[], None] | None = None
after_write: Callable[[], None] | None = None

_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@")
# A secret shorter than this would mask ordinary words.
MIN_SECRET_LEN = 4


def _quote(value: object) -> str:
    text = str(value).replace("\n", " ").replace("\r", " ")
    if text == "" or any(c in text for c in ' ="'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


# The handler setup() installed: while it is the logger's only one, a line
# is written to its stream directly (see _write).
_handler: logging.StreamHandler | None = None


def setup(level: str = "info", stream=None, fmt: str | None = None) -> None:
    global _handler
    handler = _handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    _logger.handlers[:] = [handler]
    _logger.setLevel(level.upper())
    _logger.propagate = False
    if fmt is not None:
        set_format(fmt)


def set_format(fmt: str) -> None:
    global _format
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not '{fmt}'")
    _format = fmt


def set_level(level: str) -> None:
    _logger.setLevel(level.upper())


def add_secret(value: str, replacement: str = "***") -> None:
    """Never print `value`; print `replacement` where it would appear."""
    if not value or len(value) < MIN_SECRET_LEN or value == replacement:
        return
    if value not in _secrets:
        _secret_order.append(value)
        _secret_order.sort(key=len, reverse=True)
    _secrets[value] = replacement


def forget_secrets() -> None:
    """Drop every registered secret (between tests in one process)."""
    _secrets.clear()
    _secret_order.clear()


def mask(text: str) -> str:
    for secret in _secret_order:
        if secret in text:
            text = text.replace(secret, _secrets[secret])
    return _USERINFO.sub(r"\1***@", text) if "://" in text else text


def subscribe(fn: Callable[[str, dict], None]) -> None:
    _subscribers.append(fn)


def unsubscribe(fn: Callable[[str, dict], None]) -> None:
    if fn in _subscribers:
        _subscribers.remove(fn)


# C0 and C1 controls but newline: ESC starts a terminal's escape sequences
# (colours, OSC 8 links, a retitled window, a cleared screen), C1 CSI too.
_CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Text from outside (titles, reason phrases, errors) made safe for a
    terminal: every control character shown as \\xNN."""
    if text.isprintable():  # no control character (nearly always)
        return text
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _clean(value: object) -> object:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return value
    return printable(mask(str(value)))


_LEVELS = {name: getattr(logging, name.upper()) for name in ("debug", "info", "warning", "error")}
_stamp: tuple[int, str] = (0, "")


def _timestamp() -> str:
    """The time of a line, to the second (formatted once per second)."""
    global _stamp
    now = int(time.time())
    if _stamp[0] != now:
        _stamp = (now, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)))
    return _stamp[1]


def event(name: str, level: str = "info", **fields: object) -> None:
    for fn in list(_subscribers):
        try:
            fn(name, fields)
        except Exception:  # a broken subscriber must not break logging or the loop
            pass
    lvl = _LEVELS.get(level) or getattr(logging, level.upper())
    if not _logger.isEnabledFor(lvl):
        return  # nothing below is built for a level that is off
    ts = _timestamp()
    values = {k: _clean(v) for k, v in fields.items() if v is not None}
    if _format == "json":
        line = json.dumps({"ts": ts, "level": level, "event": name, **values}, ensure_ascii=False)
    else:
        parts = [f"ts={ts}", f"level={level}", f"event={name}"]
        parts += [f"{k}={_quote(v)}" for k, v in values.items()]
        line = " ".join(parts)
    if before_write is not None:
        before_write()
    _write(lvl, line)
    if after_write is not None:
        after_write()


def _write(lvl: int, line: str) -> None:
    """The line to setup()'s stream, as its handler would write it, without
    building a log record; through logging when anything else listens (a
    test's capture, a handler added since)."""
    h = _handler
    handlers = _logger.handlers
    if h is None or _logger.propagate or len(handlers) != 1 or handlers[0] is not h or h.filters:
        _logger.log(lvl, line)
        return
    try:
        with h.lock:  # type: ignore[union-attr]  # StreamHandler always has its lock
            h.stream.write(line + h.terminator)
            h.stream.flush()
    except Exception:  # a closed or broken stream: logging reports it its own way
        _logger.log(lvl, line)
