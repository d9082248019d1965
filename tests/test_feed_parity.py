"""Feeds that real publishers produce and the fast path once misread: each is
read as feedparser reads it, on the fast path where it can be, and no story
or field is lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from monitor.sources import rss
from monitor.sources.dates import parse_date, parse_feed_date

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
URL = "https://feeds.example/feed"


def both_paths(name: str, monkeypatch) -> tuple[list, list | None]:
    """(items, fast path's own items or None when it gave the feed away),
    after checking that the fast path and feedparser agree."""
    body = (FEEDS / name).read_bytes()
    items = rss.parse_xml_feed(body, URL)
    data, ctype = rss._widen_encoding(rss.prepare(body)[0], None)
    fast = rss.fast_items(data, URL, ctype)
    monkeypatch.setattr(rss, "FAST_PATH", False)
    assert rss.parse_xml_feed(body, URL) == items
    return items, fast


def test_cp1252_bytes_in_a_latin1_feed_are_the_characters_they_meant(monkeypatch):
    items, fast = both_paths("cp1252_in_latin1.xml", monkeypatch)
    assert fast is not None
    (item,) = items
    assert item.title == "Council won\u2019t publish its camera list"
    assert item.summary == (
        "The council said it \u201ccannot\u201d name the sites\u2026 yet, a caf\u00e9 owner was told."
    )
    assert item.published == datetime(2024, 6, 10, 12, 0, tzinfo=UTC)


def test_double_encoded_utf8_is_read_again(monkeypatch):
    items, fast = both_paths("double_encoded.xml", monkeypatch)
    assert fast is not None
    assert items[0].title == "Leak at the clinic\u2026 and what follows"
    assert items[0].summary == "Records of 4,000 patients\u2026 were found online."


def test_namespaced_titles_summaries_and_dates_are_read(monkeypatch):
    items, fast = both_paths("namespaced_fields.xml", monkeypatch)
    assert fast is not None
    assert [(i.title, i.summary, i.published) for i in items] == [
        (
            "Library drops its face-matching kiosks",
            "The pilot ended after a review found no written policy.",
            datetime(2024, 6, 12, 8, 15, tzinfo=UTC),
        ),
        (
            "Transit app leaked rider locations",
            "An open storage bucket held six months of trip data.",
            datetime(2024, 6, 13, 17, 40, tzinfo=UTC),
        ),
        (
            "School board hears from parents on cameras",
            "Parents asked who sees the footage.",
            datetime(2024, 6, 14, 11, 0, tzinfo=UTC),
        ),
    ]


def test_atom_link_given_as_text_keeps_the_story(monkeypatch):
    items, _ = both_paths("atom_link_text.xml", monkeypatch)
    assert [i.link for i in items] == ["https://signal.example/posts/stadium-face-checks"]
    assert items[0].title == "Stadium ends ticket-gate face checks"


def test_an_item_with_two_different_summaries_goes_to_feedparser(monkeypatch):
    body = (
        b'<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel>'
        b"<item><title>Episode 4</title><link>https://pod.example/4</link>"
        b"<itunes:summary>Short</itunes:summary><description>Long text</description></item>"
        b"</channel></rss>"
    )
    assert rss.fast_items(body, URL, None) is None
    assert rss.parse_xml_feed(body, URL)[0].summary == "Short"  # feedparser: the first one


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Mon, 10 Jun 2024 14:00:00 +02:00", datetime(2024, 6, 10, 12, 0, tzinfo=UTC)),
        ("10 June 2024 14:00:00 EDT", datetime(2024, 6, 10, 18, 0, tzinfo=UTC)),
        ("Thu, 30 Apr 2015 08:57:00 MET", datetime(2015, 4, 30, 7, 57, tzinfo=UTC)),
        ("Thu, 30 Apr 2015 08:57:00 MEST", datetime(2015, 4, 30, 6, 57, tzinfo=UTC)),
        ("Wed, 19 Feb 2012 22:40:00 GMT-01:01", datetime(2012, 2, 19, 23, 41, tzinfo=UTC)),
        ("Mon, 26 January 2004 16:31:00 PT", datetime(2004, 1, 27, 0, 31, tzinfo=UTC)),
        ("Thu, 01 Jan 04 19:48:21 GMT", datetime(2004, 1, 1, 19, 48, 21, tzinfo=UTC)),
        ("Thu Aug 30 2012 17:26:16 +0200", datetime(2012, 8, 30, 15, 26, 16, tzinfo=UTC)),
        ("2007-04-23T23:25:47.538+10:00", datetime(2007, 4, 23, 13, 25, 47, tzinfo=UTC)),
        ("2003-12", datetime(2003, 12, 1, tzinfo=UTC)),
        ("Sun, 16 Dec 2012 11:47:32 +zz:00", None),
        ("Sun, 16 Dec 2012 1:2:3:4 GMT", None),
        ("2013-01-28T11:30:00-06:00Textra", None),
    ],
)
def test_feed_dates_with_zones_and_malformed_ones(text, expected):
    assert parse_feed_date(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "9999-12-31T23:59:59-05:00",
        "Fri, 31 Dec 9999 23:59:59 -2359",
        "0001-01-01T00:00:00+23:59",
        "Sun, 31 Dec 9999 23:59:59 -9999",
        "Dec 31, 9999 11:59 PM -0500",
    ],
)
def test_out_of_range_dates_are_unknown_never_an_error(text):
    assert parse_feed_date(text) is None
    assert parse_date(text) is None
    assert parse_date(text, default_tz=timezone(timedelta(hours=-5))) is None


def test_the_last_representable_day_is_still_a_date():
    assert parse_date("9999年12月31日 23:59") == datetime(9999, 12, 31, 23, 59, tzinfo=UTC)


EXTREME = "9999-12-31T23:59:59-05:00"


def test_every_parser_keeps_a_story_with_an_out_of_range_date(monkeypatch):
    from monitor.config import JsonPaths, Select
    from monitor.sources.html import parse_listing
    from monitor.sources.jsonapi import parse_json_api
    from monitor.sources.sitemap import parse_sitemap

    rss_body = (
        "<rss version='2.0'><channel><item><title>Dated far out</title>"
        f"<link>https://x.example/1</link><pubDate>{EXTREME}</pubDate></item></channel></rss>"
    ).encode()
    atom_body = (
        "<feed xmlns='http://www.w3.org/2005/Atom'><entry><title>Dated far out</title>"
        f"<id>https://x.example/1</id><updated>{EXTREME}</updated></entry></feed>"
    ).encode()
    json_feed = (
        '{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1",'
        f' "title": "Dated far out", "date_published": "{EXTREME}"}}]}}'
    ).encode()
    sitemap = (
        "<urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'><url>"
        f"<loc>https://x.example/1</loc><lastmod>{EXTREME}</lastmod></url></urlset>"
    ).encode()
    listing = (
        f"<ul><li><a href='/1'>Dated far out</a><time datetime='{EXTREME}'>x</time></li></ul>"
    ).encode()
    api = f'{{"d": [{{"t": "Dated far out", "p": "{EXTREME}"}}]}}'.encode()
    got = []
    for fast in (True, False):
        monkeypatch.setattr(rss, "FAST_PATH", fast)
        got += rss.parse_feed(rss_body, URL) + rss.parse_feed(atom_body, URL)
    got += rss.parse_feed(json_feed, URL)
    got += parse_sitemap(sitemap, URL)
    got += parse_listing(listing, URL, Select(item="li", published="time"))
    got += parse_json_api(api, URL, JsonPaths(items="d", title="t", published="p"))
    assert len(got) == 8
    assert all(i.published is None for i in got)
