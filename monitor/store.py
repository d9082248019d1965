"""State: sources, stories, matches and the delivery outbox, in SQLite
(the embedded default) or PostgreSQL (several replicas, see README).

The only module that writes SQL. A poll's new stories, their matches and one
outbox row per destination are written in one transaction, so a crash never
leaves a match without its pending deliveries (DESIGN.md, "Delivery is an
outbox"). Destinations are stored as a hash of their Apprise URL, never the
URL itself, so no secret lands in the state file.

Replicas on one PostgreSQL database share the work through leases on rows
(claim_sources, claim_deliveries): the database's row locks, unique keys
and clock carry it, with no leader.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .identity import canonical_url
from .models import Match, Story

SCHEMA_VERSION = 4

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    baseline_done INTEGER NOT NULL DEFAULT 0,
    last_polled_at REAL,
    last_success_at REAL,
    last_error TEXT,
    last_error_reason TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    next_check_at REAL,
    stories_seen INTEGER NOT NULL DEFAULT 0,
    body_hash TEXT,
    permanent_url TEXT,
    last_new_at REAL,
    broken_since REAL,
    broken_alerted INTEGER NOT NULL DEFAULT 0,
    last_status INTEGER
);
CREATE TABLE IF NOT EXISTS stories (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    canonical_url TEXT,
    title TEXT NOT NULL,
    link TEXT NOT NULL,
    summary TEXT NOT NULL,
    published TEXT,
    lang TEXT,
    first_seen REAL NOT NULL,
    UNIQUE (source, key)
);
CREATE INDEX IF NOT EXISTS stories_canonical ON stories (canonical_url);
CREATE INDEX IF NOT EXISTS stories_first_seen ON stories (first_seen);
CREATE TABLE IF NOT EXISTS matches (
    id INTEGER PRIMARY KEY,
    story_id INTEGER NOT NULL REFERENCES stories (id),
    rule_id TEXT NOT NULL,
    terms TEXT NOT NULL,
    snippet TEXT NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (story_id, rule_id)
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    story_id INTEGER NOT NULL REFERENCES stories (id),
    channel TEXT NOT NULL,
    destination TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    created_at REAL NOT NULL,
    sent_at REAL,
    UNIQUE (story_id, channel, destination)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at);
CREATE TABLE IF NOT EXISTS silences (
    id INTEGER PRIMARY KEY,
    rule_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    reason TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS signatures (
    story_id INTEGER PRIMARY KEY REFERENCES stories (id),
    sig BLOB NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS signature_bands (
    band TEXT NOT NULL,
    story_id INTEGER NOT NULL REFERENCES stories (id)
);
CREATE INDEX IF NOT EXISTS signature_bands_band ON signature_bands (band);
CREATE TABLE IF NOT EXISTS duplicates (
    story_id INTEGER PRIMARY KEY REFERENCES stories (id),
    original_id INTEGER NOT NULL REFERENCES stories (id),
    similarity REAL NOT NULL,
    created_at REAL NOT NULL
);
"""


