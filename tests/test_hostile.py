"""Hostile servers on loopback: every case is one source among many in the
same service cycle, run once through the lxml fast path and once through
feedparser alone. None may crash the service or stop the others being
polled, and each failure must carry its name."""

from __future__ import annotations

import codecs
import socket
import struct
import time

import pytest
from httpserver import (
    LocalServer,
    compressed_bomb,
    drip,
    free_port,
    redirect,
    reset,
    stall,
)

from monitor.config import (
    Config,
    FetchSettings,
    HealthSettings,
    JsonPaths,
    Select,
    SourceConfig,
)
from monitor.engine import RuleSet
from monitor.identity import MAX_STORIES
from monitor.service import Monitor
from monitor.sources import rss

MB = 1024 * 1024


def rss_doc(
    items: list[tuple[str, str, str]],
    *,
    decl: str = '<?xml version="1.0" encoding="utf-8"?>',
    extra_channel: str = "",
) -> bytes:
    parts = [
        decl,
        '<rss version="2.0"><channel><title>Wire</title><link>https://wire.example/</link>',
        extra_channel,
    ]
    for guid, title, link in items:
        link_el = f"<link>{link}</link>" if link is not None else ""
        guid_el = f'<guid isPermaLink="false">{guid}</guid>' if guid else ""
        parts.append(
            f"<item><title>{title}</title>{link_el}{guid_el}"
            f"<description>Text of {title}.</description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


GOOD = rss_doc(
    [
        ("g1", "Council votes on camera register", "https://wire.example/a/1"),
        ("g2", "Regulator fines app maker", "https://wire.example/a/2"),
    ]
)

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
 <!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
]>
<rss version="2.0"><channel><title>t</title><item><title>&f;</title><link>https://x.example/1</link></item></channel></rss>"""

XXE_FILE = b"""<?xml version="1.0"?>
<!DOCTYPE rss [ <!ENTITY secret SYSTEM "file:///etc/passwd"> ]>
<rss version="2.0"><channel><title>t</title><item><title>leak &secret;</title><link>https://x.example/1</link></item></channel></rss>"""

ERROR_PAGE = (
    b"<!DOCTYPE html><html><head><title>Service unavailable</title></head><body>"
    b"<h1>We'll be right back</h1><p>The site is down for maintenance.</p></body></html>"
)

BOT_PAGE = (
    b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>"
    b'<div id="challenge-platform">Checking your browser before accessing the site.</div></body></html>'
)


def endless(content_length: str | None = None, content_type: str = "application/rss+xml"):
    """Headers, then zero bytes for as long as the client reads (a 1 GB body)."""

    def handle(h):
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        if content_length:
            h.send_header("Content-Length", content_length)
        h.end_headers()
        block = b"<" * 65536
        sent = 0
        while sent < 1024 * MB and not h.stopping.is_set():
            h.wfile.write(block)
            sent += len(block)
        h.close_connection = True

    return handle


