"""The HTTP door, against a loopback server: conditional GET, errors named,
redirects, caps, deadlines, cancellation. No internet."""

from __future__ import annotations

import gzip
import threading
import tracemalloc
import zlib

import pytest
from httpserver import (
    LocalServer,
    compressed_bomb,
    drip,
    free_port,
    gzipped,
    http_date,
    redirect,
    reset,
    stall,
)

import monitor
from monitor.config import FetchSettings
from monitor.fetch import Fetcher, FetchError, FetchResult, default_user_agent

MB = 1024 * 1024


@pytest.fixture
def fetcher():
    f = Fetcher(FetchSettings(connect_timeout=5, read_timeout=5, deadline=10))
    yield f
    f.close()


def test_200_returns_body_headers_and_validators(http_server: LocalServer, fetcher: Fetcher):
    url = http_server.add(
        "/feed.xml",
        b"<rss/>",
        content_type="application/rss+xml",
        headers={"ETag": '"abc"', "Last-Modified": "Fri, 20 Dec 2019 14:35:00 GMT"},
    )
    r = fetcher.get(url)
    assert isinstance(r, FetchResult)
    assert (r.status, r.body, r.url, r.not_modified) == (200, b"<rss/>", url, False)
    assert r.headers["content-type"] == "application/rss+xml"  # case-insensitive
    assert r.headers["CONTENT-TYPE"] == "application/rss+xml"
    assert r.etag == '"abc"'
    assert r.last_modified == "Fri, 20 Dec 2019 14:35:00 GMT"


def test_conditional_get_round_trip(http_server: LocalServer, fetcher: Fetcher):
    lm = http_date(1576852500)
    url = http_server.add_conditional(
        "/c.xml", b"<rss>v1</rss>", etag='W/"v1-17"', last_modified=lm
    )
    first = fetcher.get(url)
    assert first.status == 200 and first.body == b"<rss>v1</rss>"
    first_req = http_server.requests_to("/c.xml")[0]
    assert first_req.headers.get("If-None-Match") is None
    assert first_req.headers.get("If-Modified-Since") is None

    second = fetcher.get(url, etag=first.etag, last_modified=first.last_modified)
    assert second.not_modified and second.status == 304 and second.body == b""
    assert second.etag == 'W/"v1-17"' and second.last_modified == lm
    sent = http_server.requests_to("/c.xml")[1].headers
    assert sent["If-None-Match"] == 'W/"v1-17"'  # verbatim, weak prefix and all
    assert sent["If-Modified-Since"] == lm


def test_changed_etag_gets_full_body(http_server: LocalServer, fetcher: Fetcher):
    url = http_server.add_conditional("/c.xml", b"<rss>v2</rss>", etag='"v2"')
    r = fetcher.get(url, etag='"v1"')
    assert (
        r.status == 200 and not r.not_modified and r.body == b"<rss>v2</rss>" and r.etag == '"v2"'
    )


@pytest.mark.parametrize(
    "status, phrase", [(404, "Not Found"), (503, "Service Unavailable"), (410, "Gone")]
)
def test_http_errors_are_named(
    http_server: LocalServer, fetcher: Fetcher, status: int, phrase: str
):
    url = http_server.add("/x", b"<html>error</html>", status=status, content_type="text/html")
    with pytest.raises(FetchError) as ei:
        fetcher.get(url)
    assert ei.value.reason == "http" and ei.value.status == status
    assert str(ei.value) == f"http {status} {phrase}"


def test_unrouted_path_is_404(http_server: LocalServer, fetcher: Fetcher):
    with pytest.raises(FetchError) as ei:
        fetcher.get(http_server.url("/missing"))
    assert (ei.value.reason, ei.value.status) == ("http", 404)


def test_redirects_are_followed_to_the_final_url(http_server: LocalServer, fetcher: Fetcher):
    final = http_server.add("/new/feed.xml", b"<rss/>", content_type="application/rss+xml")
    http_server.route("/old", redirect("/middle", 301))
    http_server.route("/middle", redirect(final, 302))
    r = fetcher.get(http_server.url("/old"))
    assert r.url == final and r.body == b"<rss/>"
    assert [q.path for q in http_server.requests] == ["/old", "/middle", "/new/feed.xml"]