# Columns added after schema 1: (table, column, declaration). A state file
# written by an older version gets them in place when it is opened.
_ADDED_COLUMNS = (
    # the alert as data (story and matches), so a message can be rendered
    # for its service when it is sent, and folded into a burst or a digest
    ("outbox", "alert", "TEXT"),
    # '' sends the row alone; 'burst' and 'digest' fold it with the other
    # rows of its destination that are waiting for the same release
    ("outbox", "fold", "TEXT NOT NULL DEFAULT ''"),
    # when the row was first due (its burst or digest release, else its
    # creation): max_age counts from here, so a held row is not old
    ("outbox", "due_at", "REAL"),
    # normalised title of the story, for a rule's quiet period
    ("matches", "fingerprint", "TEXT"),
    # schema 3, the watchers: sha256 of the last parsed body (an unchanged body
    # is not parsed again), where a 301/308 sent the configured URL, when the
    # source last had a new story, its failure episode and last HTTP status
    ("sources", "body_hash", "TEXT"),
    ("sources", "permanent_url", "TEXT"),
    ("sources", "last_new_at", "REAL"),
    ("sources", "broken_since", "REAL"),
    ("sources", "broken_alerted", "INTEGER NOT NULL DEFAULT 0"),
    ("sources", "last_status", "INTEGER"),
    # schema 4, replicas: the sources table is the schedule. A replica that
    # claims a due source holds its lease (owner, expiry by the database's
    # clock); every claim bumps the token, and a poll's result is written
    # only while the token is still the one its claim got. Outbox rows are
    # claimed the same way before they are sent.
    ("sources", "lease_owner", "TEXT"),
    ("sources", "lease_until", "REAL"),
    ("sources", "lease_token", "INTEGER NOT NULL DEFAULT 0"),
    ("outbox", "lease_owner", "TEXT"),
    ("outbox", "lease_until", "REAL"),
)
_ADDED_INDEXES = """
CREATE INDEX IF NOT EXISTS matches_quiet ON matches (rule_id, fingerprint, created_at);
CREATE INDEX IF NOT EXISTS outbox_fold ON outbox (destination, fold, status);
"""
_ALSO = "\n\nAlso reported by: "


# Health notices ride the outbox like story alerts; their rows in `stories`
# belong to this pseudo-source, which no watcher, replay or count reads.
NOTICE_SOURCE = "(monitor)"


def destination_id(url: str) -> str:
    """A stable name for an Apprise URL that does not reveal it."""
    if url == "stdout":
        return "stdout"
    return "sha256:" + hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


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


def _source_state(r) -> SourceState:
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


def _row(r: sqlite3.Row) -> OutboxRow:
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


@dataclass(frozen=True, slots=True)
class Planned:
    """A new story and what to write with it: its matches and deliveries."""

    story: Story
    matches: tuple[Match, ...] = ()
    deliveries: tuple[Delivery, ...] = ()
    fingerprint: str | None = None  # normalised title, for quiet periods
    signature: tuple[int, ...] | None = None  # MinHash of an alerted story (dedupe.py)
    duplicate_of: tuple[int, float] | None = (
        None  # (original story id, similarity): no alert of its own
    )


class StoreError(Exception):
    """The state could not be opened: one line for the user."""


class StoreUnavailable(Exception):
    """The database went away mid-run (a cut connection, a failover). The
    transaction was rolled back; the next call connects again."""


class LeaseLost(Exception):
    """Another replica took this source since it was claimed: the poll's
    result is stale and was not written."""


def is_database_url(state: str | Path) -> bool:
    return str(state).startswith(("postgresql://", "postgres://"))


def state_exists(state: str | Path) -> bool:
    """Whether there is state to read: a database URL always counts."""
    return is_database_url(state) or Path(state).exists()


def display_state(state: str | Path) -> str:
    """The state's name for logs: a database URL without its password."""
    if not is_database_url(state):
        return str(state)
    parts = urlsplit(str(state))
    host = parts.hostname or ""
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"{user}{host}{port}", parts.path, "", ""))


def _pg_sql(sql: str) -> str:
    return _PG_SQL.get(sql) or _PG_SQL.setdefault(sql, sql.replace("%", "%%").replace("?", "%s"))


_PG_SQL: dict[str, str] = {}


def _pg_ddl(sql: str) -> str:
    sql = sql.replace(
        "id INTEGER PRIMARY KEY,", "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    )
    sql = re.sub(r"\bINTEGER\b", "BIGINT", sql)
    sql = re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql)
    return re.sub(r"\bBLOB\b", "BYTEA", sql)


