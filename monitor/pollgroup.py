"""The writes of a cycle's polls, a group at a time.

A poll that finds nothing new (a 304, or the same body again) only moves
its source's row on: when it was polled, its validators, when it is due.
Written one by one that is a transaction per feed, most of an all-304
cycle's work on the loop's thread. A cycle gathers these rows instead and
writes them in one transaction (Store.record_not_modified_many) once the
group holds GROUP_SIZE rows or its first row is GROUP_SECONDS old, and
when the fetches are done. A crash loses at most one group of "polled at"
bookkeeping, which only means those sources are polled again.

A poll that found new stories writes them at once (its source's row fenced
by its lease, its stories, matches and outbox rows together), each poll a
savepoint of one transaction that stays open for the group (WriteGroup),
under the same limits. The polls that follow, on the same connection, see
what the open group holds: a copy of a story written earlier in the cycle
is known as one. A crash before the group commits loses all of its polls
together, stories and outbox rows alike, so they are polled and alerted
again, once; a group the database will not commit is written again poll by
poll, each in a transaction of its own.

What follows a written row (its log line, its health, the quiet period
its alerts start) runs once the row is committed, and not at all for a
source whose lease turned out to be lost.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import log
from .store import LeaseLost, StoreUnavailable
from .store.db import GroupRefused

if TYPE_CHECKING:
    from .config import SourceConfig
    from .polls import PollOutcome
    from .store import NotModified, Store
    from .store.db import GroupTx

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
        self.store.record_unchanged(entry.row)
        entry.then()


def _lease_lost(name: str) -> None:
    raise LeaseLost(name)


def _settled(entry: Pending | Written, write: Callable[[], object], fenced: Fenced) -> None:
    """`write` through the fence; the outcome handed back for the poll
    becomes the failure the fence names, if any."""

    def attempt() -> PollOutcome:
        write()
        return entry.outcome

    got = fenced(entry.src, attempt)
    if got is not entry.outcome:
        vars(entry.outcome).update(vars(got))


@dataclass
class Written:
    """A poll written inside the open group, not yet committed."""

    src: SourceConfig
    redo: Callable[[], object]  # the poll's write on its own, should the group be refused
    then: Callable[[], None]  # what follows the commit: the log line, the health
    outcome: PollOutcome


class WriteGroup:
    """The open transaction the cycle's polls with new stories write in."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic):
        self.store = store
        self.clock = clock
        self.tx: GroupTx | None = None
        self.written: list[Written] = []
        self.since = 0.0

    @property
    def open(self) -> bool:
        return self.tx is not None

    def begin(self) -> None:
        """Open the group's transaction, unless it is open."""
        if self.tx is None:
            tx = self.store.group_tx()
            tx.begin()
            self.tx, self.since = tx, self.clock()

    def add(self, entry: Written) -> None:
        self.written.append(entry)

    def wait(self) -> float | None:
        """Seconds until the group is due to commit (0: now), None when none is open."""
        if self.tx is None:
            return None
        if len(self.written) >= GROUP_SIZE:
            return 0.0
        return max(0.0, self.since + GROUP_SECONDS - self.clock())

    def commit(self, fenced: Fenced) -> None:
        """Commit the open group, then run what follows each poll through
        `fenced`. StoreUnavailable rolls everything back (the polls are made
        again); any other refusal writes each poll again on its own."""
        tx, entries = self.tx, self.written
        self.tx, self.written = None, []
        if tx is None:
            return
        try:
            tx.commit()
        except StoreUnavailable:
            tx.rollback()
            raise
        except Exception as e:
            from .polls import _one_line

            if not isinstance(e, GroupRefused):
                tx.rollback()
            log.event("poll.group_write_failed", level="error", error=_one_line(e))
            for entry in entries:
                _settled(entry, functools.partial(_redo, entry), fenced)
            return
        for entry in entries:
            _settled(entry, entry.then, fenced)

    def abandon(self) -> None:
        """Roll the open group back (the cycle failed): its polls are made again."""
        tx, self.tx, self.written = self.tx, None, []
        if tx is not None:
            try:
                tx.rollback()
            except StoreUnavailable:
                pass


def _redo(entry: Written) -> None:
    entry.redo()
    entry.then()
