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


# -- One story, one source, one connection never ends the loop -------------
# Each case below is one hostile item beside well-behaved sources in the
# same cycle; the well-behaved ones must be stored and alerted.

CAMERA_RULE = """\
rules:
  - id: cameras
    title: Cameras
    severity: high
    match:
      any: ["camera"]
"""


def camera_rules(tmp_path):
    from monitor.engine import load_rules

    path = tmp_path / "rules.yaml"
    path.write_text(CAMERA_RULE)
    ruleset, problems = load_rules([path])
    assert not problems
    return ruleset


def hostile_config(tmp_path, state, sources, **kw):
    from monitor.config import ChannelConfig

    return Config(
        state=state,
        sources=sources,
        fetch=FetchSettings(
            **{
                "connect_timeout": 2,
                "read_timeout": 2,
                "deadline": 3,
                "per_host_delay": 0,
                "workers": 4,
                "allow_networks": kw.pop("allow_networks", ["127.0.0.1/32"]),
                **kw.pop("fetch", {}),
            }
        ),
        channels=kw.pop("channels", {"desk": ChannelConfig(urls=["json://127.0.0.1:9/hook"])}),
        **kw,
    )


def second_poll_sources(srv, tmp_path, state, sources, mutate, rules=None, **kw):
    """Baseline every source, let `mutate` add new items, poll again; the
    monitor and the second cycle's outcome."""
    config = hostile_config(tmp_path, state, sources, **kw)
    mon = Monitor(config, rules or camera_rules(tmp_path))
    mon.cycle(sources)
    mutate()
    return mon, mon.cycle(sources)


def queued_titles(mon, source):
    rows = mon.store.db.execute(
        "SELECT s.title FROM outbox o JOIN stories s ON s.id = o.story_id WHERE s.source=?",
        (source,),
    ).fetchall()
    return [r["title"] for r in rows]


def good_feed(n: int) -> bytes:
    return rss_doc(
        [(f"good-{i}", f"Council adds camera number {i}", f"https://good.example/{i}") for i in n]
    )


def json_feed(items: list[tuple[str, str]]) -> bytes:
    import json

    return json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "J",
            "items": [
                {"id": i, "title": t, "url": f"https://j.example/{i}", "content_text": t}
                for i, t in items
            ],
        }
    ).encode()


def reason_phrase_route(phrase: bytes):
    def handle(h):
        h.wfile.write(b"HTTP/1.1 " + phrase + b"\r\nContent-Length: 0\r\n\r\n")
        h.close_connection = True

    return handle


@pytest.fixture(params=["sqlite", "postgresql"])
def state_of(request, tmp_path):
    if request.param == "sqlite":
        return tmp_path / "state.db"
    return request.getfixturevalue("pg_url")


def test_nul_and_surrogates_in_stories_and_reason_phrases_are_stored(
    tmp_path, state_of, parser_path
):
    """A NUL or a lone surrogate in a story field (JSON allows both as
    escapes) is made storable at the store's edge, and a NUL in an HTTP
    reason phrase (refused by the transport as a broken reply) is named:
    the poll is stored and every other source too."""
    with LocalServer() as srv:
        jct = {"Content-Type": "application/feed+json"}
        srv.route("/j.json", (200, jct, json_feed([("j0", "Old camera")])))
        srv.route("/good.xml", (200, {"Content-Type": "application/rss+xml"}, good_feed(range(1))))
        srv.route("/503", reason_phrase_route(b"503 Slow\x00Down"))
        sources = [
            SourceConfig(name="jsonfeed", kind="rss", url=srv.url("/j.json")),
            SourceConfig(name="good", kind="rss", url=srv.url("/good.xml")),
            SourceConfig(name="nul_reason", kind="rss", url=srv.url("/503")),
        ]

        def mutate():
            body = json_feed([("j1", "Camera \u0000 with NUL"), ("j2", "Camera \ud800 lone")])
            srv.route("/j.json", (200, jct, body))
            srv.route(
                "/good.xml", (200, {"Content-Type": "application/rss+xml"}, good_feed(range(2)))
            )

        mon, out = second_poll_sources(srv, tmp_path, state_of, sources, mutate)
        try:
            by = {p.source: p for p in out.polls}
            assert by["good"].ok and by["good"].new == 1
            assert by["jsonfeed"].ok and by["jsonfeed"].new == 2, by["jsonfeed"]
            assert by["nul_reason"].reason == "connect"
            titles = queued_titles(mon, "jsonfeed")
            assert len(titles) == 2 and not any("\x00" in t for t in titles)
            assert queued_titles(mon, "good") == ["Council adds camera number 1"]
            row = {r["name"]: r for r in mon.store.sources()}["nul_reason"]
            assert "NUL byte in header" in row["last_error"] and "\x00" not in row["last_error"]
        finally:
            mon.close()


