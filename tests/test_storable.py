"""Every text value the store writes is made storable (NUL removed, lone
surrogates replaced), also when a batch of rows is checked in one pass:
the rows that need nothing are written as they are, the ones that do are
cleaned, on SQLite and on PostgreSQL."""

from __future__ import annotations

from monitor.models import Story
from monitor.store import Planned, Store
from monitor.store.clean import clean_params, clean_rows


def test_a_row_is_cleaned_only_where_it_needs_it():
    ok = ("outlet", "guid:1", 3, None, 2.5, b"\x00raw", "人脸识别")
    assert clean_params(ok) is ok
    assert clean_params(("a\x00b", 1)) == ("ab", 1)
    # a high surrogate ending one value and a low one starting the next are
    # two lone surrogates, not one character, when the values are joined
    assert clean_params(("a\ud83d", "\ude00b")) == ("a\ufffd", "\ufffdb")


def test_a_batch_is_passed_through_whole_or_cleaned_row_by_row():
    rows = [("a", 1), ("人脸识别", None)]
    assert clean_rows(rows) is rows
    assert clean_rows(iter(rows)) == rows
    dirty = [("fine", 1), ("x\x00y", 2), ("tail \udfff", 3)]
    assert clean_rows(dirty) == [("fine", 1), ("xy", 2), ("tail \ufffd", 3)]
    assert clean_rows([]) == []


def test_stories_written_in_one_batch_come_back_storable(state):
    store = Store(state)
    try:
        store.ensure_source("wire", "https://wire.example/feed")
        stories = [
            Story(source="wire", key="k1", title="Plain title", link="https://wire.example/1"),
            Story(source="wire", key="k2", title="NUL\x00 inside", link="https://wire.example/2"),
            Story(
                source="wire", key="k3\ud83d", title="lone \udfff", link="https://wire.example/3"
            ),
            Story(source="wire", key="k4", title="人脸识别", link="https://wire.example/4"),
        ]
        store.record_poll(
            "wire", [Planned(s) for s in stories], etag=None, last_modified=None, next_check_at=0.0
        )
        rows = store.db.execute(
            "SELECT key, title FROM stories WHERE source='wire' ORDER BY id"
        ).fetchall()
        assert [(r["key"], r["title"]) for r in rows] == [
            ("k1", "Plain title"),
            ("k2", "NUL inside"),
            ("k3\ufffd", "lone \ufffd"),
            ("k4", "人脸识别"),
        ]
    finally:
        store.close()


def test_a_long_poll_keeps_document_order_and_each_story_once(state):
    """Plain stories go in multi-row statements: past a statement's rows,
    around a matched story, beside a story stored before, the rows come
    back in document order, once each, and their keys are known again
    exactly, whatever characters they hold."""
    from monitor.models import Match

    odd = ['q"uote', "back\\slash", "人脸识别", "new\nline", "comma,[]"]
    store = Store(state)
    try:
        store.ensure_source("wire", "https://wire.example/feed")
        store.record_poll(
            "wire",
            [Planned(Story(source="wire", key="k7", title="Stored before"))],
            etag=None,
            last_modified=None,
            next_check_at=0.0,
        )
        keys = [f"k{i}" for i in range(250)] + odd
        match = Match("r1", "Rule", "high", (), (), ("face",), "face")
        planned = [
            Planned(
                Story(source="wire", key=k, title=f"Story {k}"),
                matches=(match,) if k == "k120" else (),
            )
            for k in keys
        ]
        store.record_poll("wire", planned, etag=None, last_modified=None, next_check_at=0.0)
        rows = store.db.execute("SELECT key, title FROM stories WHERE source='wire' ORDER BY id")
        got = [(r["key"], r["title"]) for r in rows]
        assert got == [("k7", "Stored before")] + [(k, f"Story {k}") for k in keys if k != "k7"]
        assert store.known_keys("wire", [*keys, "missing"]) == set(keys)
        assert store.known_keys("other", keys) == set()
    finally:
        store.close()
