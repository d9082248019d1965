"""Connections and the proxy environment: a 304 leaves its connection in
the pool for the next poll of the host, and the proxy settings of the
environment are honoured (looked up once per origin)."""

from __future__ import annotations

from httpserver import LocalServer

from monitor.config import FetchSettings
from monitor.fetch import Fetcher


def _counting(body: bytes, etag: str, ports: list[int]):
    def handler(h):
        ports.append(h.client_address[1])  # one client port per connection
        if h.headers.get("If-None-Match") == etag:
            h.send(304, {"ETag": etag})
        else:
            h.send(200, {"Content-Type": "application/rss+xml", "ETag": etag}, body)

    return handler


def test_polls_answered_304_reuse_one_connection(http_server):
    ports: list[int] = []
    url = http_server.route("/c.xml", _counting(b"<rss/>", '"v1"', ports))
    with Fetcher(FetchSettings(per_host_delay=0)) as f:
        first = f.get(url)
        assert first.status == 200 and first.etag == '"v1"'
        for _ in range(4):
            again = f.get(url, etag=first.etag)
            assert again.not_modified and again.status == 304
    assert len(ports) == 5
    assert len(set(ports)) == 1, ports


def test_the_proxy_environment_is_honoured_and_no_proxy_goes_direct(monkeypatch, http_server):
    direct = http_server.add("/direct.xml", b"<rss>direct</rss>", content_type="application/xml")
    with LocalServer() as proxy:
        # A proxy sees the absolute URL in the request line.
        proxy.route("http://feeds.example/via.xml", (200, {}, b"<rss>proxied</rss>"))
        monkeypatch.setenv("HTTP_PROXY", proxy.url("/").rstrip("/"))
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        with Fetcher(FetchSettings(per_host_delay=0)) as f:
            for _ in range(2):  # the second answer comes from the remembered lookup
                assert f.get("http://feeds.example/via.xml").body == b"<rss>proxied</rss>"
                assert f.get(direct).body == b"<rss>direct</rss>"
        assert [r.path for r in proxy.requests] == ["http://feeds.example/via.xml"] * 2
        assert len(http_server.requests_to("/direct.xml")) == 2
