"""Sources and their leases. The sources table is the schedule: a poll's
outcome (its validators, errors, backoff) lands in the source's row, and a
replica claims a due source by taking its lease before fetching it. A poll's
write is fenced by the lease token its claim got, so a stalled replica's
stale result writes nothing."""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .db import Connected


@dataclass(frozen=True, slots=True)
class SourceState:
    name: str
    etag: str | None
    last_modified: str | None
    baseline_done: bool
    next_check_at: float | None
    failures: int
    body_hash: str | None = None
    permanent_url: str | None = None
    last_new_at: float | None = None
    broken_since: float | None = None
    broken_alerted: bool = False
    last_success_at: float | None = None
    last_error_reason: str | None = None
    url: str | None = None


def _source_state(r: Any) -> SourceState:
    return SourceState(
        r["name"],
        r["etag"],
        r["last_modified"],
        bool(r["baseline_done"]),
        r["next_check_at"],
        r["failures"],
        r["body_hash"],
        r["permanent_url"],
        r["last_new_at"],
        r["broken_since"],
        bool(r["broken_alerted"]),
        r["last_success_at"],
        r["last_error_reason"],
        r["url"],
    )


class LeaseLost(Exception):
    """Another replica took this source since it was claimed: the poll's
    result is stale and was not written."""


def _lease_owner() -> str:
    """Who holds a lease: host, process id and a random tail, so a restarted
    process (or a reused pid) is never taken for its predecessor."""
    owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    _OWNERS_HERE.add(owner)
    return owner


# The owners of the stores opened by this process.
_OWNERS_HERE: set[str] = set()


