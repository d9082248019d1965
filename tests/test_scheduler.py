"""Scheduling and politeness: stable jitter, server hints within bounds,
backoff, per-host limits, body-hash skip, remembered permanent redirects,
persisted next checks, robots.txt and per-source proxies."""

from __future__ import annotations

import threading

import pytest
from httpserver import redirect
from test_hostile import rss_doc

from monitor.config import Config, FetchSettings, Select, SourceConfig
from monitor.engine import RuleSet
from monitor.fetch import Fetcher, FetchError, FetchResult
from monitor.fetchall import HostGate, Job, fetch_all
from monitor.scheduler import (
    backoff_interval,
    next_interval,
    parse_retry_after,
    server_hint,
    stable_jitter,
)
from monitor.service import Monitor

FS = FetchSettings(jitter=0.1, max_interval="6h")


def test_jitter_is_stable_per_name_and_bounded():
    a = stable_jitter("wire", 0.1)
    assert a == stable_jitter("wire", 0.1)
    values = {stable_jitter(f"source-{i}", 0.1) for i in range(200)}
    assert all(0.9 <= v <= 1.1 for v in values)
    assert len(values) > 150  # spread, not lock-step
    assert stable_jitter("wire", 0) == 1.0


def test_server_hints_lengthen_the_interval_within_bounds():
    now = 1_000_000.0
    res = FetchResult(
        url="u", status=200, headers={"Cache-Control": "public, max-age=3600"}, body=b""
    )
    assert server_hint(res, now) == 3600
    ttl = FetchResult(
        url="u", status=200, headers={}, body=b"<rss><channel><ttl>120</ttl></channel></rss>"
    )
    assert server_hint(ttl, now) == 7200
    j = stable_jitter("s", FS.jitter)
    assert next_interval("s", 900, FS, 3600) == pytest.approx(3600 * j)
    assert next_interval("s", 900, FS, 60) == pytest.approx(900 * j)  # never shorter
    assert next_interval("s", 900, FS, 30 * 86400) == pytest.approx(6 * 3600 * j)  # capped
    err = FetchError("http", "http 429", status=429, headers={"Retry-After": "120"})
    assert server_hint(err, now) == 120
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480.0 - 60) == pytest.approx(
        60
    )
    assert parse_retry_after("soon", now) is None


def test_backoff_doubles_and_is_capped_never_disabled():
    j = stable_jitter("s", FS.jitter)
    got = [backoff_interval("s", 900, n, FS) / j for n in range(1, 8)]
    assert got[:4] == pytest.approx([900, 1800, 3600, 7200])
    assert max(got) == pytest.approx(6 * 3600)


def test_host_gate_limits_concurrency_and_spaces_starts():
    now = [100.0]
    gate = HostGate(concurrency=2, delay=5.0, clock=lambda: now[0])
    assert gate.wait_for("a") == 0
    gate.start("a")
    assert gate.wait_for("a") == pytest.approx(5.0)
    now[0] += 5
    gate.start("a")
    assert gate.wait_for("a") is None  # two in flight
    assert gate.wait_for("b") == 0  # other hosts are not held back
    gate.done("a")
    now[0] += 5
    assert gate.wait_for("a") == 0


def test_fetch_all_keeps_per_host_concurrency_and_hands_results_back_on_the_caller(http_server):
    inflight = {"now": 0, "max": 0}
    lock = threading.Lock()
    release = threading.Event()

    def slow(h):
        with lock:
            inflight["now"] += 1
            inflight["max"] = max(inflight["max"], inflight["now"])
        release.wait(0.2)
        with lock:
            inflight["now"] -= 1
        h.send(200, {"Content-Type": "text/plain"}, b"ok")

    http_server.route("/slow", slow)
    settings = FetchSettings(workers=6, per_host_concurrency=2, per_host_delay=0)
    caller = threading.get_ident()
    seen = []
    with Fetcher(settings) as f:
        jobs = [Job(f"j{i}", http_server.url(f"/slow?i={i}")) for i in range(6)]
        fetch_all(
            f,
            jobs,
            lambda job, out: seen.append((job.key, out, threading.get_ident())),
            settings=settings,
        )
    assert sorted(k for k, _, _ in seen) == [f"j{i}" for i in range(6)]
    assert all(isinstance(o, FetchResult) and tid == caller for _, o, tid in seen)
    assert inflight["max"] <= 2


