"""A poll's bookkeeping is proportional to what is new: the canonical URL
of a story is computed once, and not at all for a story already stored;
the stories of a poll are stored in document order, with their canonical
URLs, whether written in a batch or one by one."""

from __future__ import annotations

import monitor.plan
import monitor.polls
import monitor.store.stories
from monitor.config import Config, FetchSettings, SourceConfig
from monitor.engine import load_rules
from monitor.identity import story_url
from monitor.service import Monitor


def feed(items: list[tuple[str, str, str]]) -> bytes:
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link><guid>{g}</guid>"
        f"<description>&lt;p&gt;Text of {t}.&lt;/p&gt;</description></item>"
        for g, t, link in items
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>W</title>'
        f"<link>https://w.example/</link>{body}</channel></rss>"
    ).encode()


ITEMS = [
    (f"w-{i}", f"Council story {i}", f"https://w.example/a/{i}?utm_source=rss") for i in range(6)
]


def _count_canonical(monkeypatch) -> list[str]:
    calls: list[str] = []

    def counting(story):
        calls.append(story.link)
        return story_url(story)

    for module in (monitor.polls, monitor.plan, monitor.store.stories):
        monkeypatch.setattr(module, "story_url", counting)
    return calls


def test_canonical_urls_once_per_new_story_and_none_for_known(tmp_path, http_server, monkeypatch):
    url = http_server.add("/w.xml", feed(ITEMS), content_type="application/rss+xml")
    rules, problems = load_rules([])
    cfg = Config(
        state=tmp_path / "s.db",
        sources=[SourceConfig(name="w", kind="rss", url=url)],
        fetch=FetchSettings(per_host_delay=0),
    )
    mon = Monitor(cfg, rules)
    calls = _count_canonical(monkeypatch)
    try:
        first = mon.cycle(mon.sources).polls[0]
        assert first.ok and first.new == 6 and first.baseline
        assert sorted(calls) == sorted(link for _, _, link in ITEMS)  # once each

        # One new story at the top, a summary edited below: the body changes,
        # five stories are known.
        calls.clear()
        newer = [("w-6", "Council story 6", "https://w.example/a/6")] + ITEMS[:5]
        http_server.add("/w.xml", feed(newer), content_type="application/rss+xml")
        second = mon.cycle(mon.sources).polls[0]
        assert second.ok and second.new == 1
        assert calls == ["https://w.example/a/6"]

        rows = mon.store.db.execute(
            "SELECT key, canonical_url FROM stories WHERE source='w' ORDER BY id"
        ).fetchall()
        assert [r["key"] for r in rows] == [f"guid:w-{i}" for i in range(7)]
        assert [r["canonical_url"] for r in rows] == [f"https://w.example/a/{i}" for i in range(7)]
    finally:
        mon.close()


def test_anchors_of_one_page_are_new_once_each_poll_after_poll(tmp_path, http_server):
    # A blog whose posts are anchors of one page: only the fragment tells
    # them apart, so it is part of every key, also when the older anchors
    # are left out unread as stored and a new one is read alone.
    def page(n: int) -> bytes:
        return feed([("", f"Note {i}", f"https://w.example/log.html#n{i}") for i in range(n)])

    url = http_server.add("/w.xml", page(2), content_type="application/rss+xml")
    rules, problems = load_rules([])
    cfg = Config(
        state=tmp_path / "s.db",
        sources=[SourceConfig(name="w", kind="rss", url=url)],
        fetch=FetchSettings(per_host_delay=0),
    )
    mon = Monitor(cfg, rules)
    try:
        assert mon.cycle(mon.sources).polls[0].new == 2
        for n in (3, 4, 5):
            http_server.add("/w.xml", page(n), content_type="application/rss+xml")
            assert mon.cycle(mon.sources).polls[0].new == 1
        rows = mon.store.db.execute("SELECT key FROM stories WHERE source='w' ORDER BY id")
        assert [r["key"] for r in rows] == [
            f"url:https://w.example/log.html#n{i}" for i in range(5)
        ]
    finally:
        mon.close()