def test_relative_redirect_is_resolved(http_server: LocalServer, fetcher: Fetcher):
    http_server.add("/a/b/target", b"ok")
    http_server.route("/a/b/start", redirect("target", 307))
    assert fetcher.get(http_server.url("/a/b/start")).url == http_server.url("/a/b/target")


def test_redirect_loop_stops(http_server: LocalServer, fetcher: Fetcher):
    http_server.route("/loop", redirect("/loop"))
    with pytest.raises(FetchError) as ei:
        fetcher.get(http_server.url("/loop"))
    assert ei.value.reason == "redirects"
    assert len(http_server.requests_to("/loop")) == 6  # the first request and five redirects


def test_five_redirects_are_allowed(http_server: LocalServer, fetcher: Fetcher):
    http_server.add("/r5", b"done")
    for i in range(5):
        http_server.route(f"/r{i}", redirect(f"/r{i + 1}"))
    assert fetcher.get(http_server.url("/r0")).body == b"done"


def test_redirect_to_another_scheme_is_invalid(http_server: LocalServer, fetcher: Fetcher):
    http_server.route("/ftp", redirect("ftp://files.example/feed.xml"))
    with pytest.raises(FetchError) as ei:
        fetcher.get(http_server.url("/ftp"))
    assert ei.value.reason == "invalid_url"


def test_gzip_body_is_decompressed(http_server: LocalServer, fetcher: Fetcher):
    page = b"<html>" + b"facial recognition " * 5000 + b"</html>"
    http_server.routes["/gz"] = gzipped(page)
    r = fetcher.get(http_server.url("/gz"))
    assert r.body == page
    assert "gzip" in http_server.requests[-1].headers["Accept-Encoding"]


def test_deflate_body_zlib_or_raw_is_decompressed(http_server: LocalServer, fetcher: Fetcher):
    page = b"data breach " * 1000
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    http_server.add("/zlib", zlib.compress(page), headers={"Content-Encoding": "deflate"})
    http_server.add(
        "/raw", raw.compress(page) + raw.flush(), headers={"Content-Encoding": "deflate"}
    )
    assert fetcher.get(http_server.url("/zlib")).body == page
    assert fetcher.get(http_server.url("/raw")).body == page


