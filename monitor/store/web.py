"""The reads the dashboard pages need, and the readers' verdicts.

Every query of the web pages is here, in the store, so that no SQL is
written anywhere else: a part of the Store like the others, in its one
dialect (`?` placeholders, SQL both SQLite and PostgreSQL accept).

Verdicts: a reader says a rule's match was relevant or not (and which
topic it should have had), or that a stored story should have matched.
One verdict per story and rule; a new one replaces the old (the table is
created by the store's schema 5). They feed the rules page's precision and
`monitor feedback export`.

Size: one query per page section, each short; kept together as the
dashboard's one reading surface.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .db import Connected
from .stories import NOTICE_SOURCE

VERDICTS = ("relevant", "not_relevant", "missed")


def _marks(items: Sequence) -> str:
    return ",".join("?" * len(items))


# -- the matches page ----------------------------------------------------------


@dataclass
class MatchFilter:
    rule_ids: list[str] | None = None  # None: any rule; []: nothing can match
    source: str | None = None
    lang: str | None = None
    since: float | None = None
    until: float | None = None
    text: str | None = None

    def where(self, postgres: bool = False) -> tuple[str, list]:
        parts: list[str] = []
        args: list = []
        if self.rule_ids is not None:
            if not self.rule_ids:
                return "1=0", []
            parts.append(f"m.rule_id IN ({_marks(self.rule_ids)})")
            args.extend(self.rule_ids)
        if self.source:
            parts.append("s.source=?")
            args.append(self.source)
        if self.lang:
            parts.append("(LOWER(s.lang)=? OR LOWER(s.lang) LIKE ?)")
            args.extend([self.lang.lower(), self.lang.lower() + "-%"])
        if self.since is not None:
            parts.append("s.first_seen>=?")
            args.append(self.since)
        if self.until is not None:
            parts.append("s.first_seen<?")
            args.append(self.until)
        if self.text:
            like = (
                "%" + self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            )
            # SQLite's LIKE ignores the case of ASCII letters; PostgreSQL's ILIKE of all
            op = "ILIKE" if postgres else "LIKE"
            parts.append(f"(s.title {op} ? ESCAPE '\\' OR s.summary {op} ? ESCAPE '\\')")
            args.extend([like, like])
        return (" AND ".join(parts) or "1=1"), args


@dataclass
class StoryRow:
    id: int
    source: str
    title: str
    link: str
    summary: str
    published: str | None
    lang: str | None
    first_seen: float
    matches: list[dict] = field(default_factory=list)  # rule_id, terms, snippet, created_at
    deliveries: list[dict] = field(default_factory=list)  # channel, status, attempts, last_error
    outlets: list[str] = field(default_factory=list)  # other sources that carried it
    verdicts: dict[str, dict] = field(default_factory=dict)  # rule_id ('' = the story) -> verdict


_STORY_COLUMNS = "s.id, s.source, s.title, s.link, s.summary, s.published, s.lang, s.first_seen"


def _story(r) -> StoryRow:
    return StoryRow(
        r["id"],
        r["source"],
        r["title"],
        r["link"],
        r["summary"],
        r["published"],
        r["lang"],
        r["first_seen"],
    )


# A filter the indexes cannot answer (text, source, language) looks at this
# many matched rows per page at most, so a page costs the same in a store of
# any size; when the window ends before the page is full, the page says so
# and its "older" link searches on below it.
WINDOW = 2000


@dataclass
class MatchPage:
    rows: list[StoryRow]
    next_key: int | None  # `before` of the next page, None at the end
    partial: bool = False  # the window ended before the page filled: look older


class Web(Connected):
    """The dashboard's reads and the readers' verdicts, on the Store."""

    def _day_expr(self, column: str) -> str:
        """Whole days since a start given as the first parameter (SQLite's CAST
        truncates, PostgreSQL's rounds: FLOOR there)."""
        if self.postgres:
            return f"FLOOR(({column} - ?) / 86400.0)::bigint"
        return f"CAST(({column} - ?) / 86400.0 AS INTEGER)"

    def _id_at_time(self, t: float, newest_before: bool) -> int | None:
        """The story id where first_seen crosses `t` (ids grow with first_seen)."""
        if newest_before:
            sql = "SELECT id FROM stories WHERE first_seen<? ORDER BY first_seen DESC LIMIT 1"
        else:
            sql = "SELECT id FROM stories WHERE first_seen>=? ORDER BY first_seen LIMIT 1"
        row = self.db.execute(sql, (t,)).fetchone()
        return None if row is None else int(row["id"])

    def match_page(self, f: MatchFilter, before: int | None = None, limit: int = 50) -> MatchPage:
        """Matched stories, newest first, `limit` at a time, by keyset: the next
        page starts below the last story id shown."""
        where, args = f.where(self.postgres)
        hi = before
        if f.until is not None:  # dates are id ranges: ids grow with first_seen
            top = self._id_at_time(f.until, newest_before=True)
            if top is None:
                return MatchPage([], None)
            hi = min(hi, top + 1) if hi is not None else top + 1
        lo = None
        if f.since is not None:
            lo = self._id_at_time(f.since, newest_before=False)
            if lo is None:
                return MatchPage([], None)
        window_lo = None
        if f.text or f.source or f.lang:
            row = self.db.execute(
                "SELECT story_id FROM matches"
                + (" WHERE story_id<?" if hi is not None else "")
                + " ORDER BY story_id DESC LIMIT 1 OFFSET ?",
                ([hi] if hi is not None else []) + [WINDOW],
            ).fetchone()
            if row is not None and (lo is None or row["story_id"] > lo):
                window_lo = int(row["story_id"])
        if hi is not None:
            where += " AND m.story_id<?"
            args.append(hi)
        if lo is not None:
            where += " AND m.story_id>=?"
            args.append(lo)
        if window_lo is not None:
            where += " AND m.story_id>?"
            args.append(window_lo)
        rows = self.db.execute(
            f"SELECT m.story_id AS id FROM matches m JOIN stories s ON s.id=m.story_id "
            f"WHERE {where} GROUP BY m.story_id ORDER BY m.story_id DESC LIMIT ?",
            [*args, limit + 1],
        ).fetchall()
        ids = [r["id"] for r in rows]
        more = len(ids) > limit
        ids = ids[:limit]
        stories = self.stories_by_id(ids)
        if more and ids:
            return MatchPage(stories, ids[-1])
        if window_lo is not None:  # the window ended first: older matches may still hold some
            return MatchPage(stories, window_lo + 1, partial=True)
        return MatchPage(stories, None)

    def stories_by_id(self, ids: Sequence[int]) -> list[StoryRow]:
        """The stories with their matches, deliveries, outlets and verdicts, in
        the order of `ids`: five queries, whatever the number."""
        if not ids:
            return []
        marks = _marks(ids)
        ids = list(ids)
        by_id = {
            r["id"]: _story(r)
            for r in self.db.execute(
                f"SELECT {_STORY_COLUMNS} FROM stories s WHERE s.id IN ({marks})", ids
            )
        }
        for r in self.db.execute(
            f"SELECT story_id, rule_id, terms, snippet, created_at FROM matches "
            f"WHERE story_id IN ({marks}) ORDER BY id",
            ids,
        ):
            try:
                terms = json.loads(r["terms"])
            except ValueError:
                terms = []
            by_id[r["story_id"]].matches.append(
                {
                    "rule_id": r["rule_id"],
                    "terms": terms,
                    "snippet": r["snippet"],
                    "created_at": r["created_at"],
                }
            )
        for r in self.db.execute(
            f"SELECT id, story_id, channel, destination, status, attempts, last_error, fold, sent_at "
            f"FROM outbox WHERE story_id IN ({marks}) ORDER BY channel, id",
            ids,
        ):
            by_id[r["story_id"]].deliveries.append(dict(r))
        for r in self.db.execute(
            f"SELECT d.original_id, s.source FROM duplicates d JOIN stories s ON s.id=d.story_id "
            f"WHERE d.original_id IN ({marks}) ORDER BY d.story_id",
            ids,
        ):
            story = by_id[r["original_id"]]
            if r["source"] != story.source and r["source"] not in story.outlets:
                story.outlets.append(r["source"])
        for r in self.db.execute(
            f"SELECT story_id, rule_id, verdict, topic, created_at FROM verdicts "
            f"WHERE story_id IN ({marks})",
            ids,
        ):
            by_id[r["story_id"]].verdicts[r["rule_id"]] = dict(r)
        return [by_id[i] for i in ids if i in by_id]

    def story_row(self, story_id: int) -> StoryRow | None:
        got = self.stories_by_id([story_id])
        return got[0] if got else None

    def story_id_by_key(self, source: str, key: str) -> int | None:
        """The id of a story known by its source and key (an alert's link)."""
        row = self.db.execute(
            "SELECT id FROM stories WHERE source=? AND key=?", (source, key)
        ).fetchone()
        return None if row is None else int(row["id"])

    def search_stories(self, text: str, before: int | None = None, limit: int = 50) -> MatchPage:
        """Any stored story (matched or not) whose title or summary holds
        `text`, newest first: where a reader finds a miss. Like a filtered
        matches page, it looks at WINDOW stories per page at most."""
        where, args = MatchFilter(text=text).where(self.postgres)
        row = self.db.execute(
            "SELECT id FROM stories"
            + (" WHERE id<?" if before is not None else "")
            + " ORDER BY id DESC LIMIT 1 OFFSET ?",
            ([before] if before is not None else []) + [WINDOW * 5],
        ).fetchone()
        window_lo = None if row is None else int(row["id"])
        if before is not None:
            where += " AND s.id<?"
            args.append(before)
        if window_lo is not None:
            where += " AND s.id>?"
            args.append(window_lo)
        rows = self.db.execute(
            f"SELECT s.id FROM stories s WHERE {where} AND s.source<>? ORDER BY s.id DESC LIMIT ?",
            [*args, NOTICE_SOURCE, limit + 1],
        ).fetchall()
        ids = [r["id"] for r in rows]
        more = len(ids) > limit
        ids = ids[:limit]
        stories = self.stories_by_id(ids)
        if more and ids:
            return MatchPage(stories, ids[-1])
        if window_lo is not None:
            return MatchPage(stories, window_lo + 1, partial=True)
        return MatchPage(stories, None)

    def source_names(self) -> list[str]:
        return [
            r["name"]
            for r in self.db.execute(
                "SELECT name FROM sources WHERE name<>? ORDER BY name", (NOTICE_SOURCE,)
            )
        ]

    # -- verdicts ------------------------------------------------------------
    def record_verdict(
        self,
        story_id: int,
        verdict: str,
        rule_id: str = "",
        topic: str = "",
        now: float | None = None,
    ) -> bool:
        """Store a reader's verdict (replacing an earlier one on the same story
        and rule). False when the story does not exist."""
        if verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {verdict!r} (expected one of {', '.join(VERDICTS)})")
        now = time.time() if now is None else now
        with self._tx() as db:
            if db.execute("SELECT 1 FROM stories WHERE id=?", (story_id,)).fetchone() is None:
                return False
            db.execute(
                "INSERT INTO verdicts (story_id, rule_id, verdict, topic, created_at) "
                "VALUES (?,?,?,?,?) ON CONFLICT (story_id, rule_id) DO UPDATE SET "
                "verdict=excluded.verdict, topic=excluded.topic, created_at=excluded.created_at",
                (story_id, rule_id, verdict, topic, now),
            )
        return True

    def remove_verdict(self, story_id: int, rule_id: str = "") -> bool:
        cur = self.db.execute(
            "DELETE FROM verdicts WHERE story_id=? AND rule_id=?", (story_id, rule_id)
        )
        return bool(cur.rowcount)

    def recent_verdicts(self, limit: int = 50) -> list[dict]:
        rows = self.db.execute(
            "SELECT v.story_id, v.rule_id, v.verdict, v.topic, v.created_at, s.title, s.source "
            "FROM verdicts v JOIN stories s ON s.id=v.story_id ORDER BY v.created_at DESC, v.id DESC "
            "LIMIT ?",
            (limit,),
        )
        return [dict(r) for r in rows]

    def verdicts_for_export(self, since: float | None = None) -> Iterable[dict]:
        """Every verdict with its story's text, oldest first."""
        sql = (
            "SELECT v.story_id, v.rule_id, v.verdict, v.topic, v.created_at, s.source, s.title, "
            "s.summary, s.link, s.lang FROM verdicts v JOIN stories s ON s.id=v.story_id"
        )
        args: list = []
        if since is not None:
            sql += " WHERE v.created_at>=?"
            args.append(since)
        for r in self.db.execute(sql + " ORDER BY v.story_id, v.id", args):
            yield dict(r)

    def precision(self, since: float) -> dict[str, tuple[int, int]]:
        """Per rule: (relevant, judged) among the verdicts given since then."""
        out: dict[str, tuple[int, int]] = {}
        for r in self.db.execute(
            "SELECT rule_id, SUM(CASE WHEN verdict='relevant' THEN 1 ELSE 0 END) AS good, "
            "COUNT(*) AS n FROM verdicts WHERE rule_id<>'' AND verdict IN ('relevant','not_relevant') "
            "AND created_at>=? GROUP BY rule_id",
            (since,),
        ):
            out[r["rule_id"]] = (int(r["good"]), int(r["n"]))
        return out

    # -- rules, sources and delivery ------------------------------------------
    def matches_per_day(self, start: float) -> dict[str, dict[int, int]]:
        """{rule id: {day index from `start`: matches}}."""
        return self._per_day("rule_id", "matches", "created_at", start)

    def stories_per_day(self, start: float) -> dict[str, dict[int, int]]:
        """{source: {day index from `start`: new stories}}."""
        return self._per_day("source", "stories", "first_seen", start, NOTICE_SOURCE)

    def _per_day(
        self, key: str, table: str, column: str, start: float, but: str | None = None
    ) -> dict[str, dict[int, int]]:
        """{`key`: {day index from `start`: rows}} of `table` dated by `column`,
        leaving out the rows whose `key` is `but`."""
        out: dict[str, dict[int, int]] = {}
        skip = f" AND {key}<>?" if but is not None else ""
        args = (start, start) if but is None else (start, start, but)
        for r in self.db.execute(
            f"SELECT {key}, {self._day_expr(column)} AS day, COUNT(*) AS n FROM {table} "
            f"WHERE {column}>=?{skip} GROUP BY {key}, day",
            args,
        ):
            out.setdefault(r[key], {})[int(r["day"])] = r["n"]
        return out

    def broken_notices_per_day(self, start: float) -> dict[int, int]:
        """Source-broken notices queued per day (one per failure episode that
        reached health.alert_after)."""
        out: dict[int, int] = {}
        for r in self.db.execute(
            f"SELECT {self._day_expr('first_seen')} AS day, COUNT(*) AS n FROM stories "
            "WHERE source=? AND first_seen>=? AND key LIKE ? GROUP BY day",
            (start, NOTICE_SOURCE, start, "health:%:broken"),
        ):
            out[int(r["day"])] = r["n"]
        return out

    def outbox_depth(self, points: Sequence[float]) -> list[int]:
        """How many rows were waiting to be sent at each of these times: created
        by then and not yet sent (dead rows count until now: their death is not
        dated)."""
        if not points:
            return []
        cols = ", ".join(
            f"SUM(CASE WHEN created_at<=? AND (sent_at IS NULL OR sent_at>?) THEN 1 ELSE 0 END) AS p{i}"
            for i in range(len(points))
        )
        args: list = []
        for t in points:
            args.extend([t, t])
        row = self.db.execute(
            f"SELECT {cols} FROM outbox WHERE sent_at IS NULL OR sent_at>?", [*args, points[0]]
        ).fetchone()
        return [int(row[f"p{i}"] or 0) for i in range(len(points))]

    def dead_rows(self, limit: int = 100) -> list[dict]:
        rows = self.db.execute(
            "SELECT o.id, o.story_id, o.channel, o.destination, o.attempts, o.last_error, o.created_at, "
            "s.title FROM outbox o JOIN stories s ON s.id=o.story_id WHERE o.status='dead' "
            "ORDER BY o.id DESC LIMIT ?",
            (limit,),
        )
        return [dict(r) for r in rows]

    def retry_dead_row(self, row_id: int, now: float | None = None) -> bool:
        """Queue one dead letter again."""
        now = time.time() if now is None else now
        cur = self.db.execute(
            "UPDATE outbox SET status='pending', attempts=0, next_attempt_at=?, due_at=? "
            "WHERE id=? AND status='dead'",
            (now, now, row_id),
        )
        return bool(cur.rowcount)

    def digests_waiting(self) -> list[dict]:
        """Rows held for a burst or a digest, per channel: how many and when due."""
        rows = self.db.execute(
            "SELECT channel, fold, COUNT(*) AS n, MIN(next_attempt_at) AS due FROM outbox "
            "WHERE status='pending' AND fold<>'' GROUP BY channel, fold ORDER BY channel, fold"
        )
        return [dict(r) for r in rows]

    def poll_now(self, name: str, now: float | None = None) -> bool:
        """Make a source due at once (every replica reads the same schedule)."""
        now = time.time() if now is None else now
        cur = self.db.execute("UPDATE sources SET next_check_at=? WHERE name=?", (now, name))
        return bool(cur.rowcount)
