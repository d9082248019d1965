"""Generated hostile documents: feeds (RSS and JSON Feed) and HTML listing
pages whose every field mixes characters from the hostile classes (NUL and
other controls, lone surrogates, terminal escapes, bidi and invisible
characters, markup, entity references, mass mentions). Each example is one
hostile source beside a well-behaved one, in real cycles over loopback HTTP,
into SQLite and PostgreSQL, and every alert queued is rendered for every
kind of channel. The cycle must end, the well-behaved source's story must
be stored and alerted, and a hostile source either polls or fails by name."""

from __future__ import annotations

import json
import tempfile
import uuid
from pathlib import Path

import pytest
from httpserver import LocalServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.alerts.deliver import kind_of_url, size_limit
from monitor.alerts.formats import alert_from_json, render
from monitor.config import ChannelConfig, Config, FetchSettings, Select, SourceConfig
from monitor.engine import load_rules
from monitor.service import Monitor

HOSTILE = [
    "\x00",
    "\x01",
    "\x07",
    "\x0b",
    "\x1b",
    "\x1b]8;;http://x/\x07",
    "\x1b[2J",
    "\x7f",
    "\x9b",
    "\ud800",
    "\udfff",
    "\ud83d",
    "\u202e",
    "\u2066",
    "\u200b",
    "\ufeff",
    "\u00ad",
    "\u180e",
    "\u3164",
    "\u034f",
    "\ufff9",
    "\U000e0041",
    "\U000e007f",
    "<",
    ">",
    "&",
    '"',
    "'",
    "]]>",
    "&#0;",
    "&#xD800;",
    "&#x1b;",
    "&amp;",
    "<script>",
    "<!--",
    "@everyone",
    "<!channel>",
    "http://",
    "javascript:",
    "\n",
    "\r",
    "\t",
    "\u2028",
    "camera",
    " ",
    "人脸识别",
    "é",
]
hostile_text = st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=4)), max_size=12).map(
    "".join
)
items = st.lists(st.tuples(hostile_text, hostile_text, hostile_text), min_size=1, max_size=4)

RULES = """\
rules:
  - id: cameras
    title: Cameras
    severity: high
    match:
      any: ["camera"]
"""

CHANNELS = {
    "slack": "slack://T1ABCDEFG/B1ABCDEFG/abcdefghijklmnopqrstuvwx",
    "discord": "discord://123456789012345678/abcdefghijklmnopqrstuvwxyz0123456789",
    "telegram": "tgram://123456789:abcdefghijklmnopqrstuvwxyz012345678/-1001234567",
    "email": "mailto://user:pass@example.com",
    "json": "json://127.0.0.1:9/hook",
}


def raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def rss(entries, xml_escape: bool) -> bytes:
    def esc(t: str) -> str:
        return t.replace("&", "&amp;").replace("<", "&lt;") if xml_escape else t

    body = "".join(
        f"<item><title>{esc(t)} camera</title><link>https://h.example/{i}{esc(link)}</link>"
        f"<guid>g{i}{esc(link)}</guid><description>{esc(d)}</description></item>"
        for i, (t, d, link) in enumerate(entries)
    )
    return raw(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>H</title>{body}</channel></rss>'
    )


def json_feed(entries) -> bytes:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "H",
        "items": [
            {
                "id": f"j{i}{link}",
                "title": f"{t} camera",
                "url": f"https://h.example/{i}{link}",
                "content_text": d,
                "date_published": d[:30],
            }
            for i, (t, d, link) in enumerate(entries)
        ],
    }
    return json.dumps(doc).encode()  # lone surrogates travel as \\ud800 escapes


def html_page(entries) -> bytes:
    lis = "".join(
        f'<li class="s"><a href="/p/{i}{link}">{t} camera</a><p>{d}</p></li>'
        for i, (t, d, link) in enumerate(entries)
    )
    return raw(f"<html><body><ul>{lis}</ul></body></html>")


