"""A batch of fetches on one thread (fetch/multi.py), and fetch_all on it:
the same answers as a blocking get, its limits, and its hand-off to the
caller."""

from __future__ import annotations

import threading

import pytest
from httpserver import free_port, redirect, stall

from monitor.config import FetchSettings
from monitor.fetch import Fetcher, FetchError, FetchResult
from monitor.fetchall import Job, fetch_all


def run(batch, jobs: dict[str, tuple[str, dict]], limit: int = 400) -> dict:
    """Add every job, wait until all have ended; their outcomes by key."""
    for key, (url, kw) in jobs.items():
        batch.add(key, url, **kw)
    got: dict = {}
    for _ in range(limit):
        for key, out in batch.wait(0.05):
            got[key] = out
        if len(got) == len(jobs):
            return got
    raise AssertionError(f"not all fetches ended: {sorted(got)}")


def test_a_batch_answers_as_a_blocking_get_does(http_server):
    http_server.add("/feed.xml", b"<rss/>", content_type="application/rss+xml")
    http_server.add_conditional("/c.xml", b"<rss>c</rss>", etag='"v1"')
    http_server.route("/old", redirect("/feed.xml", status=301))
    http_server.add("/gone", b"no such page", status=404)
    refused = f"http://127.0.0.1:{free_port()}/feed.xml"
    jobs = {
        "plain": (http_server.url("/feed.xml"), {}),
        "same": (http_server.url("/c.xml"), {"etag": '"v1"'}),
        "moved": (http_server.url("/old"), {}),
        "gone": (http_server.url("/gone"), {}),
        "refused": (refused, {}),
    }
    with Fetcher(FetchSettings(per_host_delay=0)) as f:
        got = run(f.batch(), jobs)
        for key, (url, kw) in jobs.items():  # the blocking get, on the same URLs
            try:
                want: FetchResult | FetchError = f.get(url, **kw)
            except FetchError as e:
                want = e
            out = got[key]
            assert type(out) is type(want), key
            if isinstance(want, FetchResult):
                assert isinstance(out, FetchResult)
                assert (out.status, out.body, out.not_modified, out.permanent_url) == (
                    want.status,
                    want.body,
                    want.not_modified,
                    want.permanent_url,
                ), key
            else:
                assert isinstance(out, FetchError)
                assert (out.reason, out.status) == (want.reason, want.status), key
    assert got["plain"].body == b"<rss/>"
    assert got["same"].not_modified
    assert got["moved"].permanent_url == http_server.url("/feed.xml")
    assert got["gone"].reason == "http" and got["gone"].status == 404
    assert got["refused"].reason == "connect"


def test_a_silent_server_ends_its_fetch_alone_after_read_timeout(http_server):
    http_server.route("/silent", stall(b"<rss>", seconds=20))
    http_server.add("/feed.xml", b"<rss/>", content_type="application/rss+xml")
    settings = FetchSettings(per_host_delay=0, read_timeout=0.5, deadline=15)
    with Fetcher(settings) as f:
        got = run(
            f.batch(),
            {"silent": (http_server.url("/silent"), {}), "ok": (http_server.url("/feed.xml"), {})},
        )
    assert isinstance(got["ok"], FetchResult) and got["ok"].body == b"<rss/>"
    silent = got["silent"]
    assert isinstance(silent, FetchError) and silent.reason == "timeout"
    assert "read_timeout" in str(silent)


def test_the_stop_event_cancels_a_batch_in_flight(http_server):
    # Headers only, then silence: no callback of libcurl's sees the stop
    # event, so the batch's own check must end the fetch.
    http_server.route("/silent", stall(b"", seconds=20))
    stop = threading.Event()
    with Fetcher(FetchSettings(per_host_delay=0, read_timeout=20), stop=stop) as f:
        batch = f.batch()
        batch.add("silent", http_server.url("/silent"))
        for _ in range(10):
            assert batch.wait(0.05) == []  # under way, and silent
        stop.set()
        got: dict = {}
        for _ in range(100):
            got.update(batch.wait(0.05))
            if got:
                break
    assert got["silent"].reason == "cancelled"


def test_a_link_found_in_content_is_refused_on_a_private_address(http_server):
    http_server.add("/page", b"<p>hi</p>", content_type="text/html")
    with Fetcher(FetchSettings(per_host_delay=0)) as f:
        got = run(f.batch(), {"link": (http_server.url("/page"), {"content_link": True})})
    assert got["link"].reason == "blocked_address"
    assert not http_server.requests_to("/page")


def test_fetch_all_waits_while_its_caller_is_behind(http_server):
    # The caller handles results slowly: the fetch thread may not run ahead
    # of it by more than its hand-off holds (workers results) plus the
    # fetches in flight, however many jobs are waiting.
    http_server.add("/feed.xml", b"<rss/>", content_type="application/rss+xml")
    settings = FetchSettings(workers=2, per_host_concurrency=2, per_host_delay=0)
    ahead = []
    handled = threading.Event()

    def on_result(job, out):
        assert isinstance(out, FetchResult)
        handled.wait(0.05)  # slow handling, by waiting (no clock asserted)
        ahead.append(len(http_server.requests_to("/feed.xml")) - len(ahead) - 1)

    with Fetcher(settings) as f:
        jobs = [Job(f"j{i}", http_server.url(f"/feed.xml?i={i}")) for i in range(30)]
        fetch_all(f, jobs, on_result, settings=settings)
    assert len(ahead) == 30
    assert max(ahead) <= 2 + 2  # the hand-off's two, and two in flight


def test_fetch_all_stops_fetching_when_the_caller_fails(http_server):
    http_server.add("/feed.xml", b"<rss/>", content_type="application/rss+xml")
    settings = FetchSettings(workers=2, per_host_concurrency=2, per_host_delay=0)

    def on_result(job, out):
        raise RuntimeError("the store went away")

    with Fetcher(settings) as f:
        jobs = [Job(f"j{i}", http_server.url(f"/feed.xml?i={i}")) for i in range(50)]
        with pytest.raises(RuntimeError, match="store went away"):
            fetch_all(f, jobs, on_result, settings=settings)
    assert len(http_server.requests_to("/feed.xml")) < 50