@pytest.mark.parametrize("concurrency", [1, 4])
def test_one_host_gets_per_host_concurrency_requests_in_flight_at_once(http_server, concurrency):
    # Each response is held until `concurrency` requests are in flight at the
    # server (or a generous deadline passes), so the count at the server is
    # what is asserted: all N in flight together, and never more than N.
    inflight = {"now": 0, "max": 0}
    cond = threading.Condition()

    def slow(h):
        with cond:
            inflight["now"] += 1
            inflight["max"] = max(inflight["max"], inflight["now"])
            cond.notify_all()
            cond.wait_for(lambda: inflight["now"] >= concurrency, timeout=10)
        with cond:
            inflight["now"] -= 1
        h.send(200, {"Content-Type": "text/plain"}, b"ok")

    http_server.route("/held", slow)
    settings = FetchSettings(workers=8, per_host_concurrency=concurrency, per_host_delay=0)
    seen = []
    with Fetcher(settings) as f:
        jobs = [Job(f"j{i}", http_server.url(f"/held?i={i}")) for i in range(2 * concurrency)]
        fetch_all(f, jobs, lambda job, out: seen.append(out), settings=settings)
    assert len(seen) == 2 * concurrency
    assert all(isinstance(o, FetchResult) for o in seen)
    assert inflight["max"] == concurrency


def _monitor(tmp_path, sources, **kw):
    cfg = Config(
        state=tmp_path / "s.db", sources=sources, fetch=FetchSettings(per_host_delay=0), **kw
    )
    return Monitor(cfg, RuleSet([]))


FEED = rss_doc(
    [("a", "Story A", "https://news.example/a"), ("b", "Story B", "https://news.example/b")]
)


def test_unchanged_body_is_not_parsed_again(tmp_path, http_server, monkeypatch):
    url = http_server.add(
        "/nov.xml", FEED, content_type="application/rss+xml"
    )  # no validators at all
    src = SourceConfig(name="nov", kind="rss", url=url)
    mon = _monitor(tmp_path, [src])
    calls = []
    import monitor.polls as service  # where a poll parses

    real = service.parse
    monkeypatch.setattr(
        service, "parse", lambda s, r, known=None: calls.append(1) or real(s, r, known)
    )
    try:
        assert mon.poll(src).new == 2
        second = mon.poll(src)
        assert second.ok and second.not_modified and len(calls) == 1
    finally:
        mon.close()


def test_permanent_redirect_is_remembered_and_a_temporary_one_is_not(tmp_path, http_server):
    http_server.route("/old.xml", redirect("/new.xml", status=301))
    http_server.route("/tmp.xml", redirect("/new.xml", status=302))
    http_server.add("/new.xml", FEED, content_type="application/rss+xml")
    moved = SourceConfig(name="moved", kind="rss", url=http_server.url("/old.xml"))
    temp = SourceConfig(name="temp", kind="rss", url=http_server.url("/tmp.xml"))
    mon = _monitor(tmp_path, [moved, temp])
    try:
        mon.poll(moved)
        mon.poll(temp)
        http_server.clear_log()
        mon.poll(moved)
        mon.poll(temp)
        assert not http_server.requests_to("/old.xml")
        assert len(http_server.requests_to("/tmp.xml")) == 1
        assert mon.store.source_state("moved").permanent_url == http_server.url("/new.xml")
    finally:
        mon.close()
    # A changed URL in the config forgets the old move.
    mon = _monitor(
        tmp_path, [SourceConfig(name="moved", kind="rss", url=http_server.url("/other.xml"))]
    )
    try:
        assert mon.store.source_state("moved").permanent_url is None
    finally:
        mon.close()


def test_next_check_is_persisted_so_a_restart_fires_nothing(tmp_path, http_server):
    url = http_server.add("/f.xml", FEED, content_type="application/rss+xml")
    srcs = [
        SourceConfig(name=f"s{i}", kind="rss", url=url + f"?{i}", interval="1h") for i in range(3)
    ]
    mon = _monitor(tmp_path, srcs)
    try:
        assert len(mon.cycle().polls) == 3
    finally:
        mon.close()
    mon = _monitor(tmp_path, srcs)
    try:
        assert mon.due() == []
        nexts = sorted(mon.store.source_state(s.name).next_check_at for s in srcs)
        assert len(set(nexts)) == 3  # jittered apart
    finally:
        mon.close()


def test_robots_txt_is_honoured_for_pages_only_and_fetched_once_per_host(tmp_path, http_server):
    http_server.add("/robots.txt", "User-agent: *\nDisallow: /\n", content_type="text/plain")
    page = b"<ul><li class=s><a href=/x>Story</a></li></ul>"
    http_server.add("/a.html", page, content_type="text/html")
    http_server.add("/b.html", page, content_type="text/html")
    feed = http_server.add("/f.xml", FEED, content_type="application/rss+xml")
    srcs = [
        SourceConfig(
            name=n, kind="html", url=http_server.url(f"/{n}.html"), select=Select(item="li.s")
        )
        for n in ("a", "b")
    ] + [SourceConfig(name="feed", kind="rss", url=feed)]
    mon = _monitor(tmp_path, srcs)
    try:
        out = {p.source: p for p in mon.cycle().polls}
        assert out["a"].reason == out["b"].reason == "robots"
        assert out["feed"].ok  # a configured feed is not a scraped page
        assert len(http_server.requests_to("/robots.txt")) == 1
        assert not http_server.requests_to("/a.html")
    finally:
        mon.close()


