"""The outbox and silences. One row per story and destination, claimed
by a replica (a lease, like a source's) before it is sent, and marked sent
right after the destination accepts it. Destinations are stored as a hash
of their Apprise URL, never the URL itself, so no secret lands in the state.
Silences and quiet periods decide which matches alert at all."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .db import Connected, StoreUnavailable


def destination_id(url: str) -> str:
    """A stable name for an Apprise URL that does not reveal it."""
    if url == "stdout":
        return "stdout"
    return "sha256:" + hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One rendered message, as it sits in the outbox."""

    channel: str
    destination: str  # destination_id() of the URL, or "stdout"
    title: str  # the plain-text rendering, kept for reading the state file
    body: str
    alert: str | None = None  # the alert as JSON (alerts.formats.alert_to_json)
    fold: str = ""  # '' | 'burst' | 'digest'
    release_at: float | None = None  # not sent before (burst window, digest time)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    channel: str
    destination: str
    title: str
    body: str
    attempts: int
    created_at: float
    alert: str | None = None
    fold: str = ""
    next_attempt_at: float = 0.0
    due_at: float = 0.0  # first due: max_age counts from here


_ROW_COLUMNS = (
    "id, channel, destination, title, body, attempts, created_at, alert, fold, next_attempt_at, "
    "COALESCE(due_at, created_at) AS due_at"
)


def _row(r: Any) -> OutboxRow:
    return OutboxRow(
        r["id"],
        r["channel"],
        r["destination"],
        r["title"],
        r["body"],
        r["attempts"],
        r["created_at"],
        r["alert"],
        r["fold"] or "",
        r["next_attempt_at"],
        r["due_at"],
    )


