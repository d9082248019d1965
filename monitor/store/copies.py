"""The store's reads that tell a story is a copy: the stored stories whose
signature bands it shares, judged on their text (dedupe.py), a headline
another source matched, and the outlets that carried a story."""

from __future__ import annotations

from ..models import Story
from .db import Connected


class Copies(Connected):
    def find_near_duplicate(
        self, sig: tuple[int, ...], since: float, story: Story | None = None
    ) -> tuple[int, str, float] | None:
        """The stored story `story` is a copy of (story id, source,
        similarity), among those signed since `since`: the candidates the
        signature's bands find are judged on their text (dedupe.same_story),
        most similar first. Without `story`, the most similar one past the
        MinHash threshold."""
        from ..dedupe import (
            CANDIDATE_THRESHOLD,
            MAX_CANDIDATES,
            THRESHOLD,
            bands,
            same_story,
            similarity,
            unpack,
        )

        keys = bands(sig)
        marks = ",".join("?" * len(keys))
        # The shared bands are counted per story off the (band, story_id)
        # index, then each story counted is looked up once for the window,
        # not once per band it shares.
        rows = self.db.execute(
            "SELECT s.story_id, s.sig, st.source, st.key, st.title, st.summary FROM signatures s "
            "JOIN stories st ON st.id=s.story_id WHERE s.story_id IN "
            "(SELECT g.story_id FROM (SELECT story_id, COUNT(*) AS shared FROM signature_bands "
            f"WHERE band IN ({marks}) GROUP BY story_id) g "
            "JOIN signatures w ON w.story_id=g.story_id WHERE w.created_at>=? "
            "ORDER BY g.shared DESC, g.story_id DESC LIMIT ?)",
            [*keys, since, MAX_CANDIDATES],
        ).fetchall()
        floor = THRESHOLD if story is None else CANDIDATE_THRESHOLD
        scored = sorted(
            ((similarity(sig, unpack(r["sig"])), r) for r in rows),
            key=lambda x: x[0],
            reverse=True,
        )
        for sim, r in scored:
            if sim < floor:
                break
            if story is not None:
                key = r["key"]
                stored = Story(
                    source=r["source"],
                    key=key,
                    title=r["title"] or "",
                    summary=r["summary"] or "",
                    guid=key[5:] if key.startswith("guid:") else None,
                )
                if not same_story(stored, story):
                    continue
            return (r["story_id"], r["source"], sim)
        return None

    def same_title_elsewhere(
        self, source: str, rule_ids: list[str], fp: str, since: float
    ) -> tuple[int, str, float] | None:
        """A story another source stored since `since` with this title
        fingerprint that matched one of these rules (story id, source, 1.0):
        a search result carrying only its headline is a copy of it."""
        if not rule_ids:
            return None
        marks = ",".join("?" * len(rule_ids))
        row = self.db.execute(
            "SELECT m.story_id, st.source FROM matches m JOIN stories st ON st.id=m.story_id "
            f"WHERE m.rule_id IN ({marks}) AND m.fingerprint=? AND m.created_at>=? "
            "AND st.source<>? ORDER BY m.created_at LIMIT 1",
            [*rule_ids, fp, since, source],
        ).fetchone()
        return (row["story_id"], row["source"], 1.0) if row else None

    def outlets_of(self, story_id: int) -> list[str]:
        """The sources that carried a story: its own, then its near-duplicates'."""
        rows = self.db.execute(
            "SELECT source FROM stories WHERE id=? UNION ALL SELECT st.source FROM duplicates d "
            "JOIN stories st ON st.id=d.story_id WHERE d.original_id=?",
            (story_id, story_id),
        ).fetchall()
        return [r["source"] for r in rows]
