"""The reads that `monitor status`, replay and the dashboard need, and the
service's own notes (meta: heartbeat, last reload). Nothing here writes a
story, a match or an outbox row."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime

from ..models import Story
from .db import Connected
from .stories import NOTICE_SOURCE


class Reads(Connected):
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

    def moved_sources(self) -> list[sqlite3.Row]:
        """(name, permanent_url) of the sources a permanent redirect moved:
        start-up reads these alone, not every source's whole row."""
        return self.db.execute(
            "SELECT name, permanent_url FROM sources WHERE permanent_url IS NOT NULL"
        ).fetchall()

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

    def recent_stories(self, limit: int = 10) -> list[dict]:
        """The newest stories first, with the rules each one matched and,
        for a copy folded into another outlet's alert, that original."""
        rows = self.db.execute(
            "SELECT s.id, s.source, s.title, s.link, s.first_seen, "
            f"(SELECT {self._concat}(m.rule_id, ',') FROM matches m WHERE m.story_id = s.id) AS rules, "
            "o.source AS copy_source, o.title AS copy_title "
            "FROM stories s LEFT JOIN duplicates d ON d.story_id = s.id "
            "LEFT JOIN stories o ON o.id = d.original_id "
            "WHERE s.source<>? ORDER BY s.id DESC LIMIT ?",
            (NOTICE_SOURCE, limit),
        )
        return [
            {
                "source": r["source"],
                "title": r["title"],
                "link": r["link"],
                "first_seen": r["first_seen"],
                "rules": r["rules"].split(",") if r["rules"] else [],
                "copy_of": (
                    {"source": r["copy_source"], "title": r["copy_title"]}
                    if r["copy_source"] is not None
                    else None
                ),
            }
            for r in rows
        ]

    def copies_since(self, since: float) -> dict[tuple[str, str], tuple[str, str]]:
        """(source, key) of each copy stored since `since` -> (source, title)
        of the story whose alert it was folded into."""
        rows = self.db.execute(
            "SELECT s.source, s.key, o.source AS osource, o.title AS otitle FROM duplicates d "
            "JOIN stories s ON s.id = d.story_id JOIN stories o ON o.id = d.original_id "
            "WHERE s.first_seen>=?",
            (since,),
        )
        return {(r["source"], r["key"]): (r["osource"], r["otitle"]) for r in rows}

    # -- the service's own notes (heartbeat, last reload) -----------------
    def set_meta(self, key: str, value: object) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value=excluded.value",
            (key, json.dumps(value, ensure_ascii=False)),
        )

    def meta_under(self, prefix: str) -> dict[str, object]:
        """Every meta value whose key starts with `prefix`, by the rest of its key."""
        rows = self.db.execute(
            "SELECT key, value FROM meta WHERE substr(key, 1, ?) = ?", (len(prefix), prefix)
        ).fetchall()
        return {r["key"][len(prefix) :]: json.loads(r["value"]) for r in rows}

    def drop_meta_under(self, prefix: str) -> None:
        self.db.execute("DELETE FROM meta WHERE substr(key, 1, ?) = ?", (len(prefix), prefix))

    def get_meta(self, key: str) -> object | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return json.loads(row["value"])
        except ValueError:
            return row["value"]