class Outbox(Connected):
    def claim_deliveries(
        self, now: float, lease_seconds: float, limit: int = 500
    ) -> list[OutboxRow]:
        """Claim due outbox rows that no other replica holds, for sending
        outside any transaction. A row is held until it is marked sent,
        failed or deferred, or until its lease runs out (its sender died)."""
        where = "status='pending' AND next_attempt_at<=?"
        # Most cycles find nothing due: a plain read says so without taking
        # the write lock (SQLite) or opening a transaction (PostgreSQL). A
        # row written after it is the next cycle's, as it would be anyway.
        if not self._claimable(where, [now]):
            return []
        return self._claim_rows(where, [now], lease_seconds, limit)

    def claim_fold(
        self, destination: str, fold: str, until: float | None, lease_seconds: float
    ) -> list[OutboxRow]:
        """The pending rows of one destination waiting to be folded together
        (a burst or a digest; `until` limits them to those due by then),
        claimed: those this replica holds or could take."""
        where = "status='pending' AND destination=? AND fold=?"
        args: list = [destination, fold]
        if until is not None:
            where += " AND next_attempt_at<=?"
            args.append(until)
        return self._claim_rows(where, args, lease_seconds, None)

    def _claimable(self, where: str, args: list) -> bool:
        """Whether any row matches `where` that this replica could claim."""
        sql = (
            f"SELECT 1 FROM outbox WHERE {where} AND (lease_owner IS NULL OR lease_owner=? "
            f"OR lease_until IS NULL OR lease_until<{self._now_sql}) LIMIT 1"
        )
        return self.db.execute(sql, [*args, self.owner]).fetchone() is not None

    def _claim_rows(
        self, where: str, args: list, lease_seconds: float, limit: int | None
    ) -> list[OutboxRow]:
        sql = (
            f"SELECT id FROM outbox WHERE {where} AND (lease_owner IS NULL OR lease_owner=? "
            f"OR lease_until IS NULL OR lease_until<{self._now_sql}) ORDER BY id"
        )
        args = [*args, self.owner]
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._tx() as db:
            ids = [r["id"] for r in db.execute(sql + self._skip, args).fetchall()]
            if not ids:
                return []
            marks = ",".join("?" * len(ids))
            db.execute(
                f"UPDATE outbox SET lease_owner=?, lease_until={self._now_sql}+? WHERE id IN ({marks})",
                [self.owner, lease_seconds, *ids],
            )
            rows = db.execute(
                f"SELECT {_ROW_COLUMNS} FROM outbox WHERE id IN ({marks}) ORDER BY id", ids
            ).fetchall()
        return [_row(r) for r in rows]

    def mark_sent(self, row_ids: int | Iterable[int], now: float | None = None) -> None:
        """Record that the destination accepted these rows. Called right after
        the send returns, in its own short transaction: the only moment a
        crash can cause a repeat is between the receiver's acceptance and
        this commit. It releases the rows' lease; it is written even when the
        lease ran out meanwhile, since the message has gone and recording it
        can only spare a repeat."""
        now = time.time() if now is None else now
        ids = [row_ids] if isinstance(row_ids, int) else list(row_ids)
        for attempt in range(3):
            # A connection cut right after the send must not leave the rows
            # pending (they would go out again): the write is idempotent, so
            # it is retried on a fresh connection.
            try:
                with self._tx() as db:
                    db.executemany(
                        "UPDATE outbox SET status='sent', sent_at=?, attempts=attempts+1, last_error=NULL, "
                        "lease_owner=NULL, lease_until=NULL WHERE id=? AND status<>'sent'",
                        [(now, i) for i in ids],
                    )
                return
            except StoreUnavailable:
                if attempt == 2:
                    raise
                time.sleep(0.5 * (attempt + 1))

    def mark_failed(
        self, row_ids: int | Iterable[int], error: str, next_attempt_at: float | None
    ) -> None:
        """A failed attempt: retried at next_attempt_at, or dead when None."""
        ids = [row_ids] if isinstance(row_ids, int) else list(row_ids)
        with self._tx() as db:
            if next_attempt_at is None:
                db.executemany(
                    "UPDATE outbox SET status='dead', attempts=attempts+1, last_error=?, lease_owner=NULL, "
                    "lease_until=NULL WHERE id=?",
                    [(error, i) for i in ids],
                )
            else:
                db.executemany(
                    "UPDATE outbox SET attempts=attempts+1, last_error=?, next_attempt_at=?, lease_owner=NULL, "
                    "lease_until=NULL WHERE id=?",
                    [(error, next_attempt_at, i) for i in ids],
                )

    def defer(self, row_ids: Iterable[int], next_attempt_at: float, reason: str) -> None:
        """Postpone rows that were not tried (their destination had just
        failed); `reason` is shown as their last error."""
        with self._tx() as db:
            db.executemany(
                "UPDATE outbox SET next_attempt_at=?, last_error=?, lease_owner=NULL, lease_until=NULL "
                "WHERE id=? AND status='pending'",
                [(next_attempt_at, reason, i) for i in row_ids],
            )

    def retry_dead(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        cur = self.db.execute(
            "UPDATE outbox SET status='pending', attempts=0, next_attempt_at=?, due_at=? WHERE status='dead'",
            (now, now),
        )
        return cur.rowcount

    def requeue_dead(
        self, current: dict[str, list[str]], now: float | None = None
    ) -> dict[str, int]:
        """Dead letters queued again, each for its channel's destinations as
        configured now (`current`: channel -> destination ids). A row whose
        destination left its channel (the URL was edited) is re-targeted by
        channel name to the channel's current destinations, never to one
        that already has a row for the story (sent or queued). Rows of a
        channel that is gone stay dead. Returns the counts of each case."""
        now = time.time() if now is None else now
        out = {"queued": 0, "retargeted": 0, "created": 0, "had_it": 0, "channel_gone": 0}
        with self._tx() as db:
            rows = db.execute(
                "SELECT id, story_id, channel, destination, title, body, alert, fold "
                "FROM outbox WHERE status='dead' ORDER BY id"
            ).fetchall()
            for r in rows:
                dests = current.get(r["channel"])
                if dests is None:
                    out["channel_gone"] += 1
                elif r["destination"] in dests:
                    db.execute(
                        "UPDATE outbox SET status='pending', attempts=0, next_attempt_at=?, "
                        "due_at=? WHERE id=?",
                        (now, now, r["id"]),
                    )
                    out["queued"] += 1
                else:
                    # the old row goes: the new ones carry the alert
                    db.execute("DELETE FROM outbox WHERE id=?", (r["id"],))
                    out["retargeted"] += 1
                    for dest in dests:
                        cur = db.execute(
                            "INSERT INTO outbox (story_id, channel, destination, title, body, "
                            "alert, fold, next_attempt_at, due_at, created_at) "
                            "VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                            (
                                r["story_id"],
                                r["channel"],
                                dest,
                                r["title"],
                                r["body"],
                                r["alert"],
                                r["fold"] or "",
                                now,
                                now,
                                now,
                            ),
                        )
                        if cur.rowcount:
                            out["created"] += 1
                        else:
                            out["had_it"] += 1
        return out

    # -- noise: quiet periods and silences --------------------------------
    def recently_alerted(self, rule_id: str, fingerprint: str, since: float) -> bool:
        """Whether this rule alerted about a story with this fingerprint since then."""
        row = self.db.execute(
            "SELECT 1 FROM matches m WHERE m.rule_id=? AND m.fingerprint=? AND m.created_at>=? "
            "AND EXISTS (SELECT 1 FROM outbox o WHERE o.story_id=m.story_id) LIMIT 1",
            (rule_id, fingerprint, since),
        ).fetchone()
        return row is not None

    def add_silence(
        self, rule_id: str, expires_at: float, reason: str = "", now: float | None = None
    ) -> int:
        now = time.time() if now is None else now
        cur = self.db.execute(
            "INSERT INTO silences (rule_id, created_at, expires_at, reason) VALUES (?,?,?,?) "
            "RETURNING id",
            (rule_id, now, expires_at, reason),
        )
        return int(cur.fetchall()[0]["id"])

    def silences(self, now: float | None = None) -> list[sqlite3.Row]:
        """The silences still in force."""
        now = time.time() if now is None else now
        return self.db.execute(
            "SELECT * FROM silences WHERE expires_at>? ORDER BY expires_at", (now,)
        ).fetchall()

    def silenced_rules(self, now: float | None = None) -> set[str]:
        return {r["rule_id"] for r in self.silences(now)}

    def remove_silence(self, silence_id: int) -> bool:
        return bool(self.db.execute("DELETE FROM silences WHERE id=?", (silence_id,)).rowcount)

    def next_delivery_at(self, claimable: bool = False) -> float | None:
        """When the next pending row is due; with `claimable`, among those
        no other replica holds (what this one could send)."""
        sql = "SELECT MIN(next_attempt_at) AS t FROM outbox WHERE status='pending'"
        args: tuple = ()
        if claimable:
            sql += f" AND (lease_owner IS NULL OR lease_owner=? OR lease_until<{self._now_sql})"
            args = (self.owner,)
        row = self.db.execute(sql, args).fetchone()
        return row["t"] if row else None
