"""The lxml fast path reads feeds as feedparser does, gives way to it when
unsure, and leaves stored stories unread."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.identity import make_stories
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
    assert make_stories("w", some) == make_stories("w", every)[:1]
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


def _edge_feed(first_title: str = "Camera pilot at the station") -> bytes:
    """One item of each kind whose key depends on the rest of the document."""
    items = [
        f"<item><title>{first_title}</title><guid>tag:w.example,1</guid>"
        "<link>https://w.example/1</link></item>",
        "<item><title>No guid</title><link>https://w.example/2?utm_source=rss</link></item>",
        "<item><title>Relative</title><link>/news/3.html</link></item>",
        "<item><title>Shared guid A</title><guid>same</guid><link>https://w.example/4</link></item>",
        "<item><title>Shared guid B</title><guid>same</guid><link>https://w.example/5</link></item>",
        "<item><title>Anchor one</title><link>https://w.example/log.html#a1</link></item>",
        "<item><title>Anchor two</title><link>https://w.example/log.html#a2</link></item>",
        "<item><title>Text only</title><description>Keyed by its words</description></item>",
        "<item><title>Same link again</title><link>https://w.example/2</link></item>",
        "<item><title>Control in guid</title><guid>tag:w.example,&#x85;9</guid></item>",
    ]
    return ('<rss version="2.0"><channel>' + "".join(items) + "</channel></rss>").encode()


def test_leaving_known_stories_out_keeps_every_key_and_story():
    # Whatever is stored, the stories read are those of the whole document
    # less the stored ones, under the keys the whole document gives them:
    # a GUID shared by two items, or links told apart by their fragment
    # alone, must not key an item differently once its neighbours are
    # left out (a lone "#a2" keyed as the bare page would swallow the next
    # anchor's alert).
    url = "https://w.example/feed.xml"
    every = make_stories("w", fastfeed.parse(_edge_feed(), url))
    keys = [s.key for s in every]
    assert len(set(keys)) == len(keys) == 9  # "Same link again" is the second item's copy
    for mask in range(1 << len(keys)):
        stored = {k for i, k in enumerate(keys) if mask >> i & 1}
        some = fastfeed.parse(_edge_feed(), url, lambda ks, stored=stored: stored & set(ks))
        # (a story keyed by its text is read whatever is stored: the poll
        # looks its key up after reading, as for any watcher)
        left = [s for s in every if s.key not in stored or s.key.startswith("hash:")]
        assert make_stories("w", some) == left, stored
    # a stored story whose title changed is left as stored, as the poll's
    # triage does without the shortcut (stories are not re-read by key)
    edited = fastfeed.parse(_edge_feed("Camera pilot paused"), url, lambda ks: {keys[0]})
    assert [s.key for s in make_stories("w", edited)] == keys[1:]
    # and every other story is asked about by the key it is stored under
    asked: list[str] = []
    fastfeed.parse(_edge_feed(), url, lambda ks: asked.extend(ks) or set())
    assert set(asked) == {k for k in keys if not k.startswith("hash:")}
