"""A CPU budget for reading one document.

Parsers check it between stories: a document that costs more than
CPU_SECONDS of the reading thread's CPU ends with one clear error instead
of holding the service. Thread CPU time, not wall time, so a busy machine
does not fail documents that are merely waiting. HTML pages are read up to
MAX_HTML_CHARS: listings put their newest stories first.
"""

from __future__ import annotations

import time

from .errors import SourceError

CPU_SECONDS = 20.0
MAX_HTML_CHARS = 4_000_000


class Budget:
    def __init__(self, seconds: float | None = None):
        self.seconds = CPU_SECONDS if seconds is None else seconds
        self.start = time.thread_time()
        self.wall = time.monotonic()

    def check(self, done: int) -> None:
        # A thread cannot use more CPU than the time that has passed, so the
        # thread's clock (a system call, where the wall clock is not) is read
        # only once the wall clock says the budget could be spent.
        if time.monotonic() - self.wall <= self.seconds:
            return
        if time.thread_time() - self.start > self.seconds:
            raise SourceError(
                "parse_error",
                f"reading the document took more than {self.seconds:g} s of CPU "
                f"(stopped after {done} stories)",
            )
