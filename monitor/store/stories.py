"""Stories, their matches and near-duplicates: what a poll writes (the
reads that find a copy are in copies.py). A poll's new stories, their
matches and one outbox row per destination are written in one
transaction, so a crash never leaves a match without its pending
deliveries."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass

from ..identity import story_url
from ..models import Match, Story
from .outbox import Delivery
from .sources import Sources
from .vectors import _write_vector

_ALSO = "\n\nAlso reported by: "


# Health notices ride the outbox like story alerts; their rows in `stories`
# belong to this pseudo-source, which no watcher, replay or count reads.
NOTICE_SOURCE = "(monitor)"


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
    # the story's embedding (encoder id, float16 bytes) when a semantic rule is enabled
    vector: tuple[str, bytes] | None = None
    canonical: str | None = None  # the story's canonical URL, when the caller has it already

    @property
    def plain(self) -> bool:
        """Nothing to write beside the story row itself."""
        return (
            not self.matches
            and not self.deliveries
            and self.signature is None
            and self.duplicate_of is None
            and self.vector is None
        )


_INSERT_STORY = (
    "INSERT INTO stories (source, key, canonical_url, title, link, summary, published, "
    "lang, first_seen) VALUES "
)
_ONE_STORY = "(?,?,?,?,?,?,?,?,?)"
# Rows per INSERT: one statement for a feed's baseline rather than one
# execution per row (sqlite3 lets go of the GIL at each), and well under
# any build's limit of bound values (999 in the oldest SQLite).
_ROWS_PER_INSERT = 100


def _insert_plain(db, rows: list[tuple]) -> None:
    """Story rows without an id wanted, in order, a stored one skipped."""
    for i in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[i : i + _ROWS_PER_INSERT]
        db.execute(
            _INSERT_STORY + ",".join([_ONE_STORY] * len(chunk)) + " ON CONFLICT DO NOTHING",
            [v for row in chunk for v in row],
        )


class Stories(Sources):
    """Inherits Sources: a poll's write is fenced by its source's lease."""

    def known_keys(self, source: str, keys: Iterable[str]) -> set[str]:
        keys = list(keys)
        found: set[str] = set()
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            where = f"FROM stories WHERE source=? AND key IN ({marks})"
            if self.postgres:
                rows = self.db.execute(f"SELECT key {where}", [source, *chunk])
                found.update(r["key"] for r in rows)
                continue
            # SQLite: the keys found as one row (a JSON array) rather than a
            # row each: a feed polled again has most of its keys stored, and
            # sqlite3 lets go of the GIL at every row it steps to.
            row = self.db.execute(
                f"SELECT json_group_array(key) AS keys {where}", [source, *chunk]
            ).fetchone()
            found.update(json.loads(row["keys"]))
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

    def known_stories(
        self, source: str, keys: Iterable[str], urls: Iterable[str]
    ) -> tuple[set[str], set[str]]:
        """In one query (per 400 of each): which of these keys this source
        has stored, and which of these canonical URLs any source has."""
        keys, urls = list(keys), [u for u in urls if u]
        found_keys: set[str] = set()
        found_urls: set[str] = set()
        for i in range(0, max(len(keys), len(urls)), 400):
            kc, uc = keys[i : i + 400], urls[i : i + 400]
            rows = self.db.execute(
                "SELECT source, key, canonical_url FROM stories "
                f"WHERE (source=? AND key IN ({','.join('?' * len(kc)) or 'NULL'})) "
                f"OR canonical_url IN ({','.join('?' * len(uc)) or 'NULL'})",
                [source, *kc, *uc],
            )
            kset, uset = set(kc), set(uc)
            for r in rows:
                if r["source"] == source and r["key"] in kset:
                    found_keys.add(r["key"])
                if r["canonical_url"] in uset:
                    found_urls.add(r["canonical_url"])
        return found_keys, found_urls

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

        def values(p: Planned) -> tuple:
            s = p.story
            canon = p.canonical if p.canonical is not None else story_url(s)
            return (
                source,
                s.key,
                canon or None,
                s.title,
                s.link,
                s.summary,
                s.published.isoformat() if s.published else None,
                s.lang,
                now,
            )

        insert = _INSERT_STORY + _ONE_STORY + " ON CONFLICT DO NOTHING"
        with self._tx() as db:
            # The source's row first, fenced by the lease: a stalled replica's
            # stale poll writes nothing (LeaseLost rolls the transaction back).
            self._write_source(
                db,
                source,
                lease,
                "etag=?, last_modified=?, baseline_done=1, last_polled_at=?, last_success_at=?, "
                "failures=0, last_error=NULL, last_error_reason=NULL, next_check_at=?, "
                "stories_seen=stories_seen+?, body_hash=?, last_status=?, "
                "last_new_at=CASE WHEN ? > 0 OR last_new_at IS NULL THEN ? ELSE last_new_at END",
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
                ),
            )
            # Stories with nothing but their row (a baseline, the unmatched)
            # go in runs, each one INSERT of many rows; a story with matches
            # or a copy is inserted alone, as its id is needed. Document
            # order holds.
            run: list[tuple] = []
            for p in planned:
                if p.plain:
                    run.append(values(p))
                    continue
                if run:
                    _insert_plain(db, run)
                    run = []
                got = db.execute(insert + " RETURNING id", values(p)).fetchall()
                if not got:
                    continue  # stored already: its alerts were decided then
                story_id = got[0]["id"]
                created += self._write_plan(db, story_id, p, now)
                if p.vector is not None:
                    _write_vector(db, story_id, *p.vector)
                if p.signature is not None:
                    from ..dedupe import bands, pack

                    db.execute(
                        "INSERT INTO signatures (story_id, sig, created_at) VALUES (?,?,?)",
                        (story_id, pack(p.signature), now),
                    )
                    keys = bands(p.signature)  # one statement for the 32 rows
                    db.execute(
                        "INSERT INTO signature_bands (band, story_id) VALUES "
                        + ",".join(["(?,?)"] * len(keys)),
                        [v for b in keys for v in (b, story_id)],
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
            if run:
                _insert_plain(db, run)
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
        if planned.matches:
            db.executemany(
                "INSERT INTO matches (story_id, rule_id, terms, snippet, created_at, fingerprint) "
                "VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                [
                    (
                        story_id,
                        m.rule_id,
                        json.dumps(list(m.terms), ensure_ascii=False),
                        m.snippet,
                        now,
                        planned.fingerprint,
                    )
                    for m in planned.matches
                ],
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