def test_store_write_edge_cleans_every_text_value(tmp_path, state_of):
    from monitor.models import Story
    from monitor.store import Planned, Store

    store = Store(state_of)
    try:
        store.ensure_source("s", "http://x.example/")
        story = Story(
            source="s",
            key="k\x00\ud83d",
            title="t\x00itle \udfff",
            link="https://x.example/\x00",
            summary="s\x00",
        )
        store.record_poll("s", [Planned(story)], etag="e\x00", last_modified=None, next_check_at=0)
        store.record_failure("s", "http", "http 503 Slow\x00Down \ud800", 0)
        row = store.db.execute("SELECT key, title, summary FROM stories").fetchone()
        assert row["title"] == "title \ufffd" and row["key"] == "k\ufffd"
        assert {r["name"]: r for r in store.sources()}["s"]["last_error"] == (
            "http 503 SlowDown \ufffd"
        )
    finally:
        store.close()


def test_a_story_or_source_that_raises_loses_nothing_else(tmp_path, parser_path, monkeypatch):
    """A bug met by one story (matching it raises, or the database refuses
    its row) or by one source (its health bookkeeping raises) is named in
    the log; the other stories of that source and every other source are
    stored and alerted."""
    with LocalServer() as srv:
        rssct = {"Content-Type": "application/rss+xml"}
        for name in ("a", "b", "c"):
            srv.route(f"/{name}.xml", (200, rssct, good_feed(range(1))))
        sources = [
            SourceConfig(name=n, kind="rss", url=srv.url(f"/{n}.xml")) for n in ("a", "b", "c")
        ]

        def mutate():
            srv.route(
                "/a.xml",
                (
                    200,
                    rssct,
                    rss_doc(
                        [
                            ("p1", "Poison camera story", "https://a.example/p1"),
                            ("p2", "Camera story after the poison", "https://a.example/p2"),
                        ]
                    ),
                ),
            )
            srv.route(
                "/b.xml",
                (
                    200,
                    rssct,
                    rss_doc(
                        [
                            ("q1", "Refused camera row", "https://b.example/q1"),
                            ("q2", "Camera row kept", "https://b.example/q2"),
                        ]
                    ),
                ),
            )
            srv.route("/c.xml", (200, rssct, good_feed(range(2))))

        rules = camera_rules(tmp_path)
        real_match = rules.match

        def match(story, *a, **kw):
            if story.title.startswith("Poison"):
                raise RuntimeError("a matcher bug")
            return real_match(story, *a, **kw)

        monkeypatch.setattr(rules, "match", match)
        config = hostile_config(tmp_path, tmp_path / "state.db", sources)
        mon = Monitor(config, rules)
        try:
            mon.cycle(sources)
            mutate()
            real_record = mon.store.record_poll

            def record(source, planned, **kw):
                if any(p.story.title.startswith("Refused") for p in planned):
                    raise ValueError("the database refused a value")
                return real_record(source, planned, **kw)

            monkeypatch.setattr(mon.store, "record_poll", record)
            real_success = mon.source_health.success

            def success(src, *a, **kw):
                if src.name == "c":
                    raise KeyError("a health bug")
                return real_success(src, *a, **kw)

            monkeypatch.setattr(mon.source_health, "success", success)
            out = mon.cycle(sources)
            by = {p.source: p for p in out.polls}
            assert by["a"].ok and by["b"].ok
            assert by["c"].reason == "internal_error" and "health bug" in by["c"].error
            assert queued_titles(mon, "a") == ["Camera story after the poison"]
            titles = [r["title"] for r in mon.store.db.execute("SELECT title FROM stories")]
            assert "Poison camera story" in titles  # stored, unmatched
            assert queued_titles(mon, "b") == ["Camera row kept"]
            assert "Refused camera row" not in titles
            assert queued_titles(mon, "c") == ["Council adds camera number 1"]
        finally:
            mon.close()


def test_an_outbox_row_that_cannot_be_rendered_stops_no_other(tmp_path, webhook):
    from monitor.config import ChannelConfig

    with LocalServer() as srv:
        srv.route("/a.xml", (200, {"Content-Type": "application/rss+xml"}, good_feed(range(1))))
        src = SourceConfig(name="a", kind="rss", url=srv.url("/a.xml"))
        config = hostile_config(
            tmp_path,
            tmp_path / "state.db",
            [src],
            channels={"desk": ChannelConfig(urls=[webhook.url()])},
        )
        mon = Monitor(config, camera_rules(tmp_path))
        try:
            mon.cycle([src])
            srv.route("/a.xml", (200, {"Content-Type": "application/rss+xml"}, good_feed(range(3))))
            mon.poll(src)
            first = mon.store.db.execute("SELECT min(id) AS id FROM outbox").fetchone()["id"]
            mon.store.db.execute("UPDATE outbox SET alert='{not json' WHERE id=?", (first,))
            stats = mon.deliver()
            assert stats.sent == 1 and stats.dead == 1
            assert len(webhook.posts) == 1
        finally:
            mon.close()


