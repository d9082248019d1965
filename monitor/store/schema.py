"""The schema and its migrations: the tables of a new state, and the columns
and indexes added since schema 1, applied in place when an older state is
opened (on PostgreSQL by one replica while the others wait)."""

from __future__ import annotations

from .db import Connected, StoreError, _pg_ddl, display_state

SCHEMA_VERSION = 7

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
CREATE INDEX IF NOT EXISTS signature_bands_band_story ON signature_bands (band, story_id);
CREATE TABLE IF NOT EXISTS duplicates (
    story_id INTEGER PRIMARY KEY REFERENCES stories (id),
    original_id INTEGER NOT NULL REFERENCES stories (id),
    similarity REAL NOT NULL,
    created_at REAL NOT NULL
);
-- schema 5: a story's embedding (semantic conditions), kept when it was new
CREATE TABLE IF NOT EXISTS story_vectors (
    story_id INTEGER PRIMARY KEY REFERENCES stories (id),
    encoder TEXT NOT NULL,
    vector BLOB NOT NULL
);
-- schema 6: a reader's verdict on a rule's match ('' rule: on the story,
-- "should have matched"), one per story and rule (web.py)
CREATE TABLE IF NOT EXISTS verdicts (
    id INTEGER PRIMARY KEY,
    story_id INTEGER NOT NULL REFERENCES stories (id),
    rule_id TEXT NOT NULL DEFAULT '',
    verdict TEXT NOT NULL,
    topic TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    UNIQUE (story_id, rule_id)
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
CREATE INDEX IF NOT EXISTS verdicts_rule ON verdicts (rule_id, created_at);
CREATE INDEX IF NOT EXISTS matches_rule_story ON matches (rule_id, story_id);
CREATE INDEX IF NOT EXISTS matches_created ON matches (created_at);
CREATE INDEX IF NOT EXISTS outbox_story ON outbox (story_id);
CREATE INDEX IF NOT EXISTS duplicates_original ON duplicates (original_id);
-- schema 7: the near-duplicate candidates are counted off the index alone
-- (band, story_id), which makes the band-only index of earlier states redundant
DROP INDEX IF EXISTS signature_bands_band;
"""


def version(store: Connected) -> int | None:
    """The state's schema version; None for a new, empty state."""
    if store.postgres:
        exists = store.db.execute("SELECT to_regclass('meta') IS NOT NULL AS t").fetchone()["t"]
    else:
        exists = store.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
    if not exists:
        return None
    row = store.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return None if row is None else int(row["value"])


def migrate(store: Connected) -> None:
    """Bring the state to SCHEMA_VERSION; refuse one written by a newer version."""
    found = version(store)
    if found is not None and found > SCHEMA_VERSION:
        raise StoreError(
            f"{display_state(store.path)}: state was written by a newer version "
            f"(schema {found} > {SCHEMA_VERSION})"
        )
    if found == SCHEMA_VERSION:
        return  # up to date: opening the state for reading writes nothing
    with store._tx() as db:
        if store.postgres:
            # Replicas starting together: one migrates, the others wait
            # here and find the work done. The lock ends with the transaction.
            db.execute("SELECT pg_advisory_xact_lock(7301)")
            if version(store) == SCHEMA_VERSION:
                return
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                db.execute(_pg_ddl(statement) if store.postgres else statement)
        for table, column, decl in _ADDED_COLUMNS:
            if store.postgres:
                db.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {_pg_ddl(decl)}")
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
