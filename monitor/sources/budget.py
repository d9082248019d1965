"""A CPU budget for reading one document.

Parsers check it between stories: a document that costs more than
CPU_SECONDS of the reading thread's CPU ends with one clear error instead
of holding the service. Thread CPU time, not wall time, so a busy machine
does not fail documents that are merely waiting. HTML pages are read up to
MAX_HTML_CHARS: listings put their newest stories first.

Reading the thread's CPU clock is a system call, which costs a poll of a
small feed more than its whole budget check (the kernel entry slows the
code after it too). A thread cannot use more CPU than the time that
passes, so the clock is read rarely: each thread keeps one reading of it,
renewed when older than SAMPLE_SECONDS, and a document's CPU is counted
from that reading less the wall time between it and the document's start.
That is never more than the document used; a document over its budget
stops at most SAMPLE_SECONDS of CPU late.
"""

from __future__ import annotations

import threading
import time

from .errors import SourceError

CPU_SECONDS = 20.0
MAX_HTML_CHARS = 4_000_000
SAMPLE_SECONDS = 0.5

_clock = threading.local()  # (wall, thread CPU) read together, per thread


def _reading(wall: float) -> tuple[float, float]:
    last = getattr(_clock, "last", None)
    if last is None or wall - last[0] >= SAMPLE_SECONDS:
        last = _clock.last = (wall, time.thread_time())  # read after `wall`: no more CPU
    return last


class Budget:
    def __init__(self, seconds: float | None = None):
        self.seconds = CPU_SECONDS if seconds is None else seconds
        self.wall = time.monotonic()
        sampled_at, self.cpu = _reading(self.wall)
        # CPU the thread may have used between the reading and this start
        self.slack = self.wall - sampled_at

    def check(self, done: int) -> None:
        if time.monotonic() - self.wall <= self.seconds:
            return  # less time has passed than the budget: no CPU clock needed
        if time.thread_time() - self.cpu - self.slack > self.seconds:
            raise SourceError(
                "parse_error",
                f"reading the document took more than {self.seconds:g} s of CPU "
                f"(stopped after {done} stories)",
            )