def test_multi_member_gzip(http_server: LocalServer, fetcher: Fetcher):
    http_server.add(
        "/mm",
        gzip.compress(b"first ") + gzip.compress(b"second"),
        headers={"Content-Encoding": "gzip"},
    )
    assert fetcher.get(http_server.url("/mm")).body == b"first second"


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_compression_bomb_is_cut_off_without_using_memory(http_server: LocalServer, coding: str):
    # 50 MB of zeros compressed to about 50 KB; the cap is 1 MB.
    http_server.route("/bomb", compressed_bomb(50 * MB, coding))
    f = Fetcher(FetchSettings(max_bytes=1 * MB, deadline=30))
    tracemalloc.start()
    try:
        with pytest.raises(FetchError) as ei:
            f.get(http_server.url("/bomb"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        f.close()
    assert ei.value.reason == "too_large"
    assert str(ei.value) == f"body larger than {1 * MB} bytes"
    assert peak < 8 * MB, f"peak allocation {peak} bytes while reading a capped body"


def test_plain_body_over_cap_is_too_large(http_server: LocalServer):
    http_server.add("/big", b"x" * (2 * MB))
    with Fetcher(FetchSettings(max_bytes=MB)) as f, pytest.raises(FetchError) as ei:
        f.get(http_server.url("/big"))
    assert ei.value.reason == "too_large"


def test_body_at_cap_is_fine(http_server: LocalServer):
    http_server.add("/exact", b"x" * 1000)
    with Fetcher(FetchSettings(max_bytes=1000)) as f:
        assert len(f.get(http_server.url("/exact")).body) == 1000


def test_slow_drip_is_cut_at_the_deadline(http_server: LocalServer):
    # One byte every 0.2 s never trips the 5 s read timeout; only the
    # deadline can end this 20-second body.
    http_server.route("/drip", drip(b"x" * 100, interval=0.2))
    f = Fetcher(FetchSettings(read_timeout=5, deadline=1))
    with pytest.raises(FetchError) as ei:
        f.get(http_server.url("/drip"))
    f.close()
    # left alone, the body would arrive whole and get() would return it
    assert ei.value.reason == "timeout"
    assert str(ei.value) == "deadline of 1 s exceeded"


def _silent_until_closed(closed: list[bool], done: threading.Event, seconds: float = 30.0):
    """Send headers and a few bytes, then wait for the client to close the
    connection: `closed` gets True when it did, False when the server's own
    wait ran out first (the client sat in a blocked read until then)."""

    def handle(h) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Content-Length", "1000")
        h.end_headers()
        h.wfile.write(b"partial")
        h.wfile.flush()
        h.connection.settimeout(seconds)
        try:
            closed.append(h.connection.recv(1) == b"")
        except OSError:  # the wait ran out
            closed.append(False)
        finally:
            done.set()
        h.close_connection = True

    return handle


def test_silent_server_is_cut_at_the_deadline(http_server: LocalServer):
    closed: list[bool] = []
    done = threading.Event()
    http_server.route("/stall", _silent_until_closed(closed, done))
    f = Fetcher(FetchSettings(read_timeout=30, deadline=1))
    with pytest.raises(FetchError) as ei:
        f.get(http_server.url("/stall"))
    f.close()
    assert ei.value.reason == "timeout"
    assert str(ei.value) == "deadline of 1 s exceeded"
    done.wait(60)
    assert closed == [True]  # the watchdog shut the socket; the server did not give up first


def test_read_timeout(http_server: LocalServer):
    # The deadline is far off: only the read timeout can end this fetch,
    # and its message says so (the deadline's would read "deadline of ...").
    http_server.route("/stall", stall(b"", seconds=30))
    with (
        Fetcher(FetchSettings(read_timeout=0.5, deadline=20)) as f,
        pytest.raises(FetchError) as ei,
    ):
        f.get(http_server.url("/stall"))
    assert ei.value.reason == "timeout"
    assert str(ei.value) == "read from 127.0.0.1 timed out: no data for 0.5 s (read_timeout)"


def _stopped_while_fetching(url: str) -> FetchError:
    """The error of a fetch of `url` whose stop event is set 0.3 s in (the
    server holds it far longer than that)."""
    stop = threading.Event()
    f = Fetcher(FetchSettings(read_timeout=30, deadline=60), stop=stop)
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    try:
        with pytest.raises(FetchError) as ei:
            f.get(url)
    finally:
        timer.cancel()
        f.close()
    return ei.value


def test_stop_event_cancels_a_fetch(http_server: LocalServer):
    closed: list[bool] = []
    done = threading.Event()
    http_server.route("/stall", _silent_until_closed(closed, done))
    error = _stopped_while_fetching(http_server.url("/stall"))
    assert error.reason == "cancelled"
    assert str(error) == "fetch cancelled: the service is stopping"
    done.wait(60)
    assert closed == [True]  # the watchdog shut the blocked read


def test_stop_event_already_set(http_server: LocalServer):
    url = http_server.add("/a", b"x")
    stop = threading.Event()
    stop.set()
    with Fetcher(FetchSettings(), stop=stop) as f, pytest.raises(FetchError) as ei:
        f.get(url)
    assert ei.value.reason == "cancelled"
    assert http_server.requests == []


def test_stop_event_between_chunks(http_server: LocalServer):
    http_server.route("/drip", drip(b"x" * 100, interval=0.1, chunk=1))
    stop = threading.Event()
    f = Fetcher(FetchSettings(deadline=60), stop=stop)
    threading.Timer(0.3, stop.set).start()
    with pytest.raises(FetchError) as ei:
        f.get(http_server.url("/drip"))
    f.close()
    assert ei.value.reason == "cancelled"


def test_connection_refused(fetcher: Fetcher):
    with pytest.raises(FetchError) as ei:
        fetcher.get(f"http://127.0.0.1:{free_port()}/feed.xml")
    assert ei.value.reason == "connect" and ei.value.status is None
    assert "refused" in str(ei.value)


def test_connection_reset(http_server: LocalServer, fetcher: Fetcher):
    http_server.route("/rst", reset())
    with pytest.raises(FetchError) as ei:
        fetcher.get(http_server.url("/rst"))
    assert ei.value.reason == "connect"


def test_dns_failure(fetcher: Fetcher):
    # .invalid never resolves (RFC 2606); the resolver answers without the internet.
    with pytest.raises(FetchError) as ei:
        fetcher.get("http://no-such-host.invalid/feed.xml")
    assert ei.value.reason in ("dns", "connect")  # a sandbox without a resolver may refuse instead


def test_tls_error(http_server: LocalServer, fetcher: Fetcher):
    # Speaking TLS to a plain-HTTP port fails in the handshake.
    with pytest.raises(FetchError) as ei:
        fetcher.get(f"https://127.0.0.1:{http_server.port}/")
    assert ei.value.reason == "tls"


@pytest.mark.parametrize(
    "url", ["ftp://files.example/feed", "file:///etc/passwd", "not a url", "http://"]
)
def test_invalid_urls(fetcher: Fetcher, url: str):
    with pytest.raises(FetchError) as ei:
        fetcher.get(url)
    assert ei.value.reason == "invalid_url"


def test_user_agent_is_honest(http_server: LocalServer):
    url = http_server.add("/a", b"x")
    with Fetcher(FetchSettings(contact="https://example.org/monitor")) as f:
        f.get(url)
    ua = http_server.requests[-1].headers["User-Agent"]
    assert ua == f"privacy-monitor/{monitor.__version__} (+https://example.org/monitor)"
    assert default_user_agent(FetchSettings()) == f"privacy-monitor/{monitor.__version__}"
    assert default_user_agent(FetchSettings(user_agent="custom/1.0")) == "custom/1.0"


def test_extra_headers_are_sent(http_server: LocalServer, fetcher: Fetcher):
    url = http_server.add("/a", b"x")
    fetcher.get(url, headers={"Accept-Language": "zh-CN", "X-Api-Key": "k"})
    sent = http_server.requests[-1].headers
    assert sent["Accept-Language"] == "zh-CN" and sent["X-Api-Key"] == "k"


def test_errors_are_one_line(http_server: LocalServer, fetcher: Fetcher):
    http_server.add("/e", b"", status=500)
    with pytest.raises(FetchError) as ei:
        fetcher.get(http_server.url("/e"))
    assert "\n" not in str(ei.value)


def test_fetcher_is_reusable_across_threads(http_server: LocalServer, fetcher: Fetcher):
    for i in range(8):
        http_server.add(f"/p{i}", f"page {i}".encode())
    results: dict[int, bytes] = {}

    def work(i: int) -> None:
        results[i] = fetcher.get(http_server.url(f"/p{i}")).body

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: f"page {i}".encode() for i in range(8)}


def test_server_usable_as_context_manager():
    with LocalServer() as srv:
        url = srv.add("/x", "hello")
        with Fetcher(FetchSettings()) as f:
            assert f.get(url).body == b"hello"


# -- links found in content: public addresses only ----------------------------


def test_content_links_to_loopback_are_refused_at_connect_time(http_server: LocalServer):
    url = http_server.add("/article", b"<p>hi</p>", content_type="text/html")
    with Fetcher(FetchSettings(deadline=5)) as f:
        assert f.get(url).status == 200  # a configured source may live anywhere
        with pytest.raises(FetchError) as ei:
            f.get(url, content_link=True)
        assert ei.value.reason == "blocked_address" and "loopback" in str(ei.value)
        with pytest.raises(FetchError) as ei:
            f.get(url.replace("127.0.0.1", "localhost"), content_link=True)
        assert ei.value.reason == "blocked_address"
    assert len(http_server.requests_to("/article")) == 1  # the refused ones never connected
    with Fetcher(FetchSettings(deadline=5, allow_private_links=True)) as f:
        assert f.get(url, content_link=True).status == 200


def test_every_redirect_hop_of_a_content_link_is_checked(http_server: LocalServer):
    # 127.0.0.1 is allowed here; the redirect goes on to 127.0.0.2 (loopback too,
    # not allowed), as a public page redirecting to an internal address would.
    http_server.route("/jump", redirect(f"http://127.0.0.2:{http_server.port}/internal"))
    http_server.add("/fine", b"ok", content_type="text/plain")
    with Fetcher(FetchSettings(deadline=5, allow_networks=["127.0.0.1/32"])) as f:
        assert f.get(http_server.url("/fine"), content_link=True).body == b"ok"
        with pytest.raises(FetchError) as ei:
            f.get(http_server.url("/jump"), content_link=True)
    assert ei.value.reason == "blocked_address" and "127.0.0.2" in str(ei.value)


@pytest.mark.parametrize(
    "address,kind",
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.9", "private"),
        ("169.254.169.254", "link-local (cloud metadata)"),
        ("100.64.1.1", "shared (carrier NAT)"),
        ("::1", "loopback"),
        ("fd00:ec2::254", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("fe80::1%eth0", "link-local (cloud metadata)"),
        ("0.0.0.0", "reserved"),
        ("93.184.215.14", None),
        ("2606:4700::1111", None),
    ],
)
def test_address_kinds(address, kind):
    from monitor.fetch import address_kind

    assert address_kind(address) == kind


# -- cookies along redirects ---------------------------------------------------


def _cookie_check(target_path: str):
    """The first visit gets a cookie and a redirect back to itself; a visit
    that brings the cookie along is sent on to `target_path`."""

    def handle(h) -> None:
        if "seen=1" in (h.headers.get("Cookie") or ""):
            h.send(302, {"Location": target_path})
        else:
            h.send(302, {"Location": h.path, "Set-Cookie": "seen=1; Path=/"})

    return handle


def test_a_cookie_set_by_a_redirect_goes_to_the_next_hops(http_server: LocalServer):
    http_server.route("/gate", _cookie_check("/feed.xml"))
    http_server.add("/feed.xml", b"<rss/>", content_type="application/rss+xml")
    with Fetcher(FetchSettings(deadline=5)) as f:
        r = f.get(http_server.url("/gate"), headers={"Cookie": "lang=zh"})
        assert r.body == b"<rss/>"
        sent = [q.headers.get("Cookie") for q in http_server.requests]
        assert sent == ["lang=zh", "lang=zh; seen=1", "lang=zh; seen=1"]
        # the cookie lived for that fetch only: the next one starts clean
        http_server.clear_log()
        assert f.get(http_server.url("/gate")).body == b"<rss/>"
        assert http_server.requests[0].headers.get("Cookie") is None


def test_a_redirect_cookie_stays_with_its_host(http_server: LocalServer):
    other = http_server.url("/elsewhere").replace("127.0.0.1", "localhost")
    http_server.route("/set", lambda h: h.send(302, {"Location": other, "Set-Cookie": "k=v"}))
    http_server.add("/elsewhere", b"ok")
    with Fetcher(FetchSettings(deadline=5)) as f:
        assert f.get(http_server.url("/set")).body == b"ok"
    assert http_server.requests_to("/elsewhere")[0].headers.get("Cookie") is None


def test_an_unreadable_ca_bundle_is_named(http_server: LocalServer, monkeypatch, tmp_path):
    missing = tmp_path / "no-such-ca.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(missing))
    with Fetcher(FetchSettings(deadline=5)) as f, pytest.raises(FetchError) as ei:
        f.get(f"https://127.0.0.1:{http_server.port}/feed.xml")
    assert ei.value.reason == "tls"
    assert str(ei.value) == f"cannot read CA certificates from {missing}: No such file or directory"
    assert http_server.requests == []


def test_stop_event_cancels_a_fetch_waiting_for_its_response(http_server: LocalServer):
    """The request is out and the server never answers: the stop event ends
    the wait for the status line too, not only a body read."""
    closed: list[bool] = []
    done = threading.Event()

    def silent(h) -> None:
        h.connection.settimeout(30)
        try:
            closed.append(h.connection.recv(1) == b"")
        except OSError:
            closed.append(False)
        finally:
            done.set()
        h.close_connection = True

    http_server.route("/mute", silent)
    assert _stopped_while_fetching(http_server.url("/mute")).reason == "cancelled"
    done.wait(60)
    assert closed == [True]


def test_read_timeout_counts_the_wait_for_the_status_line(http_server: LocalServer):
    http_server.route("/mute", lambda h: h.stopping.wait(30))
    with (
        Fetcher(FetchSettings(read_timeout=0.5, deadline=20)) as f,
        pytest.raises(FetchError) as ei,
    ):
        f.get(http_server.url("/mute"))
    assert str(ei.value) == "read from 127.0.0.1 timed out: no data for 0.5 s (read_timeout)"


def test_an_http_1_0_server_and_a_garbage_reply(http_server: LocalServer, fetcher: Fetcher):
    def old(h) -> None:
        h.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nfrom 1996")
        h.close_connection = True

    def garbage(h) -> None:
        h.wfile.write(b"\x00\x17 not http at all\r\n\r\n")
        h.close_connection = True

    http_server.route("/old", old)
    http_server.route("/garbage", garbage)
    assert fetcher.get(http_server.url("/old")).body == b"from 1996"  # read to the close
    with pytest.raises(FetchError) as ei:
        fetcher.get(http_server.url("/garbage"))
    assert ei.value.reason == "connect" and "\n" not in str(ei.value)


def test_urls_with_spaces_and_text_outside_ascii_are_sent_encoded(
    http_server: LocalServer, fetcher: Fetcher
):
    http_server.add("/%E6%96%B0%E9%97%BB/a%20b.xml", b"<rss/>")
    assert fetcher.get(http_server.url("/新闻/a b.xml")).body == b"<rss/>"
    assert http_server.requests[-1].path == "/%E6%96%B0%E9%97%BB/a%20b.xml"


def test_credentials_in_the_url_become_basic_authorization(
    http_server: LocalServer, fetcher: Fetcher
):
    import base64

    url = http_server.add("/private.xml", b"<rss/>")
    fetcher.get(url.replace("http://", "http://desk:p%40ss@"))
    sent = http_server.requests[-1].headers["Authorization"]
    assert sent == "Basic " + base64.b64encode(b"desk:p@ss").decode()


def test_a_redirect_body_is_never_waited_for(http_server: LocalServer):
    """A 302 that promises a body and then goes silent: the redirect is
    followed at once (waiting for that body would run into the deadline)."""

    def promise(h) -> None:
        h.send_response(302)
        h.send_header("Location", "/there")
        h.send_header("Content-Length", "1000")
        h.end_headers()
        h.wfile.flush()
        h.stopping.wait(30)
        h.close_connection = True

    http_server.route("/here", promise)
    http_server.add("/there", b"arrived")
    with Fetcher(FetchSettings(read_timeout=30, deadline=5)) as f:
        assert f.get(http_server.url("/here")).body == b"arrived"


def _tls_server(tmp_path):
    """An https server on loopback with a self-signed certificate for
    127.0.0.1 (made by the openssl command), and that certificate's path."""
    import shutil
    import ssl
    import subprocess
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "14")
            self.end_headers()
            self.wfile.write(b"<rss>tls</rss>")

        def log_message(self, *args) -> None:
            pass

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, cert


def test_https_is_verified_against_the_ca_file_or_folder_named(tmp_path, monkeypatch):
    import shutil
    import subprocess

    server, cert = _tls_server(tmp_path)
    url = f"https://127.0.0.1:{server.server_address[1]}/feed.xml"
    try:
        monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
        monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
        with Fetcher(FetchSettings(deadline=10)) as f, pytest.raises(FetchError) as ei:
            f.get(url)  # certifi's bundle does not hold this certificate
        assert ei.value.reason == "tls"
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
        with Fetcher(FetchSettings(deadline=10)) as f:
            assert f.get(url).body == b"<rss>tls</rss>"
        folder = tmp_path / "certs"
        folder.mkdir()
        digest = subprocess.run(
            ["openssl", "x509", "-hash", "-noout", "-in", str(cert)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        shutil.copy(cert, folder / f"{digest}.0")  # the name a CA folder looks certificates up by
        monkeypatch.delenv("REQUESTS_CA_BUNDLE")
        monkeypatch.setenv("CURL_CA_BUNDLE", str(folder))
        with Fetcher(FetchSettings(deadline=10)) as f:
            assert f.get(url).body == b"<rss>tls</rss>"
    finally:
        server.shutdown()
        server.server_close()