DOCS = {
    "rss_escaped": ("rss", "application/rss+xml", lambda e: rss(e, True)),
    "rss_raw": ("rss", "application/rss+xml", lambda e: rss(e, False)),
    "json_feed": ("rss", "application/feed+json", json_feed),
    "html": ("html", "text/html", html_page),
}


@pytest.fixture(scope="module")
def server():
    with LocalServer() as srv:
        srv.route("/robots.txt", (200, {"Content-Type": "text/plain"}, b""))
        yield srv


def good_feed(n: int, tag: str) -> bytes:
    body = "".join(
        f"<item><title>Council camera vote {i} in {tag}</title>"
        f"<link>https://good.example/{tag}/{i}</link><guid>good-{i}</guid></item>"
        for i in range(n)
    )
    return f'<rss version="2.0"><channel><title>G</title>{body}</channel></rss>'.encode()


def one_example(server, state, kind_name: str, entries: list) -> None:
    kind, ctype, make = DOCS[kind_name]
    tag = uuid.uuid4().hex[:8]
    rssct = {"Content-Type": "application/rss+xml"}
    server.route(f"/good-{tag}.xml", (200, rssct, good_feed(1, tag)))
    entries = [(t, d, f"{tag}/{link}") for t, d, link in entries]
    server.route(f"/h-{tag}", (200, {"Content-Type": ctype}, make(entries[:1])))
    good = SourceConfig(name=f"good-{tag}", kind="rss", url=server.url(f"/good-{tag}.xml"))
    hostile = SourceConfig(
        name=f"hostile-{tag}",
        kind=kind,
        url=server.url(f"/h-{tag}"),
        **({"select": Select(item="li.s")} if kind == "html" else {}),
    )
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules.yaml"
        rules.write_text(RULES)
        ruleset, _ = load_rules([rules])
        config = Config(
            state=state or Path(tmp) / "state.db",
            sources=[good, hostile],
            fetch=FetchSettings(
                deadline=3, per_host_delay=0, workers=2, allow_networks=["127.0.0.1/32"]
            ),
            channels={k: ChannelConfig(urls=[u]) for k, u in CHANNELS.items()},
        )
        mon = Monitor(config, ruleset)
        try:
            mon.cycle([good, hostile])
            server.route(f"/good-{tag}.xml", (200, rssct, good_feed(2, tag)))
            server.route(f"/h-{tag}", (200, {"Content-Type": ctype}, make(entries)))
            out = mon.cycle([good, hostile])
            by = {p.source: p for p in out.polls}
            assert by[good.name].ok and by[good.name].new == 1, by[good.name]
            h = by[hostile.name]
            assert h.ok or (h.reason and h.error and "\n" not in h.error), h
            rows = mon.store.db.execute(
                "SELECT o.alert, o.destination, s.source, s.title FROM outbox o "
                "JOIN stories s ON s.id=o.story_id WHERE s.source IN (?, ?)",
                (good.name, hostile.name),
            ).fetchall()
            assert any(r["source"] == good.name for r in rows)
            for r in rows:
                alert = alert_from_json(r["alert"])
                for url in CHANNELS.values():
                    msg = render(alert, kind_of_url(url), None, size_limit(url))
                    assert len(msg.body) <= size_limit(url)
                    assert "\x1b" not in msg.body + msg.title and "\x00" not in msg.body
        finally:
            mon.close()


FUZZ = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_generated_hostile_documents_never_stop_the_others(server, backend, request, monkeypatch):
    from monitor.sources import rss as rss_module

    state = request.getfixturevalue("pg_url") if backend == "postgresql" else None

    @FUZZ
    @given(kind_name=st.sampled_from(sorted(DOCS)), entries=items, fast=st.booleans())
    def run(kind_name, entries, fast):
        monkeypatch.setattr(rss_module, "FAST_PATH", fast)
        one_example(server, state, kind_name, entries)

    run()
