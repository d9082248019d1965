"""The database adapter: one connection, SQLite or PostgreSQL, with the
sqlite3 API the store uses (execute, executemany, close) and `?` placeholders
on both. The SQL is written once, in the dialect both accept."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .clean import clean_params, clean_rows


class StoreError(Exception):
    """The state could not be opened: one line for the user."""


class StoreUnavailable(Exception):
    """The database went away mid-run (a cut connection, a failover). The
    transaction was rolled back; the next call connects again."""


def is_database_url(state: str | Path) -> bool:
    return str(state).startswith(("postgresql://", "postgres://"))


def state_exists(state: str | Path) -> bool:
    """Whether there is state to read: a database URL always counts."""
    return is_database_url(state) or Path(state).exists()


def _userinfo(url: str) -> tuple[str, str, str]:
    """(scheme://, user, password) of a database URL, read up to the last
    `@`: a password with an unencoded `/` or `@` is still all password."""
    scheme, sep, rest = url.partition("://")
    info, at, _ = rest.rpartition("@")
    if not at:
        return scheme + sep, "", ""
    user, _, password = info.partition(":")
    return scheme + sep, user, password


def hide_password(text: str, url: str) -> str:
    """`text` (an error from the driver) without any part of the URL's password."""
    _, _, password = _userinfo(url)
    if not password:
        return text
    from urllib.parse import unquote

    for piece in sorted({password, unquote(password), *password.split("/")}, key=len, reverse=True):
        if len(piece) >= 2:
            text = text.replace(piece, "***")
    return text


def display_state(state: str | Path) -> str:
    """The state's name for logs: a database URL without its password."""
    if not is_database_url(state):
        return str(state)
    url = str(state)
    scheme, user, password = _userinfo(url)
    if password:  # whatever the password holds, it is cut away before parsing
        url = f"{scheme}{user}@{url.rpartition('@')[2]}"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return f"{scheme}{user}@(unreadable address)" if user else f"{scheme}(unreadable address)"
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit((parts.scheme, f"{user}{host}{port}", parts.path, "", ""))


class StoreLocked(StoreUnavailable):
    """Another process holds the SQLite file's write lock past the busy timeout."""


# What SQLite's own words mean for the person running the monitor.
_SQLITE_CAUSES = (
    ("locked", "another process holds its write lock (a second monitor on the file?)"),
    ("busy", "another process holds its write lock (a second monitor on the file?)"),
    ("not a database", "not a SQLite database: the file is corrupt or another kind of file"),
    ("malformed", "the database file is damaged (truncated or corrupt): restore a backup"),
    ("readonly", "read-only: the file or its directory cannot be written by this user"),
    ("read-only", "read-only: the file or its directory cannot be written by this user"),
    ("disk is full", "the disk is full"),
    ("disk i/o error", "a disk I/O error (the disk is full, failing or gone)"),
    ("unable to open", "cannot be opened: its directory is missing or not writable"),
)


def sqlite_cause(path: object, e: BaseException) -> str:
    """One line naming the state file and the real cause of `e`."""
    text = str(e) or type(e).__name__
    low = text.lower()
    if isinstance(e, OSError) and not isinstance(e, sqlite3.Error):
        return f"{path}: {e.strerror or text}"
    for needle, cause in _SQLITE_CAUSES:
        if needle in low:
            return f"{path}: {cause} ({text})"
    return f"{path}: {text}"


class SqliteDb(sqlite3.Connection):
    """sqlite3's connection, with every written value made storable, and a
    lock held past the busy timeout by another process (a second `run` on
    the file, a backup tool) raised as StoreUnavailable: the loop waits and
    tries again, it never exits for it."""

    def execute(self, sql: str, params: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, clean_params(params))
        except sqlite3.DatabaseError as e:
            raise self._unavailable(e) from None

    def executemany(self, sql: str, seq: Any, /) -> sqlite3.Cursor:
        try:
            return super().executemany(sql, clean_rows(seq))
        except sqlite3.DatabaseError as e:
            raise self._unavailable(e) from None

    path: object = "state"

    def _unavailable(self, e: sqlite3.Error) -> Exception:
        """A lock held elsewhere, a full disk, a file made read-only or damaged
        under a running monitor: StoreUnavailable naming the file and the
        cause, which the loop logs and outlasts. Other errors as they are."""
        low = str(e).lower()
        message = sqlite_cause(self.path, e)
        if "locked" in low or "busy" in low:
            return StoreLocked(message)
        if any(n in low for n, _ in _SQLITE_CAUSES):
            return StoreUnavailable(message)
        return e


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
        self.conn: Any = None
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
            error = hide_password(_first_line(e), self.url)
            raise StoreUnavailable(f"{display_state(self.url)}: {error}") from None
        except self._psycopg.Error as e:  # a malformed URL or an unknown option
            error = hide_password(_first_line(e), self.url)
            raise StoreError(f"{display_state(self.url)}: {error}") from None

    def _usable(self) -> None:
        if self.conn is None or self.conn.closed or self.conn.broken:
            if self.conn is not None:
                self.conn.close()
            self._connect()

    def execute(self, sql: str, params=()):
        if not self.in_tx:
            self._usable()
        try:
            return self.conn.execute(_pg_sql(sql), clean_params(params))
        except self._psycopg.OperationalError as e:
            if self.in_tx:
                raise StoreUnavailable(_first_line(e)) from None
            self._usable()  # one retry on a fresh connection: a statement outside a transaction
            try:
                return self.conn.execute(_pg_sql(sql), clean_params(params))
            except self._psycopg.OperationalError as e2:
                raise StoreUnavailable(_first_line(e2)) from None

    def executemany(self, sql: str, seq):
        cur = self.conn.cursor()
        try:
            cur.executemany(_pg_sql(sql), clean_rows(seq))
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

    def failed(self) -> bool:
        """Whether the open transaction met an error on the server."""
        from psycopg.pq import TransactionStatus

        return self.conn.info.transaction_status == TransactionStatus.INERROR

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _in_tx(db: Any) -> bool:
    return db.in_tx if isinstance(db, _PgDb) else db.in_transaction


class Tx:
    """A write transaction: BEGIN IMMEDIATE on SQLite (the one write lock),
    BEGIN on PostgreSQL (rows are locked by the statements that need it).
    Inside a transaction already open (a cycle's group of written polls,
    pollgroup.py) it is a savepoint: its work is undone alone on an error,
    and committed with the rest."""

    def __init__(self, db: Any):
        self.db = db
        self.savepoint: str | None = None

    def __enter__(self) -> Any:
        db = self.db
        if _in_tx(db):
            depth = getattr(db, "savepoints", 0) + 1
            db.savepoints = depth
            self.savepoint = f"sp{depth}"
            db.execute(f"SAVEPOINT {self.savepoint}")
        elif isinstance(db, _PgDb):
            db.begin()
        else:
            db.execute("BEGIN IMMEDIATE")
        return db

    def __exit__(self, exc_type, exc, tb) -> None:
        db, name = self.db, self.savepoint
        if name is not None:
            db.savepoints -= 1
            if exc_type is None:
                db.execute(f"RELEASE {name}")
            elif _in_tx(db):
                try:
                    db.execute(f"ROLLBACK TO {name}")
                    db.execute(f"RELEASE {name}")
                except StoreUnavailable:  # the connection went: the whole group is undone
                    pass
        elif isinstance(db, _PgDb):
            db.end(exc_type is None)
        elif exc_type is None:
            db.execute("COMMIT")
        elif db.in_transaction:  # SQLite may have rolled back already (a full disk)
            db.execute("ROLLBACK")


class GroupRefused(Exception):
    """The database would not commit a group of polls' writes."""


class GroupTx(Tx):
    """The open transaction of a group of polls (pollgroup.WriteGroup),
    begun and ended by hand rather than by a `with` block."""

    def begin(self) -> None:
        self.__enter__()

    def commit(self) -> None:
        """COMMIT; GroupRefused (after a ROLLBACK) when PostgreSQL holds the
        transaction as failed, which it would end with a silent ROLLBACK."""
        db = self.db
        if isinstance(db, _PgDb) and db.in_tx and db.failed():
            self.rollback()
            raise GroupRefused("the transaction failed on the server")
        if not isinstance(db, _PgDb) and not db.in_transaction:
            raise GroupRefused("SQLite ended the transaction itself")
        self.__exit__(None, None, None)

    def rollback(self) -> None:
        self.__exit__(GroupRefused, None, None)


class Connected:
    """What every part of the store shares: the connection and the few
    phrases in which the two dialects differ. Store sets them when it opens."""

    db: Any  # sqlite3.Connection or _PgDb
    postgres: bool
    path: str | Path
    owner: str  # who holds this store's leases
    _now_sql: str  # the database's clock, in seconds since the epoch
    _concat: str  # string aggregate
    _lock: str  # row lock of a SELECT inside a transaction
    _skip: str  # the same, skipping rows another transaction holds

    def _tx(self) -> Tx:
        return Tx(self.db)

    def group_tx(self) -> GroupTx:
        return GroupTx(self.db)

    def savepoint(self) -> Tx:
        """A savepoint of the open transaction (Tx inside one)."""
        return Tx(self.db)


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
            return f"{type(e).__name__}: {hide_password(_first_line(e), str(path))}"
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
