"""A one-line progress display for long commands (`monitor once`).

Shown only when standard error is a terminal; in a pipe, a file or under
CI it writes nothing, so logs and scripts see exactly what they saw before.
Log lines printed meanwhile clear the progress line and draw it again
below themselves (monitor.log's `before_write` and `after_write` hooks), so
the two never run into each other.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from . import log


def wanted(stream: TextIO) -> bool:
    if os.environ.get("MONITOR_NO_PROGRESS") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    def __init__(self, label: str, stream: TextIO | None = None):
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = wanted(self.stream)
        self._shown = False
        self._line = ""

    def __call__(self, done: int, total: int, what: str) -> None:
        if not self.enabled:
            return
        width = 20
        filled = int(width * done / total) if total else width
        bar = "#" * filled + "-" * (width - filled)
        self._line = f"{self.label} [{bar}] {done}/{total} {what}"[:200]
        self.redraw()

    def redraw(self) -> None:
        if self.enabled and self._line:
            self.stream.write("\r\x1b[K" + self._line)
            self.stream.flush()
            self._shown = True

    def clear(self) -> None:
        if self.enabled and self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False

    def __enter__(self) -> Progress:
        if self.enabled:
            log.before_write, log.after_write = self.clear, self.redraw
        return self

    def __exit__(self, *exc) -> None:
        if log.before_write == self.clear:
            log.before_write = log.after_write = None
        self._line = ""
        self.clear()
