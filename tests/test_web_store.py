"""The dashboard's reads and the verdicts table, on SQLite and PostgreSQL:
schema 5 is added in place to a state written by schema 4."""

from __future__ import annotations

import pytest

from monitor.models import Match, Story
from monitor.store import SCHEMA_VERSION, Planned, Store
from monitor.store import web as store_web


def _stories(store: Store, n: int = 5) -> None:
    store.ensure_source("wire", "http://example.org/feed")
    planned = []
    for i in range(n):
        story = Story(
            source="wire",
            key=f"guid:{i}",
            title=f"Story {i} about face scans",
            link=f"http://example.org/{i}",
        )
        matches = (
            (
                Match(
                    "frt",
                    "FRT",
                    "high",
                    ("biometrics",),
                    (),
                    ("face scans",),
                    f"Story {i} about face scans",
                ),
            )
            if i % 2 == 0
            else ()
        )
        planned.append(Planned(story, matches))
    store.record_poll("wire", planned, etag=None, last_modified=None, next_check_at=0.0, now=1000.0)


def _as_schema_4(store: Store) -> None:
    """What a state file written before the verdicts looks like."""
    store.db.execute("DROP TABLE verdicts")
    store.db.execute("UPDATE meta SET value='4' WHERE key='schema_version'")


def test_schema_5_adds_verdicts_to_a_schema_4_state(state):
    store = Store(state)
    _stories(store)
    _as_schema_4(store)
    store.close()
    store = Store(state)
    try:
        assert store.schema_version == SCHEMA_VERSION
        assert store.record_verdict(1, "relevant", "frt", now=2000.0)
        assert store.record_verdict(3, "not_relevant", "frt", "biometrics", now=2000.0)
        assert store.record_verdict(3, "relevant", "frt", now=2001.0)  # replaces
        assert not store.record_verdict(999, "relevant", "frt")
        assert store.precision(0.0) == {"frt": (2, 2)}
        store.record_verdict(5, "not_relevant", "frt", now=2002.0)
        assert store.precision(0.0) == {"frt": (2, 3)}
        assert store.precision(2001.5) == {"frt": (0, 1)}  # the window counts
        assert store.record_verdict(2, "missed", "", "biometrics")
        assert len(list(store.verdicts_for_export())) == 4
        with pytest.raises(ValueError, match="unknown verdict"):
            store.record_verdict(1, "maybe")
    finally:
        store.close()


def test_match_page_keyset_and_filters(state):
    store = Store(state)
    try:
        _stories(store, 7)
        page = store.match_page(store_web.MatchFilter(), limit=2)
        assert [r.id for r in page.rows] == [7, 5] and page.next_key == 5
        page = store.match_page(store_web.MatchFilter(), before=5, limit=2)
        assert [r.id for r in page.rows] == [3, 1] and page.next_key is None
        assert page.rows[0].matches[0]["terms"] == ["face scans"]
        f = store_web.MatchFilter(text="STORY 2")  # the third story, id 3; any case
        assert [r.id for r in store.match_page(f).rows] == [3]
        f = store_web.MatchFilter(text="100%_")  # LIKE's wildcards are literal here
        assert store.match_page(f).rows == []
        assert store.match_page(store_web.MatchFilter(rule_ids=[])).rows == []
        assert store.match_page(store_web.MatchFilter(since=2000.0)).rows == []
        assert len(store.match_page(store_web.MatchFilter(until=2000.0)).rows) == 4
        found = store.search_stories("story 1 ").rows
        assert [r.id for r in found] == [2] and found[0].matches == []
        assert store.matches_per_day(0.0) == {"frt": {0: 4}}
        assert store.stories_per_day(0.0) == {"wire": {0: 7}}
        assert store.poll_now("wire", now=5.0)
        assert store.source_state("wire").next_check_at == 5.0
    finally:
        store.close()


def test_a_filter_the_indexes_cannot_answer_pages_through_windows(tmp_path, monkeypatch):
    """With a window of 2 matched rows, a text search finds every match by
    following its "older" links, each exactly once."""
    monkeypatch.setattr(store_web, "WINDOW", 2)
    store = Store(tmp_path / "s.db")
    try:
        _stories(store, 15)  # matches on ids 1, 3, ..., 15
        f = store_web.MatchFilter(text="face scans")
        seen, before, partial_pages = [], None, 0
        while True:
            page = store.match_page(f, before=before, limit=3)
            seen += [r.id for r in page.rows]
            partial_pages += page.partial
            if page.next_key is None:
                break
            before = page.next_key
        assert seen == [15, 13, 11, 9, 7, 5, 3, 1] and partial_pages >= 1
    finally:
        store.close()


def test_a_copy_from_another_outlet_is_shown_on_its_original(tmp_path):
    store = Store(tmp_path / "s.db")
    try:
        _stories(store, 1)
        store.ensure_source("other", "http://example.net/feed")
        copy = Story(source="other", key="guid:c", title="Story 0 about face scans, again")
        store.record_poll(
            "other",
            [Planned(copy, duplicate_of=(1, 0.93))],
            etag=None,
            last_modified=None,
            next_check_at=0.0,
        )
        (row,) = store.match_page(store_web.MatchFilter()).rows
        assert row.id == 1 and row.outlets == ["other"]
    finally:
        store.close()
