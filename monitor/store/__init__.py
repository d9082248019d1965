"""State: sources, stories, matches and the delivery outbox, in SQLite
(the embedded default) or PostgreSQL (several replicas, see README).

The only package that writes SQL. A poll's new stories, their matches and one
outbox row per destination are written in one transaction, so a crash never
leaves a match without its pending deliveries (DESIGN.md, "Delivery is an
outbox"). Destinations are stored as a hash of their Apprise URL, never the
URL itself, so no secret lands in the state file.

Replicas on one PostgreSQL database share the work through leases on rows
(claim_sources, claim_deliveries): the database's row locks, unique keys
and clock carry it, with no leader.

`Store` is the one door: a thin facade that opens the connection, migrates
the schema, and takes its methods from one module per part of the state:

- db: the adapter (SQLite or PostgreSQL) and transactions;
- schema: the tables and their migrations;
- sources: sources and leases;
- stories: stories, matches and near-duplicates;
- outbox: the outbox and silences;
- reads: what status and replay read, and meta;
- web: the dashboard's reads and the readers' verdicts;
- vectors: stories' embeddings, for the semantic conditions.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from . import schema
from .copies import Copies
from .db import (
    SqliteDb,
    StoreError,
    StoreLocked,
    StoreUnavailable,
    _PgDb,
    display_state,
    is_database_url,
    probe,
    sqlite_cause,
    state_exists,
)
from .outbox import Delivery, Outbox, OutboxRow, destination_id
from .reads import Reads
from .schema import SCHEMA_VERSION
from .sources import LeaseLost, NotModified, SourceState, _lease_owner
from .stories import NOTICE_SOURCE, Planned, Stories
from .vectors import Vectors
from .web import Web

__all__ = [
    "NOTICE_SOURCE",
    "SCHEMA_VERSION",
    "Delivery",
    "LeaseLost",
    "NotModified",
    "OutboxRow",
    "Planned",
    "SourceState",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "destination_id",
    "display_state",
    "is_database_url",
    "probe",
    "state_exists",
]


class Store(Stories, Copies, Outbox, Reads, Web, Vectors):
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
            self.path = path = Path(path)
            try:
                self._open_sqlite(path)
            except StoreLocked:
                raise  # waited for by `run`
            except (StoreUnavailable, sqlite3.Error, OSError) as e:
                if getattr(self, "db", None) is not None:
                    self.db.close()
                raise StoreError(
                    str(e) if isinstance(e, StoreUnavailable) else sqlite_cause(path, e)
                ) from None
            return
        schema.migrate(self)

    def _open_sqlite(self, path: Path) -> None:
        """The SQLite file, opened and migrated."""
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        # One connection, used by one thread at a time (the service loop).
        self.db = sqlite3.connect(
            str(path),
            timeout=30,
            isolation_level=None,
            check_same_thread=False,
            factory=SqliteDb,
        )
        self.db.path = path
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
        schema.migrate(self)

    @property
    def schema_version(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row["value"])

    def close(self) -> None:
        self.db.close()
