"""Story embeddings for the semantic conditions: one row per story,
written with the story when it is new (never for a baseline), read back by
replay, explain and score so a story is embedded once. The encoder's id is
kept beside each vector: a vector of another encoder is not reused."""

from __future__ import annotations

from .db import Connected


class Vectors(Connected):
    def vectors_since(self, since: float, encoder: str) -> dict[tuple[str, str], bytes]:
        """Stored vectors made by `encoder` of the stories first seen since
        `since`, by (source, key): what replay reads instead of embedding again."""
        rows = self.db.execute(
            "SELECT s.source, s.key, v.vector FROM story_vectors v JOIN stories s "
            "ON s.id = v.story_id WHERE s.first_seen>=? AND v.encoder=?",
            (since, encoder),
        )
        return {(r["source"], r["key"]): bytes(r["vector"]) for r in rows}

    def save_vectors(self, vectors: dict[tuple[str, str], bytes], encoder: str) -> int:
        """Keep vectors computed later (replay of stories stored before a
        semantic rule was enabled), by (source, key); returns the rows written."""
        written = 0
        with self._tx() as db:
            for (source, key), blob in vectors.items():
                row = db.execute(
                    "SELECT id FROM stories WHERE source=? AND key=?", (source, key)
                ).fetchone()
                if row is not None:
                    _write_vector(db, row["id"], encoder, blob)
                    written += 1
        return written

    def stored_vectors(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) AS n FROM story_vectors").fetchone()["n"])


def _write_vector(db, story_id: int, encoder: str, blob: bytes) -> None:
    db.execute(
        "INSERT INTO story_vectors (story_id, encoder, vector) VALUES (?,?,?) "
        "ON CONFLICT (story_id) DO UPDATE SET encoder=excluded.encoder, vector=excluded.vector",
        (story_id, encoder, blob),
    )
