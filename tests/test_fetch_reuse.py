"""Connections and proxies: a 304 or a 200 leaves its connection in the
pool for the next poll of the host, as many connections stay pooled as
there are fetch threads, and the proxy settings of the environment are
honoured (looked up once per origin), NO_PROXY and proxy credentials too."""

from __future__ import annotations

import os

import pytest
from httpserver import LocalServer
from socksproxy import SocksProxy

from monitor.config import FetchSettings
from monitor.fetch import Fetcher, FetchError


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


def test_a_200_leaves_its_connection_in_the_pool_too(http_server):
    ports: list[int] = []
    url = http_server.route(
        "/d.xml", _counting(b"<rss>" + b"x" * 100_000 + b"</rss>", '"d"', ports)
    )
    with Fetcher(FetchSettings(per_host_delay=0)) as f:
        for _ in range(3):
            assert f.get(url).status == 200
    assert len(ports) == 3 and len(set(ports)) == 1, ports


def test_every_fetch_thread_keeps_its_connection_to_a_host(http_server):
    """With `workers` fetches in flight to one host, every connection goes
    back to the pool: the next round of as many fetches opens none."""
    import threading

    workers = 12
    ports: list[int] = []
    lock = threading.Lock()
    gate = threading.Barrier(workers, timeout=20)

    def handler(h):
        with lock:
            ports.append(h.client_address[1])
        gate.wait()  # all `workers` requests are in flight at once
        h.send(200, {"Content-Type": "text/plain"}, b"ok")

    url = http_server.route("/w", handler)
    with Fetcher(FetchSettings(per_host_delay=0, workers=workers)) as f:
        for _ in range(2):
            threads = [threading.Thread(target=f.get, args=(url,)) for _ in range(workers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    assert len(ports) == 2 * workers
    assert len(set(ports)) == workers


def test_no_proxy_names_hosts_domains_ports_and_networks(monkeypatch):
    """NO_PROXY entries match a host, its subdomains, host:port, or a
    network of literal addresses; a name that merely ends the same way
    (badexample.invalid for example.invalid) still goes through the proxy."""
    with LocalServer() as proxy:
        for url in (
            "http://feeds.example.invalid/a",
            "http://badexample.invalid/b",
            "http://wire.invalid:8080/c",
            "http://wire.invalid/d",
            "http://10.1.2.3/e",
        ):
            proxy.route(url, (200, {}, b"via proxy"))
        monkeypatch.setenv("HTTP_PROXY", proxy.url("").rstrip("/"))
        monkeypatch.setenv("NO_PROXY", "example.invalid, wire.invalid:8080,127.0.0.0/8")
        with LocalServer() as direct:
            here = direct.add("/here", b"direct")
            with Fetcher(FetchSettings(per_host_delay=0, connect_timeout=2, deadline=5)) as f:
                assert f.get(here).body == b"direct"  # 127.0.0.1 is inside 127.0.0.0/8
                for url in (
                    "http://badexample.invalid/b",
                    "http://wire.invalid/d",
                    "http://10.1.2.3/e",
                ):
                    assert f.get(url).body == b"via proxy"
                for url in ("http://feeds.example.invalid/a", "http://wire.invalid:8080/c"):
                    with pytest.raises(FetchError) as ei:  # direct: these names do not resolve
                        f.get(url)
                    assert ei.value.reason in ("dns", "connect", "timeout")
    assert sorted(r.path for r in proxy.requests) == [
        "http://10.1.2.3/e",
        "http://badexample.invalid/b",
        "http://wire.invalid/d",
    ]


def test_a_proxy_url_with_credentials_authenticates(http_server):
    import base64

    with LocalServer() as proxy:
        proxy.route("http://feeds.example/p.xml", (200, {}, b"<rss/>"))
        address = proxy.url("").rstrip("/").replace("http://", "http://ops:s%3Acret@")
        with Fetcher(FetchSettings(per_host_delay=0)) as f:
            assert f.get("http://feeds.example/p.xml", proxy=address).body == b"<rss/>"
        sent = proxy.requests[-1].headers["Proxy-Authorization"]
    assert sent == "Basic " + base64.b64encode(b"ops:s:cret").decode()


def test_socks5_proxies_with_credentials_carry_the_fetch(http_server):
    """socks5h:// hands the name to the proxy to resolve; socks5:// resolves
    it here and hands over the address. Credentials in the proxy URL are
    percent-decoded, as in an http:// proxy URL."""
    url = http_server.add("/s.xml", b"<rss>via socks</rss>")
    named = url.replace("127.0.0.1", "feeds.example")
    with SocksProxy("ops", "s:cret", names={"feeds.example": "127.0.0.1"}) as socks:
        with Fetcher(FetchSettings(per_host_delay=0, deadline=10)) as f:
            assert f.get(named, proxy=socks.url("socks5h", "ops:s%3Acret")).body == (
                b"<rss>via socks</rss>"
            )
            assert f.get(url, proxy=socks.url("socks5", "ops:s%3Acret")).body == (
                b"<rss>via socks</rss>"
            )
            with pytest.raises(FetchError) as ei:
                f.get(url, proxy=socks.url("socks5", "ops:wrong"))
        assert ei.value.reason == "connect" and "wrong" not in str(ei.value)
        assert socks.connects == [
            ("feeds.example", http_server.port),
            ("127.0.0.1", http_server.port),
        ]
        assert socks.logins == [("ops", "s:cret"), ("ops", "s:cret"), ("ops", "wrong")]
    assert len(http_server.requests_to("/s.xml")) == 2


def test_libcurl_reads_no_proxy_of_its_own(monkeypatch, http_server):
    """A source's proxy is used even for a host the environment's NO_PROXY
    names (NO_PROXY is about the environment's proxies), and lower-case
    http_proxy is not read by libcurl behind the fetcher's back."""
    with LocalServer() as proxy:
        proxy.route("http://feeds.example/n.xml", (200, {}, b"<rss>proxied</rss>"))
        monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # nothing listens there
        monkeypatch.setenv("no_proxy", "feeds.example")
        with Fetcher(FetchSettings(per_host_delay=0)) as f:
            via = proxy.url("").rstrip("/")
            assert f.get("http://feeds.example/n.xml", proxy=via).body == b"<rss>proxied</rss>"
    assert [r.path for r in proxy.requests] == ["http://feeds.example/n.xml"]


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"HTTP_PROXY": "http://up:1", "https_proxy": "http://low:2"},
        {"HTTP_PROXY": "http://up:1", "http_proxy": "http://low:2"},
        {"HTTPS_PROXY": "http://up:1", "https_proxy": ""},  # an empty lower-case one unsets
        {"HTTP_PROXY": "http://cgi:1", "REQUEST_METHOD": "GET", "ALL_PROXY": "socks5://s:3"},
        {"http_proxy": "http://cgi:1", "REQUEST_METHOD": "GET"},  # lower case is kept under CGI
        {"No_Proxy": "a.example", "NO_PROXY": "b.example", "PATH": "/bin"},
    ],
)
def test_proxy_variables_are_read_as_the_standard_library_reads_them(environ):
    import urllib.request

    from monitor.fetch.pools import proxy_variables

    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            mp.delenv(name)
        for name, value in environ.items():
            mp.setenv(name, value)
        expected = urllib.request.getproxies_environment()
    assert proxy_variables(environ) == expected
