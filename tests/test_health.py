"""Source health: episodes with one broken and one recovered alert, the
network-down rule, no-new-items, backoff, the schema migration and
`monitor sources`."""

from __future__ import annotations

import json
import sqlite3

from httpserver import free_port
from test_hostile import rss_doc

from monitor.cli import main
from monitor.config import Config, FetchSettings, HealthSettings, SourceConfig, load_config
from monitor.engine import RuleSet
from monitor.health import looks_like_bot_wall
from monitor.service import Monitor
from monitor.store import NOTICE_SOURCE, SCHEMA_VERSION, Store

FEED = rss_doc([("a", "Story A", "https://news.example/a")])


class Clock:
    def __init__(self, t: float = 1_700_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def _monitor(tmp_path, sources, clock, **kw):
    cfg = Config(
        state=tmp_path / "s.db",
        sources=sources,
        fetch=FetchSettings(per_host_delay=0, deadline=5),
        **kw,
    )
    return Monitor(cfg, RuleSet([]), clock=clock)


def notices(mon) -> list[str]:
    return [
        r["title"]
        for r in mon.store.db.execute(
            "SELECT title FROM stories WHERE source=? ORDER BY id", (NOTICE_SOURCE,)
        )
    ]


def test_one_broken_and_one_recovered_alert_per_episode(tmp_path, http_server):
    url = http_server.add("/f.xml", b"oops", status=500)
    src = SourceConfig(name="wire", kind="rss", url=url, interval="10m")
    clock = Clock()
    mon = _monitor(tmp_path, [src], clock, health=HealthSettings(alert_after=2))
    try:
        for _ in range(4):
            assert mon.poll(src).reason == "http"
            clock.t += 3600
        assert notices(mon) == ["Source broken: wire (http)"]
        state = mon.store.source_state("wire")
        assert state.failures == 4 and state.broken_alerted
        # backoff: 10m doubling, jittered at most 10%
        assert state.next_check_at - clock.t + 3600 >= 80 * 60 * 0.9
        http_server.add("/f.xml", FEED, content_type="application/rss+xml")
        assert mon.poll(src).ok
        assert mon.poll(src).ok
        assert notices(mon) == ["Source broken: wire (http)", "Source recovered: wire"]
        assert [s["title"] for s in mon.store.recent_stories()] == [
            "Story A"
        ]  # notices are not stories
        rows = mon.store.db.execute("SELECT channel, title FROM outbox ORDER BY id").fetchall()
        assert [r["title"] for r in rows] == [
            "Source broken: wire (http)",
            "Source recovered: wire",
        ]
        # A second episode alerts again.
        http_server.add("/f.xml", b"oops", status=500)
        for _ in range(2):
            mon.poll(src)
            clock.t += 3600
        assert notices(mon)[-1] == "Source broken: wire (http)" and len(notices(mon)) == 3
    finally:
        mon.close()


def test_a_short_failure_below_the_threshold_alerts_nothing(tmp_path, http_server):
    url = http_server.add("/f.xml", b"oops", status=500)
    src = SourceConfig(name="wire", kind="rss", url=url)
    mon = _monitor(tmp_path, [src], Clock())
    try:
        mon.poll(src)
        http_server.add("/f.xml", FEED, content_type="application/rss+xml")
        mon.poll(src)
        assert notices(mon) == []
        assert mon.store.source_state("wire").broken_since is None
    finally:
        mon.close()


def test_network_down_counts_once_not_against_each_source(tmp_path, caplog):
    dead = [
        SourceConfig(name=f"s{i}", kind="rss", url=f"http://127.0.0.1:{free_port()}/f.xml")
        for i in range(4)
    ]
    mon = _monitor(tmp_path, dead, Clock(), health=HealthSettings(alert_after=1))
    try:
        out = mon.cycle()
        assert all(p.reason == "connect" for p in out.polls)
        assert all(mon.store.source_state(s.name).failures == 0 for s in dead)
        assert notices(mon) == []
        assert caplog.text.count("event=network.down") == 1
    finally:
        mon.close()


def test_one_dead_source_among_working_ones_is_counted(tmp_path, http_server):
    url = http_server.add("/f.xml", FEED, content_type="application/rss+xml")
    ok = [SourceConfig(name=f"ok{i}", kind="rss", url=f"{url}?{i}") for i in range(3)]
    dead = SourceConfig(name="dead", kind="rss", url=f"http://127.0.0.1:{free_port()}/f.xml")
    mon = _monitor(tmp_path, ok + [dead], Clock())
    try:
        mon.cycle()
        assert mon.store.source_state("dead").failures == 1
    finally:
        mon.close()


def test_no_new_items_for_too_long_is_a_named_episode(tmp_path, http_server):
    url = http_server.add("/f.xml", FEED, content_type="application/rss+xml")
    src = SourceConfig(name="quiet", kind="rss", url=url, interval="1h", expect_new_within="1d")
    clock = Clock()
    mon = _monitor(tmp_path, [src], clock)
    try:
        mon.poll(src)  # baseline: a new story
        clock.t += 12 * 3600
        mon.poll(src)
        assert notices(mon) == []
        clock.t += 13 * 3600
        out = mon.poll(src)
        assert out.ok
        state = mon.store.source_state("quiet")
        assert state.last_error_reason == "no_new_items" and state.failures == 0
        assert notices(mon) == ["Source broken: quiet (no_new_items)"]
        clock.t += 3600
        mon.poll(src)
        assert len(notices(mon)) == 1  # one alert per episode
        http_server.add(
            "/f.xml",
            rss_doc([("b", "Story B", "https://news.example/b")]),
            content_type="application/rss+xml",
        )
        mon.poll(src)
        assert notices(mon)[-1] == "Source recovered: quiet"
    finally:
        mon.close()


def test_bot_wall_markers():
    assert looks_like_bot_wall(403, {"cf-mitigated": "challenge"}, b"")
    assert looks_like_bot_wall(200, {}, b"<html><head><title>Just a moment...</title>")
    assert not looks_like_bot_wall(403, {"Server": "nginx"}, b"<h1>Forbidden</h1>")
    assert not looks_like_bot_wall(
        200, {}, b"<rss><channel><title>Captcha news</title></channel></rss>"
    )


V1_SOURCES = """CREATE TABLE sources (name TEXT PRIMARY KEY, url TEXT NOT NULL, etag TEXT, last_modified TEXT,
    baseline_done INTEGER NOT NULL DEFAULT 0, last_polled_at REAL, last_success_at REAL, last_error TEXT,
    last_error_reason TEXT, failures INTEGER NOT NULL DEFAULT 0, next_check_at REAL,
    stories_seen INTEGER NOT NULL DEFAULT 0)"""


def test_a_version_1_state_file_is_migrated_in_place(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(
        V1_SOURCES
        + ";"
        + """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1');
        CREATE TABLE stories (id INTEGER PRIMARY KEY, source TEXT NOT NULL, key TEXT NOT NULL, canonical_url TEXT,
            title TEXT NOT NULL, link TEXT NOT NULL, summary TEXT NOT NULL, published TEXT, lang TEXT,
            first_seen REAL NOT NULL, UNIQUE (source, key));
        INSERT INTO sources (name, url, etag, baseline_done, next_check_at) VALUES ('wire', 'http://x/', '"e1"', 1, 5);
        INSERT INTO stories (source, key, title, link, summary, first_seen) VALUES ('wire', 'k', 't', '', '', 1234.5);
    """
    )
    db.commit()
    db.close()
    store = Store(path)
    try:
        st = store.source_state("wire")
        assert (st.etag, st.baseline_done, st.next_check_at) == ('"e1"', True, 5)
        assert st.last_new_at == 1234.5 and st.body_hash is None and not st.broken_alerted
        v = store.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[
            "value"
        ]
        assert int(v) == SCHEMA_VERSION
    finally:
        store.close()
    Store(path).close()  # opening again is a no-op


def test_sources_command_shows_every_source(tmp_path, http_server, capsys):
    url = http_server.add("/f.xml", FEED, content_type="application/rss+xml")
    bad = f"http://127.0.0.1:{free_port()}/f.xml"
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"state: ./s.db\nfetch: {{per_host_delay: 0}}\nsources:\n"
        f"  - {{name: good, kind: rss, url: '{url}'}}\n"
        f"  - {{name: bad, kind: rss, url: '{bad}'}}\n"
        f"  - {{name: later, kind: rss, url: '{url}?x', enabled: false}}\n",
        encoding="utf-8",
    )
    assert main(["sources", "--config", str(cfg)]) == 0
    assert "new" in capsys.readouterr().out
    mon = Monitor(load_config(cfg), RuleSet([]))
    try:
        mon.cycle()
    finally:
        mon.close()
    capsys.readouterr()
    assert main(["sources", "--config", str(cfg), "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["good"]["state"] == "ok" and rows["good"]["stories_seen"] == 1
    assert rows["bad"]["state"].startswith("failing") and rows["bad"]["last_error"].startswith(
        "connect:"
    )
    assert rows["later"]["state"] == "disabled"
    assert main(["sources", "--config", str(cfg)]) == 0
    table = capsys.readouterr().out
    assert (
        table.splitlines()[0].startswith("SOURCE")
        and "connect: connection to 127.0.0.1 refused" in table
    )