def _owner_dead(owner: str) -> bool:
    """A lease owner on this host whose process is gone (a replica killed
    and restarted gets its sources back at once, not after the lease)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        # our own pid but not one of our stores: the process before us in a
        # restarted container, where the monitor is always pid 1
        return owner not in _OWNERS_HERE
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


class Sources(Connected):
    # -- sources --------------------------------------------------------
    def source_state(self, name: str) -> SourceState | None:
        r = self.db.execute("SELECT * FROM sources WHERE name=?", (name,)).fetchone()
        return None if r is None else _source_state(r)

    def source_states(self) -> dict[str, SourceState]:
        """Every source's state, by name, in one query (the scheduler's view)."""
        return {r["name"]: _source_state(r) for r in self.db.execute("SELECT * FROM sources")}

    def ensure_source(self, name: str, url: str) -> None:
        self.db.execute(
            "INSERT INTO sources (name, url) VALUES (?, ?) ON CONFLICT DO NOTHING", (name, url)
        )
        # A new URL is a new document: the old validators mean nothing to it.
        self.db.execute(
            "UPDATE sources SET url=?, etag=NULL, last_modified=NULL, body_hash=NULL, permanent_url=NULL "
            "WHERE name=? AND url<>?",
            (url, name, url),
        )

    def ensure_sources(self, pairs: Iterable[tuple[str, str]]) -> None:
        """A row for every (name, url), read in one query and written in
        one transaction, only where a row is missing or its URL changed
        (start-up and every reload call this for every source)."""
        wanted = dict(pairs)
        if not wanted:
            return
        stored = {r["name"]: r["url"] for r in self.db.execute("SELECT name, url FROM sources")}
        new = [(n, u) for n, u in wanted.items() if n not in stored]
        moved = [(u, n, u) for n, u in wanted.items() if n in stored and stored[n] != u]
        if not new and not moved:
            return
        with self._tx() as db:
            if new:
                db.executemany(
                    "INSERT INTO sources (name, url) VALUES (?, ?) ON CONFLICT DO NOTHING", new
                )
            if moved:  # as in ensure_source
                db.executemany(
                    "UPDATE sources SET url=?, etag=NULL, last_modified=NULL, body_hash=NULL, "
                    "permanent_url=NULL WHERE name=? AND url<>?",
                    moved,
                )

    def record_permanent_url(self, name: str, url: str | None) -> None:
        self.db.execute("UPDATE sources SET permanent_url=? WHERE name=?", (url, name))

    def open_episode(self, name: str, since: float) -> None:
        self.db.execute(
            "UPDATE sources SET broken_since=COALESCE(broken_since, ?) WHERE name=?", (since, name)
        )

    def mark_broken_alerted(self, name: str) -> None:
        self.db.execute("UPDATE sources SET broken_alerted=1 WHERE name=?", (name,))

    def record_stale(self, name: str, error: str) -> None:
        """A source that answers but has had no new story for too long."""
        self.db.execute(
            "UPDATE sources SET last_error=?, last_error_reason='no_new_items' WHERE name=?",
            (error, name),
        )

    def close_episode(self, name: str) -> None:
        self.db.execute(
            "UPDATE sources SET broken_since=NULL, broken_alerted=0 WHERE name=?", (name,)
        )

    # -- leases: the sources table is the schedule -------------------------
    def claim_sources(
        self,
        names: Iterable[str],
        now: float,
        lease_seconds: float,
        *,
        limit: int | None = None,
        force: bool = False,
    ) -> dict[str, int]:
        """Claim the due sources among `names` (all of them with `force`)
        that no other replica holds: {name: lease token}. On PostgreSQL the
        rows are taken with FOR UPDATE SKIP LOCKED, so replicas claiming at
        the same moment split the due sources instead of waiting on each
        other; on SQLite the write lock of BEGIN IMMEDIATE does the same.
        Due-ness is by the service's clock (it wrote next_check_at), the
        lease's expiry by the database's, which all replicas share."""
        names = list(names)
        if not names:
            return {}
        marks = ",".join("?" * len(names))
        sql = (
            f"SELECT name FROM sources WHERE name IN ({marks}) "
            f"AND (lease_owner IS NULL OR lease_owner=? OR lease_until IS NULL OR lease_until<{self._now_sql})"
        )
        args: list = [*names, self.owner]
        if not force:
            sql += " AND (next_check_at IS NULL OR next_check_at<=?)"
            args.append(now)
        sql += " ORDER BY COALESCE(next_check_at, 0), name"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._tx() as db:
            got = [r["name"] for r in db.execute(sql + self._skip, args).fetchall()]
            if not got:
                return {}
            marks = ",".join("?" * len(got))
            rows = db.execute(
                f"UPDATE sources SET lease_owner=?, lease_until={self._now_sql}+?, lease_token=lease_token+1 "
                f"WHERE name IN ({marks}) RETURNING name, lease_token",
                [self.owner, lease_seconds, *got],
            ).fetchall()
        return {r["name"]: r["lease_token"] for r in rows}

    def claim_batch(self, workers: int) -> int | None:
        """How many due sources one replica claims per cycle: on PostgreSQL a
        few per fetch worker, so replicas share the due sources instead of
        the quickest taking them all; on SQLite (one process) all of them."""
        return max(4 * workers, 16) if self.postgres else None

    def _write_source(self, db, name: str, lease: int | None, sets: str, params: tuple) -> None:
        """UPDATE the source's row with `sets`, fenced by its lease: the
        write happens only while `lease` is still the source's token (None:
        a direct poll, not a claimed one), and releases the lease. One
        statement, so it is atomic on its own and takes the row's lock on
        PostgreSQL for the rest of a surrounding transaction."""
        if lease is None:
            db.execute(f"UPDATE sources SET {sets} WHERE name=?", (*params, name))
            return
        cur = db.execute(
            f"UPDATE sources SET {sets}, lease_owner=NULL, lease_until=NULL "
            "WHERE name=? AND lease_token=?",
            (*params, name, lease),
        )
        if cur.rowcount == 0:
            raise LeaseLost(name)

    def held_elsewhere(self) -> set[str]:
        """The sources another replica holds a live lease on."""
        rows = self.db.execute(
            f"SELECT name FROM sources WHERE lease_owner IS NOT NULL AND lease_owner<>? "
            f"AND lease_until>={self._now_sql}",
            (self.owner,),
        )
        return {r["name"] for r in rows}

    def release_sources(self, leases: dict[str, int]) -> None:
        """Give back claimed sources that were not polled (stopping)."""
        with self._tx() as db:
            db.executemany(
                "UPDATE sources SET lease_owner=NULL, lease_until=NULL WHERE name=? AND lease_token=?",
                list(leases.items()),
            )

    def release_dead_owners(self) -> int:
        """Free the leases of processes on this host that are gone: a replica
        killed and restarted gets its sources back at once, not at expiry."""
        owners = {
            r["lease_owner"]
            for t in ("sources", "outbox")
            for r in self.db.execute(
                f"SELECT DISTINCT lease_owner FROM {t} WHERE lease_owner IS NOT NULL"
            )
        }
        dead = [o for o in owners if _owner_dead(o)]
        if dead:
            with self._tx() as db:
                for t in ("sources", "outbox"):
                    db.executemany(
                        f"UPDATE {t} SET lease_owner=NULL, lease_until=NULL WHERE lease_owner=?",
                        [(o,) for o in dead],
                    )
        return len(dead)

    def set_next_check(self, name: str, next_check_at: float) -> None:
        self.db.execute("UPDATE sources SET next_check_at=? WHERE name=?", (next_check_at, name))

    def record_failure(
        self,
        name: str,
        reason: str,
        error: str,
        next_check_at: float,
        now: float | None = None,
        *,
        count: bool = True,
        status: int | None = None,
        lease: int | None = None,
    ) -> None:
        """A failed poll. `count=False` (the network was down for every
        source) records the error without lengthening the backoff."""
        now = time.time() if now is None else now
        self._write_source(
            self.db,
            name,
            lease,
            "last_polled_at=?, last_error=?, last_error_reason=?, failures=failures+?, "
            "next_check_at=?, last_status=?",
            (now, error, reason, 1 if count else 0, next_check_at, status),
        )

    def record_not_modified(
        self,
        name: str,
        next_check_at: float,
        now: float | None = None,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        status: int = 304,
        lease: int | None = None,
    ) -> None:
        """A poll that found nothing new to parse: a 304, or a 200 whose body
        hash is the last one's (then the new validators are kept). Raises
        LeaseLost when the lease was lost and nothing was written."""
        now = time.time() if now is None else now
        self.record_unchanged(
            NotModified(name, next_check_at, now, etag, last_modified, status, lease)
        )

    def record_unchanged(self, row: NotModified) -> None:
        """record_not_modified of a row already made (a poll's plan)."""
        self._write_source(self.db, row.name, row.lease, _NOT_MODIFIED, row.values())

    def record_not_modified_many(self, rows: list[NotModified]) -> list[str]:
        """The bookkeeping of a group of unchanged polls in one transaction:
        one query reads the leases, one executemany writes the rows whose
        lease still holds. Returns the names whose lease was lost (not
        written). On PostgreSQL the rows are locked in name order, so two
        replicas flushing overlapping groups cannot deadlock."""
        if not rows:
            return []
        leased = sorted({r.name for r in rows if r.lease is not None})
        with self._tx() as db:
            tokens: dict[str, int] = {}
            for i in range(0, len(leased), 500):
                chunk = leased[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for r in db.execute(
                    f"SELECT name, lease_token FROM sources WHERE name IN ({marks}) "
                    f"ORDER BY name{self._lock}",
                    chunk,
                ):
                    tokens[r["name"]] = r["lease_token"]
            lost = [r.name for r in rows if r.lease is not None and tokens.get(r.name) != r.lease]
            kept = [r for r in rows if r.lease is None or tokens.get(r.name) == r.lease]
            released = [(*r.values(), r.name) for r in kept if r.lease is not None]
            direct = [(*r.values(), r.name) for r in kept if r.lease is None]
            if released:
                db.executemany(
                    f"UPDATE sources SET {_NOT_MODIFIED}, lease_owner=NULL, lease_until=NULL "
                    "WHERE name=?",
                    released,
                )
            if direct:
                db.executemany(f"UPDATE sources SET {_NOT_MODIFIED} WHERE name=?", direct)
        return lost


_NOT_MODIFIED = (
    "last_polled_at=?, last_success_at=?, failures=0, last_error=NULL, last_error_reason=NULL, "
    "next_check_at=?, last_status=?, etag=COALESCE(?, etag), last_modified=COALESCE(?, last_modified)"
)


@dataclass(frozen=True, slots=True)
class NotModified:
    """The bookkeeping of one unchanged poll (Sources.record_not_modified)."""

    name: str
    next_check_at: float
    now: float
    etag: str | None = None
    last_modified: str | None = None
    status: int = 304
    lease: int | None = None

    def values(self) -> tuple:
        """The parameters of _NOT_MODIFIED, in its order."""
        return (
            self.now,
            self.now,
            self.next_check_at,
            self.status,
            self.etag,
            self.last_modified,
        )
