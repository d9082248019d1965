"""The lxml fast path reads feeds as feedparser does, gives way to it when
unsure, and leaves stored stories unread."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.sources import fastfeed, rss
from monitor.sources.errors import SourceError

FIXTURES = Path(__file__).parent / "fixtures"
DEMO = Path(__file__).parent.parent / "monitor" / "demo_site"
FEEDS = [
    FIXTURES / n
    for n in ("atom.xml", "rss1_rdf.xml", "rss_duplicate_guids.xml", "wordpress_rss2.xml")
] + sorted(DEMO.glob("*/*.xml"))


@pytest.mark.parametrize("path", FEEDS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fast_path_reads_what_feedparser_reads(path, monkeypatch):
    body = path.read_bytes()
    fast = rss.parse_xml_feed(body, "https://feeds.example/feed")
    monkeypatch.setattr(rss, "FAST_PATH", False)
    slow = rss.parse_xml_feed(body, "https://feeds.example/feed")
    assert fast == slow
    assert (
        fastfeed.parse(rss._widen_encoding(body, None)[0], "https://feeds.example/feed") is not None
    )


def test_broken_xml_goes_to_feedparser():
    body = (FIXTURES / "rss_truncated.xml").read_bytes()
    with pytest.raises(fastfeed.NotFast):
        fastfeed.parse(body, "https://feeds.example/feed")
    assert rss.parse_xml_feed(body, "https://feeds.example/feed")  # read by the fallback


def test_known_stories_are_left_out_unread():
    body = (FIXTURES / "wordpress_rss2.xml").read_bytes()
    every = fastfeed.parse(body, "https://feeds.example/feed")
    asked = []

    def known(keys):
        asked.append(list(keys))
        return set(keys[1:])  # all but the first are stored

    some = fastfeed.parse(body, "https://feeds.example/feed", known)
    assert some == every[:1]
    assert len(asked) == 1 and len(asked[0]) == len(every)


def test_too_deep_is_a_parse_error_without_fallback():
    nested = (
        b'<?xml version="1.0"?><rss version="2.0"><channel>' + b"<x>" * 5000 + b"</channel></rss>"
    )
    with pytest.raises(SourceError) as ei:
        fastfeed.parse(nested, "https://feeds.example/feed")
    assert ei.value.reason == "parse_error"


def test_slack_mentions_in_html_summaries_stay_text():
    body = (
        b'<rss version="2.0"><channel><item><title>t</title><link>https://x.example/1</link>'
        b"<description>&lt;p&gt;before &lt;!channel&gt; after&lt;/p&gt;</description></item></channel></rss>"
    )
    assert fastfeed.parse(body, "https://x.example/")[0].summary == "before <!channel> after"