def reset_mid_body(body: bytes):
    def handle(h):
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        h.send_header("Content-Length", str(len(body) * 4))
        h.end_headers()
        h.wfile.write(body[: len(body) // 2])
        h.wfile.flush()
        time.sleep(0.05)
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.connection.close()
        h.close_connection = True

    return handle


def build_cases(srv: LocalServer) -> dict[str, tuple[SourceConfig, object]]:
    """name -> (source, expectation). An expectation is a failure reason, or
    a callable check(outcome, monitor) for cases that must succeed."""
    cases: dict[str, tuple[SourceConfig, object]] = {}

    def rss_src(name: str, path: str, **kw) -> SourceConfig:
        return SourceConfig(name=name, kind="rss", url=srv.url(path), interval="15m", **kw)

    def add(name: str, path: str, route, expect, **kw) -> None:
        srv.route(path, route)
        cases[name] = (rss_src(name, path, **kw), expect)

    rssct = {"Content-Type": "application/rss+xml"}
    add("xml_bomb", "/bomb.xml", (200, rssct, BILLION_LAUGHS), "parse_error")
    add("external_entity", "/xxe.xml", (200, rssct, XXE_FILE), "parse_error")
    add(
        "gzip_bomb",
        "/gzbomb.xml",
        compressed_bomb(64 * MB, content_type="application/rss+xml"),
        "too_large",
    )
    add("one_gb_declared", "/gb-declared.xml", endless(str(1024 * MB)), "too_large")
    add("one_gb_streamed", "/gb-streamed.xml", endless(None), "too_large")
    add(
        "slow_drip",
        "/drip.xml",
        drip(GOOD, interval=0.2, content_type="application/rss+xml"),
        "timeout",
    )
    add("silent_after_headers", "/stall.xml", stall(b"<rss>", seconds=30), "timeout")
    add("redirect_loop", "/loop-a", redirect("/loop-b"), "redirects")
    srv.route("/loop-b", redirect("/loop-a"))
    for i in range(7):
        srv.route(f"/hop{i}", redirect(f"/hop{i + 1}"))
    srv.add("/hop7", GOOD, content_type="application/rss+xml")
    cases["too_many_redirects"] = (rss_src("too_many_redirects", "/hop0"), "redirects")
    add("redirect_to_other_scheme", "/to-ftp", redirect("ftp://127.0.0.1/feed.xml"), "invalid_url")
    add(
        "html_error_page_as_feed",
        "/error.xml",
        (200, {"Content-Type": "application/rss+xml"}, ERROR_PAGE),
        "not_a_feed",
    )
    add("empty_200", "/empty.xml", (200, rssct, b""), "not_a_feed")
    add("whitespace_200", "/blank.xml", (200, rssct, b"\n\n   \n"), "not_a_feed")
    add(
        "json_garbage",
        "/garbage.json",
        (200, {"Content-Type": "application/json"}, b'{"items": 5'),
        "not_a_feed",
    )
    add(
        "http_429_retry_after",
        "/429.xml",
        (429, {"Retry-After": "7200", "Content-Type": "text/plain"}, b"slow down"),
        "http",
    )
    add("http_503", "/503.xml", (503, {"Content-Type": "text/html"}, ERROR_PAGE), "http")
    add("http_404", "/gone.xml", (404, {"Content-Type": "text/html"}, b"not here"), "http")
    add(
        "bot_wall_403",
        "/cf.xml",
        (
            403,
            {"Content-Type": "text/html", "Server": "cloudflare", "cf-mitigated": "challenge"},
            BOT_PAGE,
        ),
        "bot_wall",
    )
    add(
        "bot_wall_200", "/challenge.xml", (200, {"Content-Type": "text/html"}, BOT_PAGE), "bot_wall"
    )
    add("reset_mid_body", "/reset-mid.xml", reset_mid_body(GOOD), "connect")
    add("reset_before_response", "/reset.xml", reset(), "connect")
    add(
        "bad_gzip",
        "/badgz.xml",
        (200, {**rssct, "Content-Encoding": "gzip"}, b"this is not gzip at all"),
        "http",
    )
    nested = (
        b'<?xml version="1.0"?><rss version="2.0"><channel>'
        + b"<x>" * 100_000
        + b"</channel></rss>"
    )
    add(
        "nested_100k_deep",
        "/deep.xml",
        (200, rssct, nested),
        lambda o, m: not o.ok and o.reason in ("parse_error", "not_a_feed"),
    )
    cases["connection_refused"] = (
        SourceConfig(
            name="connection_refused", kind="rss", url=f"http://127.0.0.1:{free_port()}/feed.xml"
        ),
        "connect",
    )
    cases["dns_failure"] = (
        SourceConfig(name="dns_failure", kind="rss", url="http://feeds.no-such-host.invalid/rss"),
        "dns",
    )
    cases["tls_to_plain_http"] = (
        SourceConfig(
            name="tls_to_plain_http", kind="rss", url=f"https://127.0.0.1:{srv.port}/feed.xml"
        ),
        "tls",
    )

    # Cases that must succeed, read right.
    def stories(m: Monitor, name: str) -> list:
        return list(
            m.store.db.execute(
                "SELECT title, link, key FROM stories WHERE source=? ORDER BY id", (name,)
            )
        )

    dup = rss_doc(
        [
            ("same", "First story", "https://wire.example/d/1"),
            ("same", "Second story", "https://wire.example/d/2"),
            ("same", "Third story", "https://wire.example/d/3"),
        ]
    )
    add(
        "duplicate_guids",
        "/dups.xml",
        (200, rssct, dup),
        lambda o, m: o.ok and len(stories(m, "duplicate_guids")) == 3,
    )
    rel = rss_doc(
        [
            ("r1", "Relative link", "/news/relative-1"),
            ("r2", "No link", None),
            ("r3", "Protocol-relative", "//wire.example/p/3"),
        ]
    )

    def rel_ok(o, m):
        got = {r["title"]: r["link"] for r in stories(m, "relative_and_missing_links")}
        return (
            o.ok
            and got["Relative link"] == srv.url("/news/relative-1")
            and got["No link"] == ""
            and got["Protocol-relative"] == "http://wire.example/p/3"
        )

    add("relative_and_missing_links", "/rel.xml", (200, rssct, rel), rel_ok)
    many = rss_doc(
        [(f"id-{i}", f"Item number {i}", f"https://wire.example/m/{i}") for i in range(10_000)]
    )
    add(
        "ten_thousand_items",
        "/many.xml",
        (200, rssct, many),
        # capped per document; undated items are kept from the top, where feeds put the newest
        lambda o, m: (
            o.ok
            and o.new == MAX_STORIES
            and "Item number 0" in {s["title"] for s in stories(m, "ten_thousand_items")}
        ),
    )
    zh_title = "人脸识别系统进入小区"
    missing = rss_doc([("z1", zh_title, "https://wire.example/zh/1")], decl="")
    add(
        "missing_charset",
        "/nocharset.xml",
        (200, {"Content-Type": "text/xml"}, missing),
        lambda o, m: o.ok and stories(m, "missing_charset")[0]["title"] == zh_title,
    )
    gbk = rss_doc(
        [("c1", "PLACEHOLDER", "https://wire.example/zh/2")],
        decl='<?xml version="1.0" encoding="gb2312"?>',
    ).replace(b"PLACEHOLDER", "镕基人脸识别".encode("gbk"))
    add(
        "gb2312_label_gbk_bytes",
        "/gbk.xml",
        (200, {"Content-Type": "application/rss+xml"}, gbk),
        lambda o, m: o.ok and stories(m, "gb2312_label_gbk_bytes")[0]["title"] == "镕基人脸识别",
    )
    latin = rss_doc([("w1", "Caf\u00e9 cameras", "https://wire.example/w/1")])
    add(
        "wrong_charset_header",
        "/wrong.xml",
        (200, {"Content-Type": "application/rss+xml; charset=iso-8859-1"}, latin),
        lambda o, m: o.ok and len(stories(m, "wrong_charset_header")) == 1,
    )
    bad_utf8 = rss_doc([("u1", "Broken BYTES here", "https://wire.example/u/1")]).replace(
        b"BYTES", b"\xff\xfe\xc3"
    )
    add(
        "invalid_utf8",
        "/badutf8.xml",
        (200, rssct, bad_utf8),
        lambda o, m: o.ok and "Broken" in stories(m, "invalid_utf8")[0]["title"],
    )
    truncated = GOOD[: GOOD.index(b"<item>", GOOD.index(b"<item>") + 1) + 30]
    add(
        "truncated_feed",
        "/trunc.xml",
        (200, rssct, truncated),
        lambda o, m: o.ok and len(stories(m, "truncated_feed")) >= 1,
    )
    ext_dtd = GOOD.replace(
        b"<rss", b'<!DOCTYPE rss SYSTEM "' + srv.url("/evil.dtd").encode() + b'"><rss', 1
    )
    add(
        "external_dtd_not_loaded",
        "/extdtd.xml",
        (200, rssct, ext_dtd),
        lambda o, m: o.ok and not srv.requests_to("/evil.dtd"),
    )
    hostile_text = rss_doc(
        [
            (
                "h1",
                "&lt;script&gt;alert(1)&lt;/script&gt; \u202eevil\u202c title",
                "javascript:alert(1)",
            )
        ]
    )
    add("script_and_bidi_in_title", "/script.xml", (200, rssct, hostile_text), lambda o, m: o.ok)

    add(
        "redirect_to_private_address",
        "/fulltext.xml",
        (200, rssct, rss_doc([("ft1", "First", "https://wire.example/ft/1")])),
        lambda o, m: o.ok,
        full_text=True,
    )

    # A listing page whose selectors find nothing, and one robots.txt forbids.
    srv.add(
        "/listing/", b"<html><body><p>Redesigned page</p></body></html>", content_type="text/html"
    )
    cases["selector_found_nothing"] = (
        SourceConfig(
            name="selector_found_nothing",
            kind="html",
            url=srv.url("/listing/"),
            select=Select(item="li.story"),
        ),
        "selector_empty",
    )
    # Poison characters: one story carrying them must not fail its source.
    poison = rss_doc(
        [
            ("p1", "Surrogate &#xD800; in a title", "https://wire.example/p/1"),
            ("p2", "Controls \x01\x1b and &#0; &#x1F; here", "https://wire.example/p/2"),
            ("p3", "A plain story beside them", "https://wire.example/p/3"),
        ]
    )

    def clean_titles(name: str):
        def check(o, m) -> bool:
            titles = [r["title"] for r in stories(m, name)]
            return (
                o.ok
                and len(titles) == 3
                and titles[0] == "Surrogate in a title"
                and titles[1] == "Controls and here"
            )

        return check

    add("poison_characters", "/poison.xml", (200, rssct, poison), clean_titles("poison_characters"))
    extreme_doc = rss_doc(
        [(f"x{i}", f"Out of range {i}", f"https://wire.example/x/{i}") for i in range(3)]
    )
    for i, d in enumerate(
        [
            b"9999-12-31T23:59:59-05:00",
            b"Fri, 31 Dec 9999 23:59:59 -2359",
            b"0001-01-01T00:00:00+23:59",
        ]
    ):
        extreme_doc = extreme_doc.replace(
            f"<description>Text of Out of range {i}.</description>".encode(),
            b"<description>t</description><pubDate>" + d + b"</pubDate>",
        )
    add(
        "extreme_dates",
        "/extreme.xml",
        (200, rssct, extreme_doc),
        lambda o, m: o.ok and o.new == 3,
    )
    json_poison = (
        b'{"version": "https://jsonfeed.org/version/1.1", "items": ['
        b'{"id": "j1", "title": "Lone \\ud800 surrogate", "url": "https://wire.example/j/1",'
        b' "date_published": "9999-12-31T23:59:59-05:00"},'
        b'{"id": "j2", "title": "NUL \\u0000 inside", "url": "https://wire.example/j/2"}]}'
    )
    add(
        "json_feed_poison",
        "/poison.json",
        (200, {"Content-Type": "application/feed+json"}, json_poison),
        lambda o, m: (
            o.ok
            and [r["title"] for r in stories(m, "json_feed_poison")]
            == ["Lone surrogate", "NUL inside"]
        ),
    )
    srv.route(
        "/poison-api.json",
        (
            200,
            {"Content-Type": "application/json"},
            b'{"data": [{"h": "Api \\udfff story", "u": "https://wire.example/api/1",'
            b' "d": "0001-01-01T00:00:00+23:59"}]}',
        ),
    )
    cases["json_api_poison"] = (
        SourceConfig(
            name="json_api_poison",
            kind="json",
            url=srv.url("/poison-api.json"),
            json=JsonPaths(items="data", title="h", link="u", published="d"),
        ),
        lambda o, m: o.ok and stories(m, "json_api_poison")[0]["title"] == "Api story",
    )
    # Entity declarations hidden from a naive check: a "]" inside a comment
    # of the internal subset, a DOCTYPE after 64 KB, a UTF-16 document.
    commented = BILLION_LAUGHS.replace(b"<!DOCTYPE rss [", b"<!DOCTYPE rss [ <!-- ] -->", 1)
    late = BILLION_LAUGHS.replace(b"<!DOCTYPE", b"<!--" + b" " * (70 * 1024) + b"--><!DOCTYPE", 1)
    utf16 = BILLION_LAUGHS.replace(
        b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="utf-16"?>'
    )
    add("entities_behind_comment", "/ent1.xml", (200, rssct, commented), "parse_error")
    add("entities_after_64k", "/ent2.xml", (200, rssct, late), "parse_error")
    add(
        "entities_in_utf16",
        "/ent3.xml",
        (200, rssct, codecs.BOM_UTF16_LE + utf16.decode().encode("utf-16-le")),
        "parse_error",
    )
    srv.add("/robots.txt", b"User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    srv.add(
        "/private/list.html",
        b"<ul><li class=s><a href=/x>x</a></li></ul>",
        content_type="text/html",
    )
    cases["robots_disallowed"] = (
        SourceConfig(
            name="robots_disallowed",
            kind="html",
            url=srv.url("/private/list.html"),
            select=Select(item="li.s"),
        ),
        "robots",
    )
    return cases


@pytest.fixture(params=["fast", "feedparser"])
def parser_path(request, monkeypatch):
    monkeypatch.setattr(rss, "FAST_PATH", request.param == "fast")
    return request.param


def test_hostile_servers_are_named_and_never_stop_the_others(tmp_path, parser_path, caplog):
    with LocalServer() as srv:
        cases = build_cases(srv)
        assert len(cases) >= 25
        good_url = srv.add("/good.xml", GOOD, content_type="application/rss+xml")
        good = SourceConfig(name="good", kind="rss", url=good_url, interval="15m")
        sources = [good] + [src for src, _ in cases.values()]
        config = Config(
            state=tmp_path / "state.db",
            sources=sources,
            fetch=FetchSettings(
                connect_timeout=2,
                read_timeout=2,
                deadline=1.5,
                max_bytes=2 * MB,
                per_host_delay=0,
                per_host_concurrency=8,
                workers=8,
                allow_networks=["127.0.0.1/32"],
            ),
            health=HealthSettings(alert_after=1),
        )
        mon = Monitor(config, RuleSet([]))
        try:
            outcome = mon.cycle()
            by_name = {p.source: p for p in outcome.polls}
            assert set(by_name) == {s.name for s in sources}, "every source polled once"
            assert by_name["good"].ok and by_name["good"].new == 2
            wrong = {}
            for name, (_src, expect) in cases.items():
                o = by_name[name]
                if isinstance(expect, str):
                    if o.ok or o.reason != expect or not o.error or "\n" in o.error:
                        wrong[name] = (o.ok, o.reason, o.error)
                elif not expect(o, mon):
                    wrong[name] = (o.ok, o.reason, o.error)
            assert not wrong, wrong

            # Failures are stored by name; 429's Retry-After lengthens the wait.
            rows = {r["name"]: r for r in mon.store.sources()}
            assert rows["xml_bomb"]["last_error_reason"] == "parse_error"
            assert rows["http_429_retry_after"]["next_check_at"] - rows["http_429_retry_after"][
                "last_polled_at"
            ] >= 7200 * (1 - config.fetch.jitter)
            # Each broken source queued its one alert (alert_after=1), none for the healthy.
            notices = mon.store.db.execute(
                "SELECT title FROM stories WHERE source='(monitor)'"
            ).fetchall()
            titles = " ".join(n["title"] for n in notices)
            assert "Source broken: xml_bomb (parse_error)" in titles
            assert "Source broken: bot_wall_403 (bot_wall)" in titles
            assert "good" not in {
                t.split(":")[1].split()[0] for t in titles.split("Source broken")[1:]
            }

            # The good source goes on being polled while the hostile ones fail again.
            srv.add(
                "/good.xml",
                rss_doc(
                    [
                        ("g3", "Third story", "https://wire.example/a/3"),
                        ("g1", "Council votes on camera register", "https://wire.example/a/1"),
                    ]
                ),
                content_type="application/rss+xml",
            )
            # A new story whose article page redirects to an internal address:
            # the hop is refused at connect time, the story kept from the feed.
            srv.route("/article-jump", redirect(f"http://127.0.0.2:{srv.port}/internal"))
            srv.add(
                "/fulltext.xml",
                rss_doc(
                    [
                        ("ft2", "Second", srv.url("/article-jump")),
                        ("ft1", "First", "https://wire.example/ft/1"),
                    ]
                ),
                content_type="application/rss+xml",
            )
            again = mon.cycle(sources)
            by_name = {p.source: p for p in again.polls}
            assert by_name["good"].ok and by_name["good"].new == 1
            assert by_name["xml_bomb"].reason == "parse_error"
            assert (
                by_name["redirect_to_private_address"].ok
                and by_name["redirect_to_private_address"].new == 1
            )
            assert "reason=blocked_address" in caplog.text and "127.0.0.2" in caplog.text
        finally:
            mon.close()