def test_the_loop_outlasts_a_held_sqlite_lock_and_reports_it(tmp_path):
    """Another process holding the write lock past the busy timeout is a
    health state (`store` in /healthz), waited out; the loop never ends for it."""
    import sqlite3
    import threading

    with LocalServer() as srv:
        srv.route("/a.xml", (200, {"Content-Type": "application/rss+xml"}, good_feed(range(1))))
        src = SourceConfig(name="a", kind="rss", url=srv.url("/a.xml"))
        state = tmp_path / "state.db"
        mon = Monitor(hostile_config(tmp_path, state, [src]), camera_rules(tmp_path))
        mon.store.db.execute("PRAGMA busy_timeout=100")
        other = sqlite3.connect(str(state), isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        thread = threading.Thread(target=mon.run_forever, daemon=True)
        thread.start()
        try:
            for _ in range(200):
                if mon.store_problem:
                    break
                time.sleep(0.05)
            ok, body = mon.health()
            assert body["store"]["status"] == "store.unavailable"
            assert "write lock" in body["store"]["error"] and str(state) in body["store"]["error"]
            assert mon.loop_alive
            other.execute("ROLLBACK")
            for _ in range(400):
                if mon.store.source_state("a") and mon.store.source_state("a").baseline_done:
                    break
                time.sleep(0.05)
            assert mon.store.source_state("a").baseline_done
            assert "store" not in mon.health()[1]
        finally:
            mon.stop.set()
            thread.join(20)
            other.close()
            mon.close()
        assert not thread.is_alive()


@pytest.mark.parametrize(
    "damage, cause",
    [
        ("garbage", "not a SQLite database"),
        ("truncated", "damaged"),
        ("readonly", "read-only"),
    ],
)
def test_a_bad_state_file_is_one_line_naming_it_and_the_cause(tmp_path, damage, cause):
    import os
    import subprocess
    import sys

    from monitor.store import Store

    state = tmp_path / "state.db"
    store = Store(state)
    for i in range(300):
        store.ensure_source(f"source-{i}-" + "x" * 200, "http://x.example/")
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    if damage == "garbage":
        state.write_bytes(b"this is not a database at all" * 100)
    elif damage == "truncated":
        data = state.read_bytes()
        state.write_bytes(data[: len(data) // 3])
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes read-only files")
        os.chmod(state, 0o444)
        os.chmod(tmp_path, 0o555)
    config = tmp_path / "config.yaml"
    try:
        if damage == "readonly":
            config = tmp_path.parent / f"{tmp_path.name}-config.yaml"
        config.write_text(
            f"state: {state}\nsources:\n  - name: a\n    kind: rss\n    url: http://127.0.0.1:9/a.xml\n"
        )
        proc = subprocess.run(
            [sys.executable, "-m", "monitor", "status", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        os.chmod(tmp_path, 0o755)
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.stdout, err)
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert str(state) in err and cause in err, err


def test_a_full_disk_under_a_running_monitor_is_named_and_outlasted(tmp_path):
    """SQLite's "database or disk is full" mid-poll: the poll's transaction
    is rolled back (no misleading "cannot rollback"), one line names the
    file and the cause, and the next cycle with room again stores it."""
    with LocalServer() as srv:
        srv.route("/a.xml", (200, {"Content-Type": "application/rss+xml"}, good_feed(range(1))))
        src = SourceConfig(name="a", kind="rss", url=srv.url("/a.xml"))
        state = tmp_path / "state.db"
        mon = Monitor(hostile_config(tmp_path, state, [src]), camera_rules(tmp_path))
        try:
            mon.cycle([src])
            big = rss_doc(
                [(f"n{i}", "Camera " + "word " * 400, f"https://a.example/{i}") for i in range(200)]
            )
            srv.route("/a.xml", (200, {"Content-Type": "application/rss+xml"}, big))
            pages = mon.store.db.execute("PRAGMA page_count").fetchone()[0]
            mon.store.db.execute(f"PRAGMA max_page_count={pages + 2}")
            from monitor.store import StoreUnavailable

            with pytest.raises(StoreUnavailable) as info:
                mon.cycle([src])
            assert str(state) in str(info.value) and "disk is full" in str(info.value)
            assert "rollback" not in str(info.value)
            mon.store.db.execute("PRAGMA max_page_count=1073741823")
            out = mon.cycle([src])
            assert out.polls[0].ok and out.polls[0].new == 200
        finally:
            mon.close()


# -- What a fetch may reach -------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of the metadata address
        "2002:0a00:0001::1",  # 6to4 of 10.0.0.1
        "fec0::1",  # site-local
        "168.63.129.16",  # Azure's wire server
        "64:ff9b::a9fe:a9fe",  # NAT64 of the metadata address
    ],
)
def test_addresses_that_lead_inside_are_not_public(address):
    from monitor.fetch.guard import address_kind

    assert address_kind(address) is not None


@pytest.mark.parametrize("address", ["2002:0808:0808::1", "8.8.8.8", "2606:4700::1111"])
def test_public_addresses_stay_public(address):
    from monitor.fetch.guard import address_kind

    assert address_kind(address) is None


def test_configured_headers_go_to_the_configured_origin_only(tmp_path, parser_path):
    """A source's X-Api-Key is sent to its own origin; not to the host a 301
    sends it to, neither on that hop nor when the remembered address is
    fetched next time."""
    with LocalServer() as home, LocalServer() as away:
        rssct = {"Content-Type": "application/rss+xml"}
        away.route("/feed.xml", (200, rssct, good_feed(range(1))))
        home.route("/feed.xml", redirect(away.url("/feed.xml"), status=301))
        src = SourceConfig(
            name="keyed",
            kind="rss",
            url=home.url("/feed.xml"),
            headers={"X-Api-Key": "k-123456", "Authorization": "Bearer t-123456"},
        )
        config = hostile_config(tmp_path, tmp_path / "state.db", [src])
        mon = Monitor(config, camera_rules(tmp_path))
        try:
            assert mon.poll(src).ok
            assert mon.poll(src).ok  # the remembered address
            assert home.requests_to("/feed.xml")[0].headers["X-Api-Key"] == "k-123456"
            got = away.requests_to("/feed.xml")
            assert len(got) == 2
            for r in got:
                assert r.headers.get("X-Api-Key") is None and r.headers.get("Authorization") is None
        finally:
            mon.close()


class PublicHost:
    """Makes the fetcher take a configured loopback URL for a public host, so
    its redirects are judged as a public feed's are."""

    def __init__(self, monkeypatch):
        from monitor.fetch.fetcher import Fetcher

        monkeypatch.setattr(Fetcher, "_inside", lambda self, url, proxy: False)


@pytest.mark.parametrize("target", ["http://127.0.0.2:{port}/admin", "http://169.254.169.254/"])
def test_a_public_feed_redirected_inside_is_refused(tmp_path, monkeypatch, target, parser_path):
    with LocalServer() as srv:
        PublicHost(monkeypatch)
        srv.route("/feed.xml", redirect(target.format(port=srv.port), status=301))
        src = SourceConfig(name="jump", kind="rss", url=srv.url("/feed.xml"))
        mon = Monitor(
            hostile_config(tmp_path, tmp_path / "state.db", [src]), camera_rules(tmp_path)
        )
        try:
            out = mon.poll(src)
            assert not out.ok and out.reason == "blocked_address", out
            assert mon.store.source_state("jump").permanent_url is None
        finally:
            mon.close()


def test_an_internal_feed_may_redirect_inside(tmp_path, parser_path):
    with LocalServer() as srv:
        rssct = {"Content-Type": "application/rss+xml"}
        srv.route("/new.xml", (200, rssct, good_feed(range(1))))
        srv.route("/feed.xml", redirect(f"http://127.0.0.1:{srv.port}/new.xml", status=301))
        src = SourceConfig(name="inside", kind="rss", url=srv.url("/feed.xml"))
        mon = Monitor(
            hostile_config(tmp_path, tmp_path / "state.db", [src], allow_networks=[]),
            camera_rules(tmp_path),
        )
        try:
            assert mon.poll(src).ok
        finally:
            mon.close()


def tls_server(tmp_path, monkeypatch) -> LocalServer:
    """A LocalServer speaking TLS with a certificate made for 127.0.0.1,
    which the fetcher is told to trust."""
    import ssl
    import subprocess
    import threading

    from httpserver import RequestHandler, _Server

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key)]
        + ["-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    srv = LocalServer()
    server = _Server(("127.0.0.1", 0), RequestHandler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.owner = srv
    srv._server = server
    srv._thread = threading.Thread(target=server.serve_forever, daemon=True)
    srv._thread.start()
    return srv


def test_a_downgrade_to_http_is_never_remembered(tmp_path, monkeypatch, parser_path):
    with LocalServer() as plain:
        secure = tls_server(tmp_path, monkeypatch)
        try:
            rssct = {"Content-Type": "application/rss+xml"}
            plain.route("/feed.xml", (200, rssct, good_feed(range(1))))
            secure.route("/feed.xml", redirect(plain.url("/feed.xml"), status=301))
            url = f"https://127.0.0.1:{secure._server.server_address[1]}/feed.xml"
            src = SourceConfig(name="tls", kind="rss", url=url)
            mon = Monitor(
                hostile_config(tmp_path, tmp_path / "state.db", [src]), camera_rules(tmp_path)
            )
            try:
                assert mon.poll(src).ok
                assert mon.store.source_state("tls").permanent_url is None
            finally:
                mon.close()
        finally:
            secure.stop()


def test_robots_txt_of_a_content_link_is_guarded(tmp_path, parser_path, caplog):
    """An article link on an internal host: neither its robots.txt nor the
    page is requested from there, nor from where a redirect points."""
    with LocalServer() as srv, LocalServer() as inside:
        inside.route("/robots.txt", redirect("http://169.254.169.254/latest/meta-data/"))
        rssct = {"Content-Type": "application/rss+xml"}
        srv.route("/ft.xml", (200, rssct, good_feed(range(1))))
        src = SourceConfig(name="ft", kind="rss", url=srv.url("/ft.xml"), full_text=True)
        link = inside.url("/article")
        mon = Monitor(
            hostile_config(tmp_path, tmp_path / "state.db", [src], allow_networks=[]),
            camera_rules(tmp_path),
        )
        try:
            mon.poll(src)
            srv.route("/ft.xml", (200, rssct, rss_doc([("x", "Camera article inside", link)])))
            out = mon.poll(src)
            assert out.ok and out.new == 1
            assert not inside.requests, [r.path for r in inside.requests]
            assert "blocked_address" in caplog.text
        finally:
            mon.close()


def forward_proxy(srv: LocalServer, routes: dict):
    """A forward proxy on `srv`: answers absolute-URL requests from `routes`."""
    for url, route in routes.items():
        srv.route(url, route)


def test_robots_and_articles_go_the_sources_way(tmp_path, parser_path):
    """robots.txt and article pages of a source with a proxy go through
    that proxy, with the source's headers only on the source's origin."""
    with LocalServer() as proxy:
        rssct = {"Content-Type": "application/rss+xml"}
        forward_proxy(
            proxy,
            {
                "http://news.test/feed.xml": (
                    200,
                    rssct,
                    rss_doc([("a", "Camera story", "http://news.test/a")]),
                ),
                "http://news.test/robots.txt": (200, {"Content-Type": "text/plain"}, b""),
                "http://news.test/c": (200, {"Content-Type": "text/html"}, b"<p>camera</p>"),
                "http://other.test/robots.txt": (200, {"Content-Type": "text/plain"}, b""),
                "http://other.test/b": (200, {"Content-Type": "text/html"}, b"<p>camera</p>"),
                "http://news.test/list.html": (
                    200,
                    {"Content-Type": "text/html"},
                    b'<ul><li class="s"><a href="/x">Camera x</a></li></ul>',
                ),
            },
        )
        feed = SourceConfig(
            name="feed",
            kind="rss",
            url="http://news.test/feed.xml",
            proxy=proxy.url("").rstrip("/"),
            headers={"X-Api-Key": "k-123456"},
            full_text=True,
        )
        page = SourceConfig(
            name="page",
            kind="html",
            url="http://news.test/list.html",
            proxy=proxy.url("").rstrip("/"),
            headers={"X-Api-Key": "k-123456"},
            select=Select(item="li.s"),
        )
        mon = Monitor(
            hostile_config(tmp_path, tmp_path / "state.db", [feed, page]), camera_rules(tmp_path)
        )
        try:
            assert mon.poll(feed).ok and mon.poll(page).ok
            proxy.route(
                "http://news.test/feed.xml",
                (
                    200,
                    rssct,
                    rss_doc(
                        [
                            ("b", "Camera elsewhere", "http://other.test/b"),
                            ("c", "Camera at home", "http://news.test/c"),
                            ("a", "Camera story", "http://news.test/a"),
                        ]
                    ),
                ),
            )
            assert mon.poll(feed).ok
            paths = [r.path for r in proxy.requests]
            assert "http://news.test/robots.txt" in paths
            assert "http://other.test/robots.txt" in paths and "http://other.test/b" in paths
            assert "http://news.test/c" in paths
            for r in proxy.requests:
                expect = "k-123456" if r.path.startswith("http://news.test/") else None
                assert r.headers.get("X-Api-Key") == expect, r.path
        finally:
            mon.close()


# -- What reaches a terminal, a log, a channel -------------------------------

ESCAPES = "\x1b]8;;http://evil.example/\x07click\x1b]8;;\x07 \x1b[2J\x9b31m"
INVISIBLE = (
    "\U000e0049\U000e0067\U000e006e"  # tag characters spelling hidden text
    "\u00ad\u180e\u115f\u1160\u3164\uffa0\u034f\ufff9\ufffa\ufffb"
)


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os
    import sys

    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


import subprocess  # noqa: E402


def test_terminal_escapes_never_reach_status_sources_or_the_log(tmp_path, capsys):
    from monitor import log

    with LocalServer() as srv:
        jct = {"Content-Type": "application/feed+json"}
        srv.route("/j.json", (200, jct, json_feed([("j0", "Old camera")])))
        srv.route("/bad", reason_phrase_route(b"503 Slow" + ESCAPES.encode("latin-1")[:14]))
        config = tmp_path / "config.yaml"
        config.write_text(
            f"state: {tmp_path / 'state.db'}\nsources:\n"
            f"  - {{name: j, kind: rss, url: '{srv.url('/j.json')}'}}\n"
            f"  - {{name: bad, kind: rss, url: '{srv.url('/bad')}'}}\n"
        )
        src = [
            SourceConfig(name="j", kind="rss", url=srv.url("/j.json")),
            SourceConfig(name="bad", kind="rss", url=srv.url("/bad")),
        ]
        log.setup("info")
        mon = Monitor(hostile_config(tmp_path, tmp_path / "state.db", src), camera_rules(tmp_path))
        try:
            mon.cycle(src)
            srv.route("/j.json", (200, jct, json_feed([("j1", "Camera " + ESCAPES)])))
            mon.cycle(src)
        finally:
            mon.close()
        logged = capsys.readouterr().out
        assert "event=source.failed" in logged and "rule.matched" in logged
        status = run_cli("status", "--config", str(config))
        sources = run_cli("sources", "--config", str(config))
        as_json = run_cli("status", "--json", "--config", str(config))
        for out in (logged, status.stdout, sources.stdout, as_json.stdout):
            assert "\x1b" not in out and "\x9b" not in out and "\x07" not in out
        assert "Camera" in status.stdout and "Slow" in sources.stdout
        import json as _json

        assert any("Camera" in s["title"] for s in _json.loads(as_json.stdout)["recent_stories"])


def test_invisible_characters_never_reach_a_channel():
    from monitor.alerts.formats import KINDS, render, render_group
    from monitor.models import Alert, Match, Story

    story = Story(
        source="wire" + INVISIBLE,
        key="k",
        title="Camera" + INVISIBLE + " title",
        link="https://x.example/a",
        summary="Summary" + INVISIBLE,
    )
    match = Match(
        "cameras", "Cameras" + INVISIBLE, "high", ("t",), (), ("camera",), "Camera" + INVISIBLE
    )
    alert = Alert("desk", story, (match,))
    for kind in KINDS:
        msgs = [render(alert, kind)] + [
            m for _, m in render_group([(1, alert), (2, alert)], kind, "Digest", 4000)
        ]
        for msg in msgs:
            for c in INVISIBLE:
                assert c not in msg.title + msg.body, (kind, hex(ord(c)))
            assert "Camera" in msg.title + msg.body


def test_the_health_check_never_goes_through_a_proxy(tmp_path):
    from monitor.config import HttpSettings

    with LocalServer() as proxy, LocalServer() as own:
        own.route("/healthz", (200, {"Content-Type": "application/json"}, b'{"status": "ok"}'))
        proxy.route(own.url("/healthz"), (503, {}, b"the proxy"))
        config = tmp_path / "config.yaml"
        config.write_text(
            f"state: {tmp_path / 'state.db'}\nhttp: {{listen: '127.0.0.1:{own.port}'}}\n"
            "sources: []\n"
        )
        assert HttpSettings  # the endpoint's settings exist under this name
        done = run_cli(
            "status",
            "--health",
            "--config",
            str(config),
            env={"HTTP_PROXY": proxy.url("").rstrip("/"), "http_proxy": proxy.url("").rstrip("/")},
        )
        assert done.returncode == 0 and "healthy" in done.stdout, done.stdout + done.stderr
        assert not proxy.requests


def test_secrets_stay_hidden_in_errors_health_moves_and_the_outbox(tmp_path, webhook):
    """A malformed secret from a NAME_FILE, a whole-URL secret after a 301,
    a path token in a webhook URL and a PostgreSQL password with `/`."""
    import json as _json

    from monitor.alerts.deliver import mask_url
    from monitor.store.db import display_state, hide_password

    for url, secret in [
        ("json://hooks.example/hooks/TOKENabcdef123", "TOKENabcdef123"),
        ("form://hooks.example/api/FORMsecret987", "FORMsecret987"),
        ("ntfy://ntfy.example/topicSecret42", "topicSecret42"),
    ]:
        assert secret not in mask_url(url), mask_url(url)
    pg = "postgresql://mon:first/second@127.0.0.1:1/db"
    assert "first" not in display_state(pg) and "second" not in display_state(pg)
    assert "first" not in hide_password('invalid port "first"', pg)

    with LocalServer() as srv:
        rssct = {"Content-Type": "application/rss+xml"}
        srv.route("/moved-here/feed.xml", (200, rssct, good_feed(range(1))))
        srv.route(
            "/tok-SECRETfeed77/feed.xml", redirect(srv.url("/moved-here/feed.xml"), status=301)
        )
        secret_file = tmp_path / "url.txt"
        secret_file.write_text(srv.url("/tok-SECRETfeed77/feed.xml"))
        rules = tmp_path / "rules.yaml"
        rules.write_text(CAMERA_RULE)
        config = tmp_path / "config.yaml"
        config.write_text(
            f"state: {tmp_path / 'state.db'}\nrules: {rules}\n"
            f"channels: {{desk: {{urls: ['{webhook.url('/hooks/HOOKtoken555')}']}}}}\n"
            "sources:\n  - {name: s, kind: rss, url: '${FEED_URL}'}\n"
        )
        env = {"FEED_URL_FILE": str(secret_file)}
        once = run_cli("once", "--config", str(config), env=env)
        assert once.returncode == 0, once.stderr
        status = run_cli("status", "--json", "--config", str(config), env=env)
        sources = run_cli("sources", "--json", "--config", str(config), env=env)
        outbox = run_cli("outbox", "--config", str(config), env=env)
        for out in (once.stdout + once.stderr, status.stdout, sources.stdout, outbox.stdout):
            assert "SECRETfeed77" not in out and "moved-here" not in out, out
            assert "HOOKtoken555" not in out
        assert _json.loads(sources.stdout)[0]["name"] == "s"
        # Rotated to a malformed value: named by its place, never shown.
        secret_file.write_text("not-a-url-SECRETbad99")
        check = run_cli("check", "--config", str(config), env=env)
        again = run_cli("once", "--config", str(config), env=env)
        for out in (check.stdout + check.stderr, again.stdout + again.stderr):
            assert "SECRETbad99" not in out and "url: '***'" in out, out


def test_a_malformed_rotated_secret_is_not_shown_by_healthz(tmp_path, monkeypatch):
    from monitor.config import load_config

    secret_file = tmp_path / "url.txt"
    secret_file.write_text("http://127.0.0.1:9/tok-GOODsecret11/feed.xml")
    monkeypatch.setenv("FEED_URL_FILE", str(secret_file))
    rules = tmp_path / "rules.yaml"
    rules.write_text(CAMERA_RULE)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(
        f"state: {tmp_path / 'state.db'}\nrules: {rules}\n"
        "sources:\n  - {name: s, kind: rss, url: '${FEED_URL}'}\n"
    )
    mon = Monitor(load_config(config_path), camera_rules(tmp_path))
    try:
        secret_file.write_text("not a url BADsecret22")
        mon.request_reload()
        mon.reloader.check()
        body = mon.health()[1]
        assert body["reload"]["errors"] and not body["reload"]["ok"]
        assert "BADsecret22" not in str(body), body
    finally:
        mon.close()


# -- Delivery edge cases ------------------------------------------------------

SERVICE_URLS = {
    "slack": "slack://T1ABCDEFG/B1ABCDEFG/abcdefghijklmnopqrstuvwx",
    "discord": "discord://123456789012345678/abcdefghijklmnopqrstuvwxyz0123456789",
    "telegram": "tgram://123456789:abcdefghijklmnopqrstuvwxyz012345678/-1001234567",
    "email": "mailto://user:pass@example.com",
    "json": "json://127.0.0.1:9/hook",
}


def long_link_alert(n: int = 1850, title: str = "Camera story with a long link & <tags>"):
    from monitor.models import Alert, Match, Story

    link = "https://news.example/a?" + "&".join(f"p{i}=&" for i in range(n // 5))
    story = Story(source="wire", key="k", title=title, link=link[:n], summary="Camera " * 200)
    match = Match("cameras", "Cameras", "high", (), (), ("camera",), "camera " * 100)
    return Alert("desk", story, (match,))


def balanced_html(body: str) -> bool:
    import re

    if re.search(r"<[^>]*(<|$)", body) or re.search(
        r"&(?![a-zA-Z]+;|#[0-9]+;|#x[0-9a-fA-F]+;)", body
    ):
        return False
    opened = re.findall(r"<(a|b|i|u|code|pre|small|li|ul|p|h[1-6])\b", body)
    closed = re.findall(r"</(a|b|i|u|code|pre|small|li|ul|p|h[1-6])>", body)
    return sorted(opened) == sorted(closed)


@pytest.mark.parametrize("kind", sorted(SERVICE_URLS))
def test_a_long_link_fits_every_services_limit(kind):
    from monitor.alerts.deliver import kind_of_url, size_limit
    from monitor.alerts.formats import FORMAT, HTML, render

    url = SERVICE_URLS[kind]
    assert kind_of_url(url) == kind
    limit = size_limit(url)
    for n in (1850, 5000, 20000):
        msg = render(long_link_alert(n), kind, None, limit)
        assert len(msg.body) <= limit, (kind, n, len(msg.body), limit)
        assert "Camera story" in msg.body
        if FORMAT[kind] == HTML:
            assert balanced_html(msg.body), msg.body[-300:]


def test_digest_parts_split_on_whole_stories_and_markup_boundaries():
    from monitor.alerts.deliver import size_limit
    from monitor.alerts.formats import render_group

    limit = size_limit(SERVICE_URLS["telegram"])
    alerts = [
        (i, long_link_alert(3000 + i * 500, title='"&<>' * 30 + " Camera " + '"&<>' * 30))
        for i in range(12)
    ]
    parts = render_group(alerts, "telegram", "Digest for desk", limit)
    seen = [i for ids, _ in parts for i in ids]
    assert sorted(seen) == list(range(12))
    for _ids, msg in parts:
        assert len(msg.body) <= limit
        assert balanced_html(msg.body), msg.body[-300:]
    for kind in ("discord", "slack", "email"):
        for _ids, msg in render_group(alerts, kind, "Digest", size_limit(SERVICE_URLS[kind])):
            assert len(msg.body) <= size_limit(SERVICE_URLS[kind])
            if kind == "email":
                assert balanced_html(msg.body)
            if kind == "discord":
                assert msg.body.count("[") == msg.body.count("](") + msg.body.count("\\[")


def test_a_flood_of_matching_stories_alerts_up_to_the_cap_and_summarises_the_rest(tmp_path):
    from monitor.config import DeliverySettings

    with LocalServer() as srv:
        rssct = {"Content-Type": "application/rss+xml"}
        srv.route("/a.xml", (200, rssct, good_feed(range(1))))
        src = SourceConfig(name="flood", kind="rss", url=srv.url("/a.xml"))
        config = hostile_config(
            tmp_path,
            tmp_path / "state.db",
            [src],
            delivery=DeliverySettings(max_alerts_per_poll=10),
        )
        mon = Monitor(config, camera_rules(tmp_path))
        try:
            mon.cycle([src])
            srv.route("/a.xml", (200, rssct, good_feed(range(400))))
            out = mon.poll(src)
            assert out.ok and out.new == 399
            titles = queued_titles(mon, "flood")
            assert len(titles) == 11
            assert titles[-1] == "389 more matching stories from flood in one poll"
            stored = mon.store.db.execute(
                "SELECT count(*) AS n FROM stories WHERE source='flood'"
            ).fetchone()["n"]
            assert stored == 401  # the stories and the summary
        finally:
            mon.close()


# -- Full-text tarpits ----------------------------------------------------------


def test_slow_article_pages_share_one_budget_on_the_pool(tmp_path, caplog):
    """Five article pages that stall: fetched side by side on the pool, and
    the poll ends when its full-text budget is spent, every story stored."""
    import threading

    in_flight, peak, lock = [0], [0], threading.Lock()

    def tarpit(h):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        try:
            h.send_response(200)
            h.send_header("Content-Type", "text/html")
            h.send_header("Content-Length", "100000")
            h.end_headers()
            h.wfile.write(b"<html>")
            h.wfile.flush()
            h.stopping.wait(8)
        finally:
            with lock:
                in_flight[0] -= 1
        h.close_connection = True

    pits = [LocalServer().start() for _ in range(5)]
    try:
        with LocalServer() as srv:
            rssct = {"Content-Type": "application/rss+xml"}
            srv.route("/ft.xml", (200, rssct, good_feed(range(1))))
            for p in pits:
                p.route("/article", tarpit)
            src = SourceConfig(name="ft", kind="rss", url=srv.url("/ft.xml"), full_text=True)
            config = hostile_config(
                tmp_path,
                tmp_path / "state.db",
                [src],
                fetch={"full_text_budget": 1.5, "read_timeout": 10},
            )
            mon = Monitor(config, camera_rules(tmp_path))
            try:
                mon.poll(src)
                items = [
                    (f"t{i}", f"Camera page {i}", p.url("/article")) for i, p in enumerate(pits)
                ]
                srv.route("/ft.xml", (200, rssct, rss_doc(items)))
                out = mon.poll(src)
                assert out.ok and out.new == 5
                assert len(queued_titles(mon, "ft")) == 5
                assert peak[0] >= 2, "article pages fetched one after another"
                assert "article.budget_spent" in caplog.text or "reason=timeout" in caplog.text
            finally:
                mon.close()
    finally:
        for p in pits:
            p.stop()


def test_a_poll_cut_short_does_not_fetch_its_article_pages_again(tmp_path, monkeypatch):
    from monitor.store import StoreUnavailable

    with LocalServer() as srv, LocalServer() as pages:
        rssct = {"Content-Type": "application/rss+xml"}
        srv.route("/ft.xml", (200, rssct, good_feed(range(1))))
        for i in range(3):
            pages.route(
                f"/a{i}",
                (
                    200,
                    {"Content-Type": "text/html"},
                    b"<html><body><article><p>"
                    + b"Camera text. " * 40
                    + b"</p></article></body></html>",
                ),
            )
        src = SourceConfig(name="ft", kind="rss", url=srv.url("/ft.xml"), full_text=True)
        mon = Monitor(
            hostile_config(tmp_path, tmp_path / "state.db", [src]), camera_rules(tmp_path)
        )
        try:
            mon.poll(src)
            items = [(f"p{i}", f"Camera page {i}", pages.url(f"/a{i}")) for i in range(3)]
            srv.route("/ft.xml", (200, rssct, rss_doc(items)))
            real = mon.store.record_poll

            def cut(*a, **kw):
                raise StoreUnavailable("the connection was cut")

            monkeypatch.setattr(mon.store, "record_poll", cut)
            with pytest.raises(StoreUnavailable):
                mon.poll(src)
            monkeypatch.setattr(mon.store, "record_poll", real)
            assert mon.poll(src).ok
            for i in range(3):
                assert len(pages.requests_to(f"/a{i}")) == 1
            assert len(queued_titles(mon, "ft")) == 3
            assert not mon.store.meta_under("article:ft:")
        finally:
            mon.close()


def test_a_reload_that_raises_does_not_end_the_loop(tmp_path, monkeypatch):
    import threading

    with LocalServer() as srv:
        srv.route("/a.xml", (200, {"Content-Type": "application/rss+xml"}, good_feed(range(1))))
        src = SourceConfig(name="a", kind="rss", url=srv.url("/a.xml"), interval=1)
        mon = Monitor(
            hostile_config(tmp_path, tmp_path / "state.db", [src]), camera_rules(tmp_path)
        )

        def broken(wait: float = 30.0):
            raise RuntimeError("a reload bug")

        monkeypatch.setattr(mon.reloader, "check", broken)
        thread = threading.Thread(target=mon.run_forever, daemon=True)
        thread.start()
        try:
            for _ in range(400):
                if len(srv.requests_to("/a.xml")) >= 2:
                    break
                time.sleep(0.05)
            assert len(srv.requests_to("/a.xml")) >= 2 and mon.loop_alive
            assert "a reload bug" in str(mon.health()[1]["reload"]["errors"])
        finally:
            mon.stop.set()
            thread.join(20)
            mon.close()
