"""Limits on one document and the identity of its stories: at most
MAX_STORIES stories (the newest), a CPU budget that ends a costly read with
one clear error, text cleaned of what no store can hold, and posts that
differ only by their link's #fragment kept apart."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from monitor.config import JsonPaths, Select
from monitor.identity import MAX_STORIES, RawItem, clean_text, is_clean, make_stories
from monitor.sources import budget, rss
from monitor.sources.errors import SourceError
from monitor.sources.frontpage import find_articles
from monitor.sources.html import parse_listing
from monitor.sources.jsonapi import parse_json_api
from monitor.sources.sitemap import parse_sitemap

URL = "https://feeds.example/feed"
T0 = datetime(2024, 6, 1, tzinfo=UTC)


def test_a_long_document_keeps_its_newest_stories_whichever_way_it_runs():
    items = [
        RawItem(
            title=f"Story {i}", link=f"https://x.example/{i}", published=T0 + timedelta(hours=i)
        )
        for i in range(MAX_STORIES + 50)
    ]
    for order in (items, items[::-1]):
        stories = make_stories("s", order)
        assert len(stories) == MAX_STORIES
        assert "Story 0" not in {s.title for s in stories}
        assert f"Story {MAX_STORIES + 49}" in {s.title for s in stories}


def test_an_oldest_first_feed_is_capped_from_its_newer_end_on_the_fast_path():
    n = MAX_STORIES + 10
    body = (
        '<rss version="2.0"><channel>'
        + "".join(
            f"<item><title>Item {i}</title><link>https://x.example/{i}</link>"
            f"<pubDate>{(T0 + timedelta(minutes=i)).strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate></item>"
            for i in range(n)
        )
        + "</channel></rss>"
    ).encode()
    items = rss.parse_xml_feed(body, URL)
    assert len(items) == MAX_STORIES and items[-1].title == f"Item {n - 1}"


def _docs():
    feed = b'<rss version="2.0"><channel><item><title>A story title</title><link>https://x.example/1</link></item></channel></rss>'
    listing = b"<ul><li><a href='/2024/06/01/a-b-c'>A story title here</a></li></ul>"
    front = b"<main><h2><a href='/2024/06/01/a-b-c-d'>A story title with words</a></h2></main>"
    sitemap = b"<urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'><url><loc>https://x.example/a</loc></url></urlset>"
    api = json.dumps({"d": [{"t": "A story"}]}).encode()
    jf = b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1", "title": "A"}]}'
    return {
        "fast path": lambda: rss.parse_xml_feed(feed, URL),
        "feedparser": lambda: (setattr(rss, "FAST_PATH", False), rss.parse_xml_feed(feed, URL)),
        "json feed": lambda: rss.parse_feed(jf, URL),
        "listing": lambda: parse_listing(listing, URL, Select(item="li")),
        "front page": lambda: find_articles(front, URL),
        "sitemap": lambda: parse_sitemap(sitemap, URL),
        "json api": lambda: parse_json_api(api, URL, JsonPaths(items="d", title="t")),
    }


@pytest.mark.parametrize("kind", sorted(_docs()))
def test_a_read_over_its_cpu_budget_ends_with_one_clear_error(kind, monkeypatch):
    monkeypatch.setattr(rss, "FAST_PATH", True)
    assert _docs()[kind]()  # within the budget: read
    monkeypatch.setattr(rss, "FAST_PATH", True)
    monkeypatch.setattr(budget, "CPU_SECONDS", -1.0)  # every read is over it
    with pytest.raises(SourceError) as e:
        _docs()[kind]()
    assert e.value.reason == "parse_error" and "s of CPU" in str(e.value)


def test_the_cpu_clock_is_not_read_for_every_document_or_story(monkeypatch):
    """Reading the thread's CPU clock is a system call: documents read in
    less wall time than their budget share one reading of it, and the
    budget still stops a document over it (above)."""
    import time

    calls = []
    real = time.thread_time
    monkeypatch.setattr(budget, "SAMPLE_SECONDS", 3600.0)
    monkeypatch.setattr(budget._clock, "last", None, raising=False)
    monkeypatch.setattr(time, "thread_time", lambda: calls.append(1) or real())
    feed = _docs()["fast path"]
    for _ in range(30):
        assert feed()
    assert len(calls) == 1


def test_text_is_cleaned_of_surrogates_nul_and_controls():
    assert clean_text("a\ud800b\x00c\x1bd\x7fe\ufffff") == "abcdef"
    assert clean_text("don\x92t \x93quote\x94") == "don\u2019t \u201cquote\u201d"
    assert clean_text("tab\tand\nnewline") == "tab\tand\nnewline"
    (story,) = make_stories(
        "s",
        [
            RawItem(
                title="T\ud83d",
                link="https://x.example/\x00a",
                summary="S\x01",
                guid="g\udfff",
                body="B\x08",
                lang="en\x00",
            )
        ],
    )
    for value in (story.title, story.link, story.summary, story.guid, story.body, story.lang):
        value.encode("utf-8")  # storable and sendable
        assert not any(ord(c) < 32 for c in value)


def test_the_quick_check_of_clean_text_agrees_with_clean_text_on_every_code_point():
    points = [*range(0x3000), *range(0xD7F0, 0xE010), 0xFEFF, 0xFFFD, 0xFFFE, 0xFFFF, 0x10FFFF]
    for c in points:
        for text in (chr(c), f"A title {chr(c)} in ASCII", f"标题{chr(c)}"):
            assert is_clean(text) == (clean_text(text) == text), hex(c)
    # a document's texts joined: one character anywhere decides for all
    assert is_clean("title" * 500) and not is_clean("title" * 500 + "\x1b")


def test_posts_that_differ_only_by_fragment_are_distinct_stories():
    items = [
        RawItem(title=f"Post {i}", link=f"https://blog.example/2024/06/notes.html#p{i}")
        for i in range(16)
    ]
    stories = make_stories("blog", items)
    assert len(stories) == 16 and len({s.key for s in stories}) == 16
    # a single link with a fragment keeps the usual identity
    (one,) = make_stories("blog", [RawItem(title="x", link="https://blog.example/a#top")])
    assert one.key == "url:https://blog.example/a"


def test_the_fast_path_skips_known_stories_by_the_same_keys(monkeypatch):
    body = (
        '<rss version="2.0"><channel>'
        + "".join(
            f"<item><title>Post {i}</title><link>https://blog.example/n.html#p{i}</link></item>"
            for i in range(3)
        )
        + "</channel></rss>"
    ).encode()
    keys = [s.key for s in make_stories("b", rss.parse_xml_feed(body, URL))]
    asked = []

    def known(ks):
        asked.extend(ks)
        return {keys[0]}

    items = rss.parse_xml_feed(body, URL, known=known)
    assert asked == keys and [i.title for i in items] == ["Post 1", "Post 2"]