class _PgDb:
    """A psycopg connection behind the part of sqlite3's connection API the
    store uses (execute, executemany, close), with `?` placeholders. Outside
    a transaction a broken connection is opened again; inside one the error
    surfaces as StoreUnavailable and the work is rolled back."""

    def __init__(self, url: str):
        import psycopg
        from psycopg.rows import dict_row

        self._psycopg = psycopg
        self._dict_row = dict_row
        self.url = url
        self.in_tx = False
        self.conn = None
        self._connect()

    def _connect(self) -> None:
        try:
            self.conn = self._psycopg.connect(
                self.url,
                autocommit=True,
                row_factory=self._dict_row,
                connect_timeout=10,
                application_name="privacy-monitor",
            )
        except self._psycopg.OperationalError as e:
            raise StoreUnavailable(f"{display_state(self.url)}: {_first_line(e)}") from None
        except self._psycopg.Error as e:  # a malformed URL or an unknown option
            raise StoreError(f"{display_state(self.url)}: {_first_line(e)}") from None

    def _usable(self) -> None:
        if self.conn is None or self.conn.closed or self.conn.broken:
            if self.conn is not None:
                self.conn.close()
            self._connect()

    def execute(self, sql: str, params=()):
        if not self.in_tx:
            self._usable()
        try:
            return self.conn.execute(_pg_sql(sql), params)
        except self._psycopg.OperationalError as e:
            if self.in_tx:
                raise StoreUnavailable(_first_line(e)) from None
            self._usable()  # one retry on a fresh connection: a statement outside a transaction
            try:
                return self.conn.execute(_pg_sql(sql), params)
            except self._psycopg.OperationalError as e2:
                raise StoreUnavailable(_first_line(e2)) from None

    def executemany(self, sql: str, seq):
        cur = self.conn.cursor()
        try:
            cur.executemany(_pg_sql(sql), list(seq))
        except self._psycopg.OperationalError as e:
            raise StoreUnavailable(_first_line(e)) from None
        return cur

    def begin(self) -> None:
        self._usable()
        self.in_tx = True
        try:
            self.conn.execute("BEGIN")
        except self._psycopg.OperationalError as e:
            self.in_tx = False
            raise StoreUnavailable(_first_line(e)) from None

    def end(self, ok: bool) -> None:
        self.in_tx = False
        try:
            self.conn.execute("COMMIT" if ok else "ROLLBACK")
        except self._psycopg.OperationalError as e:
            if ok:
                raise StoreUnavailable(_first_line(e)) from None
            # the connection is gone and the server rolled back for us

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


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


