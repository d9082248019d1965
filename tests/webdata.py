"""A monitor with stories, matches, verdict-ready rows and a failing
channel, built by running the real loop against a loopback feed; shared by
the dashboard's page tests, browser tests, screenshots and benchmark."""

from __future__ import annotations

from html import escape
from pathlib import Path

from monitor.config import ChannelConfig, Config, FetchSettings, HttpSettings, SourceConfig
from monitor.service import Monitor, load_checked_rules

RULES = Path(__file__).resolve().parent.parent / "rules"
HOSTILE_TITLE = "<script>alert(1)</script><img src=x onerror=alert(2)> facial recognition vans"


def item(guid: str, title: str, summary: str, link: str) -> str:
    return (
        f"<item><title>{escape(title)}</title><link>{escape(link)}</link>"
        f'<guid isPermaLink="false">{guid}</guid>'
        f"<pubDate>Thu, 26 Nov 2026 10:00:00 +0000</pubDate>"
        f"<description>{escape(summary)}</description></item>"
    )


def feed(*items: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Wire</title>'
        "<link>http://example.org/</link><description>news</description>"
        + "".join(items)
        + "</channel></rss>"
    )


BASELINE = [
    item("b-1", "Council debates parking fees", "A vote is due next week.", "/news/parking"),
]
NEW = [
    item(
        "n-1",
        "Police roll out live facial recognition at train stations",
        "Cameras will scan commuters' faces against a watchlist, the force said.",
        "/news/frt-stations",
    ),
    item(
        "n-2",
        "Retailer confirms data breach exposing customer addresses",
        "Hackers stole names, emails and home addresses of two million shoppers.",
        "/news/breach",
    ),
    item("n-3", "Harvest festival draws record crowds", "Pumpkins everywhere.", "/news/harvest"),
]


def monitor_config(
    tmp_path: Path,
    site,
    *,
    listen: str | None = None,
    dead_url: str = "json://127.0.0.1:9/hook",
    public_url: str | None = None,
    state=None,
) -> Config:
    return Config(
        state=state or tmp_path / "monitor.db",
        rules=RULES,
        sources=[
            SourceConfig(name="wire", kind="rss", url=site.url("/feed.xml"), interval="15m"),
        ],
        channels={"ops": ChannelConfig(urls=[dead_url], default=True)},
        fetch=FetchSettings(per_host_delay=0),
        http=HttpSettings(listen=listen, public_url=public_url),
    )


def build(
    tmp_path: Path,
    site,
    *,
    extra: list[str] = (),
    listen: str | None = None,
    public_url: str | None = None,
    state=None,
) -> Monitor:
    """Two cycles: the baseline, then new stories; the channel's sends fail."""
    site.add("/feed.xml", feed(*BASELINE), content_type="application/rss+xml")
    config = monitor_config(tmp_path, site, listen=listen, public_url=public_url, state=state)
    ruleset, problems = load_checked_rules(config)
    assert not problems, problems
    mon = Monitor(config, ruleset)
    mon.cycle(mon.sources)
    site.add("/feed.xml", feed(*BASELINE, *NEW, *extra), content_type="application/rss+xml")
    mon.cycle(mon.sources)
    return mon


def kill_one_delivery(mon) -> int:
    """Make one outbox row a dead letter, as max_age would; returns its id."""
    import time

    rows = mon.store.claim_deliveries(time.time() + 10 * 86400, 1.0)
    mon.store.mark_failed(rows[0].id, "HTTP 410 Gone from the webhook", None)
    return rows[0].id


def hostile_item(link: str = "javascript:alert(3)") -> str:
    """A story whose stored title is markup: escaped twice in the feed, as a
    feed that means the text itself does."""
    return item("h-1", escape(HOSTILE_TITLE), "Vans with cameras.", link)
