"""The bookkeeping of unchanged polls, written a group at a time.

A poll that finds nothing new (a 304, or the same body again) only moves
its source's row on: when it was polled, its validators, when it is due.
Written one by one that is a transaction per feed, most of an all-304
cycle's work on the loop's thread. A cycle gathers these rows instead and
writes them in one transaction (Store.record_not_modified_many) once the
group holds GROUP_SIZE rows or its first row is GROUP_SECONDS old, and
when the fetches are done. A crash loses at most one group of "polled at"
bookkeeping, which only means those sources are polled again; nothing of a
poll that found new stories waits here (those are written with their
stories and outbox rows in one transaction of their own).

What follows a written row (its log line, its health) runs once the row is
written, and not at all for a source whose lease turned out to be lost.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import log
from .store import LeaseLost, StoreUnavailable

if TYPE_CHECKING:
    from .config import SourceConfig
    from .polls import PollOutcome
    from .store import NotModified, Store

# a poll's handling through the monitor's lease fence (Monitor._fenced)
Fenced = Callable[["SourceConfig", Callable[[], "PollOutcome"]], "PollOutcome"]

GROUP_SIZE = 500
GROUP_SECONDS = 0.2


@dataclass
class Pending:
    src: SourceConfig
    row: NotModified
    then: Callable[[], None]  # what follows the write: the log line, the health
    outcome: PollOutcome  # handed back already; corrected if the write fails


class PollGroup:
    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic):
        self.store = store
        self.clock = clock
        self.pending: list[Pending] = []
        self.since = 0.0

    def add(self, entry: Pending) -> None:
        if not self.pending:
            self.since = self.clock()
        self.pending.append(entry)

    def wait(self) -> float | None:
        """Seconds until the group is due to be written (0: now), None when empty."""
        if not self.pending:
            return None
        if len(self.pending) >= GROUP_SIZE:
            return 0.0
        return max(0.0, self.since + GROUP_SECONDS - self.clock())

    def take(self) -> list[Pending]:
        """The pending rows, leaving the group empty."""
        taken, self.pending = self.pending, []
        return taken

    def write(self, entries: list[Pending], fenced: Fenced) -> None:
        """Write taken rows, then what follows each (its log line, its
        health), each through `fenced`. A source whose lease was lost is not
        written and its outcome says so; when the group as a whole cannot be
        written (a value the database refuses), each row is written on its own."""
        if not entries:
            return
        try:
            lost = set(self.store.record_not_modified_many([e.row for e in entries]))
        except StoreUnavailable:
            raise
        except Exception as e:
            from .polls import _one_line  # polls.py builds the groups

            log.event("poll.group_write_failed", level="error", error=_one_line(e))
            for entry in entries:
                _settled(entry, functools.partial(self._write_one, entry), fenced)
            return
        for entry in entries:
            if entry.row.name in lost:
                _settled(entry, functools.partial(_lease_lost, entry.row.name), fenced)
            else:
                _settled(entry, entry.then, fenced)

    def _write_one(self, entry: Pending) -> None:
        r = entry.row
        self.store.record_not_modified(
            r.name,
            r.next_check_at,
            r.now,
            etag=r.etag,
            last_modified=r.last_modified,
            status=r.status,
            lease=r.lease,
        )
        entry.then()


def _lease_lost(name: str) -> None:
    raise LeaseLost(name)


def _settled(entry: Pending, write: Callable[[], object], fenced: Fenced) -> None:
    """`write` through the fence; the outcome handed back for the poll
    becomes the failure the fence names, if any."""

    def attempt() -> PollOutcome:
        write()
        return entry.outcome

    got = fenced(entry.src, attempt)
    if got is not entry.outcome:
        vars(entry.outcome).update(vars(got))