class Store:
    """The state, in a SQLite file (the default) or a PostgreSQL database
    (`state: postgresql://...`). One code path: the SQL is written once,
    in the dialect both accept, with `?` placeholders."""

    def __init__(self, path: str | Path):
        self.postgres = is_database_url(path)
        self.owner = _lease_owner()
        if self.postgres:
            self.path = str(path)
            self.db = _PgDb(str(path))
            self._now_sql = "EXTRACT(EPOCH FROM clock_timestamp())::float8"
            self._concat = "string_agg"
            self._lock = " FOR UPDATE"
            self._skip = " FOR UPDATE SKIP LOCKED"
        else:
            path = Path(path)
            if str(path) != ":memory:":
                path.parent.mkdir(parents=True, exist_ok=True)
            self.path = path
            # One connection, used by one thread at a time (the service loop).
            self.db = sqlite3.connect(
                str(path), timeout=30, isolation_level=None, check_same_thread=False
            )
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.execute("PRAGMA busy_timeout=30000")
            # SQLite's clock, in seconds since the epoch with fractions
            self._now_sql = "((julianday('now') - 2440587.5) * 86400.0)"
            self._concat = "GROUP_CONCAT"
            # BEGIN IMMEDIATE takes the one write lock: rows need no locks of their own
            self._lock = ""
            self._skip = ""
        self._migrate()

    def _version(self) -> int | None:
        if self.postgres:
            exists = self.db.execute("SELECT to_regclass('meta') IS NOT NULL AS t").fetchone()["t"]
        else:
            exists = self.db.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
            ).fetchone()
        if not exists:
            return None
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return None if row is None else int(row["value"])

    def _migrate(self) -> None:
        version = self._version()
        if version is not None and version > SCHEMA_VERSION:
            raise StoreError(
                f"{display_state(self.path)}: state was written by a newer version "
                f"(schema {version} > {SCHEMA_VERSION})"
            )
        if version == SCHEMA_VERSION:
            return  # up to date: opening the state for reading writes nothing
        with self._tx() as db:
            if self.postgres:
                # Replicas starting together: one migrates, the others wait
                # here and find the work done. The lock ends with the transaction.
                db.execute("SELECT pg_advisory_xact_lock(7301)")
                version = self._version()
                if version == SCHEMA_VERSION:
                    return
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(_pg_ddl(statement) if self.postgres else statement)
            for table, column, decl in _ADDED_COLUMNS:
                if self.postgres:
                    db.execute(
                        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {_pg_ddl(decl)}"
                    )
                    continue
                have = {r["name"] for r in db.execute(f"PRAGMA table_info({table})")}
                if column not in have:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
            for statement in _ADDED_INDEXES.split(";"):
                if statement.strip():
                    db.execute(statement)
            # Before schema 3 no source knew when it last had a new story: its
            # newest story's first sighting is when.
            db.execute(
                "UPDATE sources SET last_new_at=(SELECT MAX(first_seen) FROM stories "
                "WHERE stories.source=sources.name) WHERE last_new_at IS NULL"
            )
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                (str(SCHEMA_VERSION),),
            )

    @property
    def schema_version(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row["value"])

    def close(self) -> None:
        self.db.close()

    # -- transactions ---------------------------------------------------
    class _Tx:
        def __init__(self, db):
            self.db = db

        def __enter__(self):
            if isinstance(self.db, _PgDb):
                self.db.begin()
            else:
                self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, exc_type, exc, tb) -> None:
            if isinstance(self.db, _PgDb):
                self.db.end(exc_type is None)
            else:
                self.db.execute("ROLLBACK" if exc_type else "COMMIT")

    def _tx(self) -> Store._Tx:
        return Store._Tx(self.db)

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

    def _fence(self, db, name: str, lease: int | None) -> None:
        """Inside a transaction: go on only while `lease` is still the
        source's token (None: a direct poll, not a claimed one), and release
        the lease with the write that follows."""
        if lease is None:
            return
        row = db.execute(
            f"SELECT lease_token FROM sources WHERE name=?{self._lock}", (name,)
        ).fetchone()
        if row is None or row["lease_token"] != lease:
            raise LeaseLost(name)
        db.execute("UPDATE sources SET lease_owner=NULL, lease_until=NULL WHERE name=?", (name,))

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
        with self._tx() as db:
            self._fence(db, name, lease)
            db.execute(
                "UPDATE sources SET last_polled_at=?, last_error=?, last_error_reason=?, failures=failures+?, "
                "next_check_at=?, last_status=? WHERE name=?",
                (now, error, reason, 1 if count else 0, next_check_at, status, name),
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
        hash is the last one's (then the new validators are kept)."""
        now = time.time() if now is None else now
        with self._tx() as db:
            self._fence(db, name, lease)
            db.execute(
                "UPDATE sources SET last_polled_at=?, last_success_at=?, failures=0, last_error=NULL, "
                "last_error_reason=NULL, next_check_at=?, last_status=?, etag=COALESCE(?, etag), "
                "last_modified=COALESCE(?, last_modified) WHERE name=?",
                (now, now, next_check_at, status, etag, last_modified, name),
            )

    def known_keys(self, source: str, keys: Iterable[str]) -> set[str]:
        keys = list(keys)
        found: set[str] = set()
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT key FROM stories WHERE source=? AND key IN ({marks})", [source, *chunk]
            )
            found.update(r["key"] for r in rows)
        return found

    def known_urls(self, urls: Iterable[str]) -> set[str]:
        """Canonical URLs already stored from any source."""
        urls = [u for u in urls if u]
        found: set[str] = set()
        for i in range(0, len(urls), 500):
            chunk = urls[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT canonical_url FROM stories WHERE canonical_url IN ({marks})", chunk
            )
            found.update(r["canonical_url"] for r in rows)
        return found

    def record_poll(
        self,
        source: str,
        planned: list[Planned],
        *,
        etag: str | None,
        last_modified: str | None,
        next_check_at: float,
        now: float | None = None,
        body_hash: str | None = None,
        status: int = 200,
        lease: int | None = None,
    ) -> int:
        """Store a successful poll in one transaction: the new stories, their
        matches, one outbox row per delivery and the source's new state.

        Returns the number of outbox rows created.
        """
        now = time.time() if now is None else now
        created = 0
        with self._tx() as db:
            self._fence(db, source, lease)  # a stalled replica's stale poll writes nothing
            for p in planned:
                s = p.story
                cur = db.execute(
                    "INSERT INTO stories (source, key, canonical_url, title, link, summary, published, "
                    "lang, first_seen) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING RETURNING id",
                    (
                        source,
                        s.key,
                        canonical_url(s.link) or None,
                        s.title,
                        s.link,
                        s.summary,
                        s.published.isoformat() if s.published else None,
                        s.lang,
                        now,
                    ),
                )
                got = cur.fetchall()
                if not got:
                    continue  # stored already: its alerts were decided then
                story_id = got[0]["id"]
                created += self._write_plan(db, story_id, p, now)
                if p.signature is not None:
                    from .dedupe import bands, pack

                    db.execute(
                        "INSERT INTO signatures (story_id, sig, created_at) VALUES (?,?,?)",
                        (story_id, pack(p.signature), now),
                    )
                    db.executemany(
                        "INSERT INTO signature_bands (band, story_id) VALUES (?,?)",
                        [(b, story_id) for b in bands(p.signature)],
                    )
                if p.duplicate_of is not None:
                    original, sim = p.duplicate_of
                    db.execute(
                        "INSERT INTO duplicates (story_id, original_id, similarity, created_at) "
                        "VALUES (?,?,?,?) ON CONFLICT DO NOTHING",
                        (story_id, original, sim, now),
                    )
                    # The original's alert, while still waiting, lists this outlet too:
                    # in its plain text, and in the story's source where every
                    # channel's rendering shows it.
                    for row in db.execute(
                        "SELECT id, body, alert FROM outbox WHERE story_id=? AND status='pending'",
                        (original,),
                    ).fetchall():
                        body = row["body"] + (
                            f", {source}" if _ALSO in row["body"] else f"{_ALSO}{source}"
                        )
                        alert = row["alert"]
                        if alert:
                            data = json.loads(alert)
                            story = data.get("story", {})
                            also = story.setdefault("also_reported_by", [])
                            first = story.setdefault("first_source", story.get("source", ""))
                            also.append(source)
                            story["source"] = f"{first} (also: {', '.join(also)})"
                            alert = json.dumps(data, ensure_ascii=False)
                        db.execute(
                            "UPDATE outbox SET body=?, alert=? WHERE id=?", (body, alert, row["id"])
                        )
            db.execute(
                "UPDATE sources SET etag=?, last_modified=?, baseline_done=1, last_polled_at=?, last_success_at=?, "
                "failures=0, last_error=NULL, last_error_reason=NULL, next_check_at=?, "
                "stories_seen=stories_seen+?, body_hash=?, last_status=?, "
                "last_new_at=CASE WHEN ? > 0 OR last_new_at IS NULL THEN ? ELSE last_new_at END WHERE name=?",
                (
                    etag,
                    last_modified,
                    now,
                    now,
                    next_check_at,
                    len(planned),
                    body_hash,
                    status,
                    len(planned),
                    now,
                    source,
                ),
            )
        return created

    def queue_notice(
        self,
        key: str,
        title: str,
        body: str,
        deliveries: Iterable[Delivery],
        now: float | None = None,
    ) -> int:
        """Queue a notice (a source broken or recovered) for delivery, once per
        `key`. Returns the outbox rows created (0 when already queued)."""
        now = time.time() if now is None else now
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO stories (source, key, canonical_url, title, link, summary, published, lang, "
                "first_seen) VALUES (?,?,NULL,?,'',?,NULL,NULL,?) ON CONFLICT DO NOTHING RETURNING id",
                (NOTICE_SOURCE, key, title, body, now),
            )
            got = cur.fetchall()
            if not got:
                return 0
            notice = Story(source=NOTICE_SOURCE, key=key, title=title, summary=body)
            created = self._write_plan(
                db, got[0]["id"], Planned(notice, deliveries=tuple(deliveries)), now
            )
        return created

    def find_near_duplicate(
        self, sig: tuple[int, ...], since: float
    ) -> tuple[int, str, float] | None:
        """The stored story most like `sig` (story id, source, similarity),
        among those signed since `since`, when it passes the threshold."""
        from .dedupe import THRESHOLD, bands, similarity, unpack

        keys = bands(sig)
        marks = ",".join("?" * len(keys))
        rows = self.db.execute(
            f"SELECT s.story_id, s.sig, st.source FROM signatures s JOIN stories st ON st.id=s.story_id "
            f"WHERE s.created_at>=? AND s.story_id IN (SELECT story_id FROM signature_bands WHERE band IN ({marks}))",
            [since, *keys],
        ).fetchall()
        best = None
        for r in rows:
            sim = similarity(sig, unpack(r["sig"]))
            if sim >= THRESHOLD and (best is None or sim > best[2]):
                best = (r["story_id"], r["source"], sim)
        return best

    def outlets_of(self, story_id: int) -> list[str]:
        """The sources that carried a story: its own, then its near-duplicates'."""
        rows = self.db.execute(
            "SELECT source FROM stories WHERE id=? UNION ALL SELECT st.source FROM duplicates d "
            "JOIN stories st ON st.id=d.story_id WHERE d.original_id=?",
            (story_id, story_id),
        ).fetchall()
        return [r["source"] for r in rows]

    def claim_deliveries(
        self, now: float, lease_seconds: float, limit: int = 500
    ) -> list[OutboxRow]:
        """Claim due outbox rows that no other replica holds, for sending
        outside any transaction. A row is held until it is marked sent,
        failed or deferred, or until its lease runs out (its sender died)."""
        return self._claim_rows(
            "status='pending' AND next_attempt_at<=?", [now], lease_seconds, limit
        )

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

    # -- reading, for status and replay ---------------------------------
    def outbox_counts(self) -> dict[str, int]:
        counts = {"pending": 0, "sent": 0, "dead": 0}
        for r in self.db.execute("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status"):
            counts[r["status"]] = r["n"]
        return counts

    def failing_deliveries(self, limit: int = 20) -> list[sqlite3.Row]:
        """The last error of each failing destination: one line per channel
        and destination with pending or dead rows that carry an error."""
        return self.db.execute(
            "SELECT channel, destination, status, COUNT(*) AS rows, MAX(attempts) AS attempts, "
            "MIN(next_attempt_at) AS next_attempt_at, MIN(created_at) AS oldest, "
            "(SELECT o2.last_error FROM outbox o2 WHERE o2.channel=o.channel AND o2.destination=o.destination "
            " AND o2.status=o.status AND o2.last_error IS NOT NULL ORDER BY o2.attempts>0 DESC, o2.id DESC LIMIT 1) "
            "AS last_error "
            "FROM outbox o WHERE status IN ('pending','dead') AND last_error IS NOT NULL "
            "GROUP BY channel, destination, status ORDER BY channel, destination, status LIMIT ?",
            (limit,),
        ).fetchall()

    def held_counts(self) -> dict[str, int]:
        """Pending rows never tried yet because a burst or digest holds them."""
        rows = self.db.execute(
            "SELECT fold, COUNT(*) AS n FROM outbox WHERE status='pending' AND attempts=0 AND fold<>'' GROUP BY fold"
        )
        return {r["fold"]: r["n"] for r in rows}

    def sources(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM sources ORDER BY name").fetchall()

    def matches_since(self, since: float) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT rule_id, COUNT(*) AS n FROM matches WHERE created_at>=? GROUP BY rule_id ORDER BY n DESC",
            (since,),
        )
        return {r["rule_id"]: r["n"] for r in rows}

    def stories_since(self, since: float) -> Iterator[Story]:
        rows = self.db.execute(
            "SELECT source, key, title, link, summary, published, lang FROM stories WHERE first_seen>=? "
            "AND source<>? ORDER BY id",
            (since, NOTICE_SOURCE),
        )
        for r in rows:
            published = datetime.fromisoformat(r["published"]) if r["published"] else None
            if published is not None and published.tzinfo is None:
                published = published.replace(tzinfo=UTC)
            yield Story(
                source=r["source"],
                key=r["key"],
                title=r["title"],
                link=r["link"],
                summary=r["summary"],
                published=published,
                lang=r["lang"],
            )

    def record_replay(self, story: Story, planned: Planned, now: float | None = None) -> int:
        """Matches and deliveries found by `monitor replay --send` for a story
        stored earlier, in one transaction. A destination that already has a
        row for the story gets nothing new. Returns the rows created."""
        now = time.time() if now is None else now
        with self._tx() as db:
            row = db.execute(
                "SELECT id FROM stories WHERE source=? AND key=?", (story.source, story.key)
            ).fetchone()
            if row is None:
                return 0
            created = self._write_plan(db, row["id"], planned, now)
        return created

    @staticmethod
    def _write_plan(db, story_id: int, planned: Planned, now: float) -> int:
        """A story's matches and one outbox row per delivery (inside the
        caller's transaction); a destination already holding the story gets
        no second row. Returns the rows created."""
        created = 0
        for m in planned.matches:
            db.execute(
                "INSERT INTO matches (story_id, rule_id, terms, snippet, created_at, fingerprint) "
                "VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                (
                    story_id,
                    m.rule_id,
                    json.dumps(list(m.terms), ensure_ascii=False),
                    m.snippet,
                    now,
                    planned.fingerprint,
                ),
            )
        for d in planned.deliveries:
            due = now if d.release_at is None else d.release_at
            cur = db.execute(
                "INSERT INTO outbox (story_id, channel, destination, title, body, alert, fold, "
                "next_attempt_at, due_at, created_at) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                (
                    story_id,
                    d.channel,
                    d.destination,
                    d.title,
                    d.body,
                    d.alert,
                    d.fold,
                    due,
                    due,
                    now,
                ),
            )
            created += cur.rowcount
        return created

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

    def recent_stories(self, limit: int = 10) -> list[dict]:
        """The newest stories first, with the rules each one matched."""
        rows = self.db.execute(
            "SELECT s.id, s.source, s.title, s.link, s.first_seen, "
            f"(SELECT {self._concat}(m.rule_id, ',') FROM matches m WHERE m.story_id = s.id) AS rules "
            "FROM stories s WHERE s.source<>? ORDER BY s.id DESC LIMIT ?",
            (NOTICE_SOURCE, limit),
        )
        return [
            {
                "source": r["source"],
                "title": r["title"],
                "link": r["link"],
                "first_seen": r["first_seen"],
                "rules": r["rules"].split(",") if r["rules"] else [],
            }
            for r in rows
        ]

    # -- the service's own notes (heartbeat, last reload) -----------------
    def set_meta(self, key: str, value: object) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value=excluded.value",
            (key, json.dumps(value, ensure_ascii=False)),
        )

    def get_meta(self, key: str) -> object | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return json.loads(row["value"])
        except ValueError:
            return row["value"]


def probe(path: str | Path, timeout: float = 2.0) -> str | None:
    """None when the state answers a query within `timeout`, else why
    not. Opens its own connection, so it can run beside the loop."""
    if is_database_url(path):
        try:
            import psycopg

            with psycopg.connect(
                str(path), connect_timeout=max(1, int(timeout)), autocommit=True
            ) as conn:
                conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except Exception as e:  # any failure is "not ready"
            return f"{type(e).__name__}: {_first_line(e)}"
        return None
    try:
        db = sqlite3.connect(Path(path).absolute().as_uri() + "?mode=ro", uri=True, timeout=timeout)
        try:
            db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        finally:
            db.close()
    except sqlite3.Error as e:
        return f"{type(e).__name__}: {e}"
    return None
