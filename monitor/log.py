"""One line per event, key=value, to stdout (DESIGN.md, Conventions)."""
from __future__ import annotations

import logging
import sys
import time

_logger = logging.getLogger("monitor")


def _quote(value: object) -> str:
    text = str(value).replace("\n", " ").replace("\r", " ")
    if text == "" or any(c in text for c in ' ="'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def setup(level: str = "info", stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    _logger.handlers[:] = [handler]
    _logger.setLevel(level.upper())
    _logger.propagate = False


def event(name: str, level: str = "info", **fields: object) -> None:
    lvl = getattr(logging, level.upper())
    if not _logger.isEnabledFor(lvl):
        return
    ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    parts = [f"ts={ts}", f"level={level}", f"event={name}"]
    parts += [f"{k}={_quote(v)}" for k, v in fields.items() if v is not None]
    _logger.log(lvl, " ".join(parts))