def test_per_source_proxy_is_used(tmp_path, http_server):
    # The loopback server plays the proxy: it receives the absolute URL.
    http_server.route(
        "http://feeds.example.test/rss",
        lambda h: h.send(200, {"Content-Type": "application/rss+xml"}, FEED),
    )
    src = SourceConfig(
        name="via-proxy",
        kind="rss",
        url="http://feeds.example.test/rss",
        proxy=http_server.url("/"),
    )
    mon = _monitor(tmp_path, [src])
    try:
        assert mon.poll(src).new == 2
        assert http_server.requests[-1].path == "http://feeds.example.test/rss"
    finally:
        mon.close()


def test_changed_selectors_read_an_unchanged_page_again(tmp_path, http_server):
    page = b"<ul><li class=a><a href=/1>First story on the page</a></li><li class=b><a href=/2>Other</a></li></ul>"
    url = http_server.add("/list.html", page, content_type="text/html")
    http_server.add("/robots.txt", b"", content_type="text/plain")
    src = SourceConfig(name="list", kind="html", url=url, select=Select(item="li.a"))
    mon = _monitor(tmp_path, [src])
    try:
        assert mon.poll(src).new == 1
        assert mon.poll(src).not_modified  # same body, same settings: not parsed
        changed = SourceConfig(name="list", kind="html", url=url, select=Select(item="li"))
        out = mon.poll(changed)
        assert out.ok and not out.not_modified and out.new == 1
    finally:
        mon.close()


def test_the_body_hash_is_the_one_states_already_hold():
    """A state written before keeps its hashes: an unchanged body stays
    unparsed after an upgrade, whatever the body's size."""
    import hashlib

    from monitor.bodyhash import hash_body

    src = SourceConfig(name="list", kind="rss", url="http://feeds.example.test/rss")
    other = SourceConfig(name="list", kind="rss", url="http://feeds.example.test/rss2")
    for size in (0, 1, 1999, 2000, 2001, 4000, 70001):
        body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        for s in (src, other, src):
            want = hashlib.sha256(s.model_dump_json().encode() + b"\0" + body).hexdigest()
            assert hash_body(s, body) == want
    assert hash_body(src, b"same") != hash_body(other, b"same")


def test_a_cycle_hashes_each_source_of_one_url_with_its_own_settings(
    tmp_path, http_server, monkeypatch
):
    """Bodies are hashed as they are fetched, in a cycle: two sources of
    one URL, told apart by their settings, each keep the hash of theirs, and
    an unchanged body is not parsed again by either."""
    from monitor.bodyhash import hash_body

    url = http_server.add("/one.xml", FEED, content_type="application/rss+xml")  # no validators
    a = SourceConfig(name="a", kind="rss", url=url)
    b = SourceConfig(name="b", kind="rss", url=url, tags=["other"])
    mon = _monitor(tmp_path, [a, b])
    calls = []
    import monitor.polls as polls

    real = polls.parse
    monkeypatch.setattr(
        polls, "parse", lambda s, r, known=None: calls.append(s.name) or real(s, r, known)
    )
    try:
        assert {p.source: p.new for p in mon.cycle(sources=[a, b]).polls} == {"a": 2, "b": 2}
        for src in (a, b):
            assert mon.store.source_state(src.name).body_hash == hash_body(src, FEED)
        again = mon.cycle(sources=[a, b]).polls
        assert all(p.ok and p.not_modified for p in again) and sorted(calls) == ["a", "b"]
    finally:
        mon.close()


def test_robots_txt_of_a_proxied_source_goes_through_its_proxy(tmp_path, http_server):
    """A scraped page behind a proxy: its robots.txt is asked of the proxy
    too, never fetched directly."""
    page = b"<ul><li class=s><a href='/2024/06/01/a-b-c'>A story title here</a></li></ul>"
    http_server.route(
        "http://news.example.test/robots.txt",
        lambda h: h.send(200, {"Content-Type": "text/plain"}, b"User-agent: *\nAllow: /\n"),
    )
    http_server.route(
        "http://news.example.test/list.html",
        lambda h: h.send(200, {"Content-Type": "text/html"}, page),
    )
    src = SourceConfig(
        name="proxied-list",
        kind="html",
        url="http://news.example.test/list.html",
        select=Select(item="li.s"),
        proxy=http_server.url("/"),
    )
    mon = _monitor(tmp_path, [src])
    try:
        assert mon.poll(src).new == 1
        paths = [r.path for r in http_server.requests]
        assert paths == [
            "http://news.example.test/robots.txt",
            "http://news.example.test/list.html",
        ]
    finally:
        mon.close()
