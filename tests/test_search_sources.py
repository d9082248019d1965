"""Search sources: Google News, Bing News, GDELT, Mastodon, Hacker News and
Telegram read from fixtures in each service's format, served on loopback;
queries built from the rules; new means never seen; refusals named."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from monitor.config import Config, ConfigError, FetchSettings, SourceConfig, load_config
from monitor.engine import load_rules
from monitor.service import Monitor
from monitor.sources import registry
from monitor.sources.errors import SourceError
from monitor.sources.gdelt import parse_gdelt
from monitor.sources.hackernews import parse_hackernews
from monitor.sources.mastodon import parse_mastodon
from monitor.sources.newsrss import parse_bing_news, parse_google_news
from monitor.sources.search import expand, queries_for
from monitor.sources.telegram import parse_telegram

FIXTURES = Path(__file__).parent / "fixtures" / "search"

RULES = """\
rules:
  - id: face-recognition
    title: Facial recognition
    discover: true
    match:
      all:
        - any:
            - facial recognition
            - facial-recognition
            - face scans
            - facial recognition technology
            - regex: '\\bscan(?:s|ned)?\\s+faces\\b'
            - recogni*
        - not: [cows]
  - id: leak-zh
    title: 个人信息泄露
    discover: true
    match:
      any: [个人信息泄露, 人脸识别]
  - id: not-for-search
    title: Budgets
    match: budget
"""


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def rules(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(RULES, encoding="utf-8")
    ruleset, problems = load_rules([path])
    assert not problems
    return ruleset


# -- the services' formats -------------------------------------------------------


def test_google_news_outlet_kept_suffix_stripped_own_url_unwrapped():
    items = parse_google_news(fixture("google_news.xml"))
    assert [i.title for i in items] == [
        "Transit authority pauses facial recognition at ticket gates",
        "Clinic chain confirms data breach",
        "Stadium drops face scans after fans object",
    ]
    assert [i.outlet for i in items] == ["Harbour Courier", "Valley Ledger", "The Pitch Report"]
    # no article URL in the item: the redirect, identified by its GUID
    assert items[0].link.startswith("https://news.google.com/rss/articles/")
    assert items[0].guid == "CBMiWmh0dHBzOi8vd3d3LmhhcmJvdXItY291cmllci5leGFtcGxlL2NpdHkvZ2F0ZXM"
    assert items[0].summary == ""  # the description only repeated headline and outlet
    # the outlet's own URL, when the item carries it
    assert items[1].link == "https://www.valley-ledger.example/health/2026/12/01/clinic-breach.html"
    assert items[0].published == datetime(2026, 12, 1, 19, 5, tzinfo=UTC)
    assert items[0].lang == "en"
    zh = parse_google_news(fixture("google_news_zh.xml"))
    assert zh[0].title == "小区门禁强制人脸识别引业主不满" and zh[0].outlet == "湖滨晚报"
    assert zh[0].lang == "zh"


def test_bing_news_article_url_unwrapped_from_the_redirect():
    items = parse_bing_news(fixture("bing_news.xml"))
    assert [i.link for i in items] == [
        "https://www.harbour-courier.example/city/gates?utm_source=bing",
        "https://northgate-times.example/business/retailer-fined",
    ]
    assert items[0].outlet == "Harbour Courier" and items[0].guid is None
    assert items[1].summary.startswith("A regulator says shoppers")


def test_gdelt_article_list_with_seendate_language_and_domain():
    items = parse_gdelt(fixture("gdelt.json"))
    assert [i.lang for i in items] == ["en", "zh", "en"]
    assert items[0].published == datetime(2026, 12, 1, 19, 15, tzinfo=UTC)
    assert items[1].title == "小区门禁强制人脸识别引业主不满"
    assert items[2].outlet == "valley-ledger.example"
    assert parse_gdelt(b"{}") == []  # GDELT's answer when nothing matched


def test_mastodon_posts_to_text_with_author_and_language_and_no_boosts():
    items = parse_mastodon(fixture("mastodon_tag.json"))
    assert len(items) == 2  # the boost of the first post is not a story
    first, second = items
    assert first.summary.startswith("Our city council votes tonight on banning police")
    assert "<" not in first.summary and "#FacialRecognition" in first.summary
    assert first.outlet == "@ada@privacy.social.example" and first.lang == "en"
    assert first.guid == "https://privacy.social.example/users/ada/statuses/113587204411110001"
    assert second.lang == "zh" and second.summary.startswith("数据泄露: 某快递公司")


def test_hackernews_stories_link_to_the_article_or_the_discussion():
    items = parse_hackernews(fixture("hackernews.json"))
    assert items[0].link == "https://valley-ledger.example/health/2026/12/01/clinic-breach.html"
    assert items[0].guid == "hn:43512345"
    assert items[1].link == "https://news.ycombinator.com/item?id=43512001"
    assert (
        items[1].summary == "My gym now wants a face scan to enter. Is this legal where you live?"
    )


def test_telegram_preview_messages_with_post_ids_times_and_text():
    items = parse_telegram(fixture("telegram.html"), "https://t.me/s/privacywatchdaily")
    assert [i.guid for i in items] == ["tg:privacywatchdaily/1841", "tg:privacywatchdaily/1843"]
    assert items[0].title == "Transit authority pauses facial recognition at ticket gates"
    assert "complaints from riders" in items[0].summary
    assert items[0].link == "https://t.me/privacywatchdaily/1841"
    assert items[1].published == datetime(2026, 12, 1, 20, 5, tzinfo=UTC)
    with pytest.raises(SourceError) as ei:
        parse_telegram(b"<html><body><div class='tgme_page'>A channel</div></body></html>", "x")
    assert ei.value.reason == "not_a_feed"


@pytest.mark.parametrize(
    "parse,body,reason,words",
    [
        (
            parse_gdelt,
            b"Please limit requests to one every 5 seconds or contact us for larger queries.",
            "rate_limited",
            "gdelt refused",
        ),
        (parse_gdelt, b"The specified phrase is too short.", "query_rejected", "too short"),
        (parse_google_news, b"<html><body>unusual traffic</body></html>", "not_a_feed", "HTML"),
        (parse_mastodon, b'{"error":"Too many requests"}', "rate_limited", "Too many"),
        (
            parse_hackernews,
            b'{"message":"Invalid syntax","status":400}',
            "query_rejected",
            "Invalid",
        ),
    ],
)
def test_refusals_and_rejections_in_the_body_are_named(parse, body, reason, words):
    with pytest.raises(SourceError) as ei:
        parse(body)
    assert ei.value.reason == reason and words in str(ei.value)
    assert "\n" not in str(ei.value)


# -- config ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source,words",
    [
        ("{name: g, kind: google_news}", "needs 'query'"),
        ("{name: g, kind: bing_news, query: x, queries: from_rules}", "not both"),
        ("{name: g, kind: gdelt, queries: everything}", "from_rules"),
        ("{name: g, kind: gdelt, query: x, gdelt: {timespan: soon}}", "GDELT timespan"),
        ("{name: m, kind: mastodon}", "needs 'hashtag'"),
        ("{name: m, kind: mastodon, hashtag: 'two words'}", "not a hashtag"),
        ("{name: m, kind: mastodon, hashtag: privacy, queries: from_rules}", "'queries'"),
        ("{name: t, kind: telegram}", "needs 'channel'"),
        ("{name: r, kind: rss, url: 'https://x.example/', query: x}", "only for google_news"),
        ("{name: r, kind: rss}", "missing required key 'url'"),
        ("{name: g, kind: google_news, query: x, api_base: 'ftp://x'}", "not an http(s) URL"),
    ],
)
def test_search_config_errors_name_the_line(tmp_path, source, words):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"sources:\n  - name: ok\n    kind: rss\n    url: https://a.example/\n  - {source}\n"
    )
    with pytest.raises(ConfigError) as ei:
        load_config(cfg)
    assert "config.yaml:5" in str(ei.value) and words in str(ei.value), str(ei.value)


def test_each_kind_builds_its_url_and_takes_an_api_base():
    cases = {
        "google_news": ({"query": '"facial recognition"'}, "/rss/search", {"hl": ["en-US"]}),
        "bing_news": ({"query": "privacy", "region": "gb"}, "/news/search", {"mkt": ["en-GB"]}),
        "gdelt": (
            {"query": "biometrics", "gdelt": {"sourcecountry": "uk", "timespan": "24h"}},
            "/api/v2/doc/doc",
            {"query": ["biometrics sourcecountry:uk"], "mode": ["ArtList"], "timespan": ["24h"]},
        ),
        "hackernews": ({"query": "privacy"}, "/api/v1/search_by_date", {"tags": ["story"]}),
        "mastodon": ({"hashtag": "#privacy"}, "/api/v1/timelines/tag/privacy", {}),
        "telegram": ({"channel": "privacywatchdaily"}, "/s/privacywatchdaily", {}),
    }
    for kind, (opts, path, params) in cases.items():
        src = SourceConfig.model_validate(
            {"name": kind, "kind": kind, "api_base": "http://127.0.0.1:8099", **opts}
        )
        parts = urlsplit(src.url)
        assert parts.netloc == "127.0.0.1:8099" and parts.path == path, src.url
        got = parse_qs(parts.query)
        assert all(got[k] == v for k, v in params.items()), (kind, got)


# -- queries from the rules ----------------------------------------------------------


def test_queries_from_rules_with_discover(rules):
    google = SourceConfig(name="gn", kind="google_news", queries="from_rules")
    qs = queries_for(google, rules.rules)
    # hyphen variant and the longer phrase are found by "facial recognition";
    # the regex and the prefix are not sent; the budget rule has no discover
    assert [(q.lang, q.text) for q in qs] == [
        (None, '"facial recognition" OR "face scans"'),
        ("zh", '"个人信息泄露" OR "人脸识别"'),
    ]
    parts = expand([google], rules.rules)
    assert [p.lang for p in parts] == [None, "zh"]
    zh = parse_qs(urlsplit(parts[1].url).query)
    assert zh["hl"] == ["zh-CN"] and zh["ceid"] == ["CN:zh-Hans"]
    assert all(p.name.startswith("gn#") and p.queries is None for p in parts)
    gdelt = SourceConfig.model_validate(
        {"name": "g", "kind": "gdelt", "queries": "from_rules", "gdelt": {"sourcelang": "english"}}
    )
    assert [q.text for q in queries_for(gdelt, rules.rules)] == [
        '("facial recognition" OR "face scans") sourcelang:english',
        '("个人信息泄露" OR "人脸识别") sourcelang:chinese',
    ]
    hn = SourceConfig(name="hn", kind="hackernews", queries="from_rules")
    [q] = queries_for(hn, rules.rules)  # English only
    assert q.text == "facial recognition face scans"
    assert parse_qs(urlsplit(expand([hn], rules.rules)[0].url).query)["optionalWords"] == [
        "facial,recognition,face,scans"
    ]


def test_long_queries_are_split_to_the_service_limit(tmp_path):
    terms = ", ".join(f"privacy term {i}" for i in range(60))
    path = tmp_path / "many.yaml"
    path.write_text(
        f"rules:\n  - id: many\n    title: Many\n    discover: true\n    match: {{any: [{terms}]}}\n",
        encoding="utf-8",
    )
    many, problems = load_rules([path])
    assert not problems
    src = SourceConfig(name="b", kind="bing_news", queries="from_rules")
    qs = queries_for(src, many.rules)
    assert len(qs) > 1 and all(len(q.text) <= 400 for q in qs)
    sent = [t for q in qs for t in q.terms]
    assert sent == [f"privacy term {i}" for i in range(60)]


def test_sources_queries_prints_what_is_sent(tmp_path, rules, capsys):
    from monitor.cli import main

    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yaml").write_text(RULES, encoding="utf-8")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"state: {tmp_path / 's.db'}\nrules: [{tmp_path / 'rules'}]\nsources:\n"
        "  - {name: gn, kind: google_news, queries: from_rules}\n"
        "  - {name: tag, kind: mastodon, hashtag: privacy}\n"
        "  - {name: feed, kind: rss, url: 'https://a.example/feed.xml'}\n",
        encoding="utf-8",
    )
    assert main(["sources", "--queries", "-c", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert '  query: "facial recognition" OR "face scans"' in out
    assert '  query: "个人信息泄露" OR "人脸识别"' in out
    assert "tag (mastodon)" in out and "/api/v1/timelines/tag/privacy" in out
    assert "feed" not in out


# -- in the service --------------------------------------------------------------------


def rss_items(items: list[tuple[str, str]]) -> bytes:
    body = "".join(
        f"<item><title>{t} - Outlet</title><link>https://news.google.com/rss/articles/{g}</link>"
        f"<guid isPermaLink='false'>{g}</guid><source url='https://outlet.example'>Outlet</source></item>"
        for g, t in items
    )
    return f"<?xml version='1.0'?><rss version='2.0'><channel><title>q</title>{body}</channel></rss>".encode()


def monitor_for(tmp_path, sources, rules, **fetch):
    config = Config(
        state=tmp_path / "s.db", sources=sources, fetch=FetchSettings(per_host_delay=0, **fetch)
    )
    return Monitor(config, rules)


def test_baseline_silent_then_only_never_seen_results_alert(tmp_path, http_server, rules):
    first = [(f"g{i}", f"Facial recognition story {i}") for i in range(5)]
    http_server.add("/rss/search", rss_items(first), content_type="application/rss+xml")
    src = SourceConfig(
        name="gn", kind="google_news", query="facial recognition", api_base=http_server.url("")
    )
    mon = monitor_for(tmp_path, [src], rules)
    try:
        p = mon.poll(src)
        assert p.baseline and p.new == 5 and p.matched == 0
        # reordered, one dropped, one new
        second = [first[3], ("g9", "Facial recognition story 9"), first[0], first[2], first[1]]
        http_server.add("/rss/search", rss_items(second), content_type="application/rss+xml")
        p = mon.poll(src)
        assert (p.new, p.matched) == (1, 1)
        # the dropped one reappears, the new one drops out and comes back
        third = [first[4], first[3], first[0]]
        http_server.add("/rss/search", rss_items(third), content_type="application/rss+xml")
        assert mon.poll(src).new == 0
        http_server.add("/rss/search", rss_items(second), content_type="application/rss+xml")
        assert mon.poll(src).new == 0
        assert "q=facial+recognition" in http_server.requests[-1].path
    finally:
        mon.close()


def test_a_story_found_by_search_and_by_feed_alerts_once(tmp_path, http_server, rules):
    feed_empty = (
        b"<?xml version='1.0'?><rss version='2.0'><channel><title>c</title></channel></rss>"
    )
    http_server.add("/feed.xml", feed_empty, content_type="application/rss+xml")
    bing_empty = fixture("bing_news.xml").split(b"<item>")[0] + b"</channel></rss>"
    http_server.add("/news/search", bing_empty, content_type="application/rss+xml")
    feed = SourceConfig(name="courier", kind="rss", url=http_server.url("/feed.xml"))
    bing = SourceConfig(
        name="bing", kind="bing_news", query='"facial recognition"', api_base=http_server.url("")
    )
    mon = monitor_for(tmp_path, [feed, bing], rules)
    try:
        mon.cycle()  # baselines
        item = (
            "<item><title>Transit authority pauses facial recognition at ticket gates</title>"
            "<link>https://www.harbour-courier.example/city/gates</link>"
            "<guid>courier-7</guid></item>"
        )
        http_server.add(
            "/feed.xml",
            feed_empty.replace(b"</channel>", item.encode() + b"</channel>"),
            content_type="application/rss+xml",
        )
        assert mon.poll(feed).matched == 1
        http_server.add_fixture("/news/search", "search/bing_news.xml", "application/rss+xml")
        p = mon.poll(bing)
        # the courier's article came back through Bing's redirect: not again;
        # the other outlet's story is new and matches
        assert (p.new, p.matched) == (2, 1)
    finally:
        mon.close()


def test_429_and_quota_bodies_are_named_failures_with_backoff(tmp_path, http_server, rules):
    http_server.add("/api/v2/doc/doc", b"too many", status=429, headers={"Retry-After": "120"})
    src = SourceConfig(name="g", kind="gdelt", query="biometrics", api_base=http_server.url(""))
    mon = monitor_for(tmp_path, [src], rules)
    try:
        p = mon.poll(src)
        assert p.reason == "rate_limited" and "429" in (p.error or "")
        state = mon.store.source_state("g")
        assert state.failures == 1 and state.next_check_at >= mon.clock() + 100
        http_server.add(
            "/api/v2/doc/doc",
            b"Please limit requests to one every 5 seconds.",
            content_type="text/html",
        )
        p = mon.poll(src)
        assert p.reason == "rate_limited" and mon.store.source_state("g").failures == 2
        http_server.add(
            "/api/v2/doc/doc",
            b"Your search contained a keyword that was too short.",
            content_type="text/html",
        )
        p = mon.poll(src)
        assert p.reason == "query_rejected" and p.error == (
            "gdelt rejected the query: Your search contained a keyword that was too short."
        )
        http_server.add_fixture("/api/v2/doc/doc", "search/gdelt.json", "application/json")
        assert mon.poll(src).ok and mon.store.source_state("g").failures == 0
    finally:
        mon.close()


def test_a_rejected_query_with_a_400_is_one_line(tmp_path, http_server, rules):
    http_server.add(
        "/api/v1/search_by_date",
        json.dumps({"message": "invalid query: unbalanced quote", "status": 400}),
        status=400,
        content_type="application/json",
    )
    src = SourceConfig(name="hn", kind="hackernews", query='"privacy', api_base=http_server.url(""))
    mon = monitor_for(tmp_path, [src], rules)
    try:
        p = mon.poll(src)
        assert p.reason == "query_rejected"
        assert (
            p.error == "hackernews rejected the query '\"privacy': invalid query: unbalanced quote"
        )
    finally:
        mon.close()


def test_gdelt_sources_together_make_at_most_one_request_per_gap(
    tmp_path, http_server, rules, monkeypatch
):
    gap = 1.0
    kind = registry.KINDS["gdelt"]
    assert kind.search is not None and kind.search.min_gap == 5.0  # what GDELT asks for
    monkeypatch.setitem(
        registry.KINDS,
        "gdelt",
        dataclasses.replace(kind, search=dataclasses.replace(kind.search, min_gap=gap)),
    )
    http_server.add_fixture("/api/v2/doc/doc", "search/gdelt.json", "application/json")
    http_server.add_fixture("/feed.xml", "atom.xml", "application/atom+xml")
    srcs = [
        SourceConfig(name=f"g{i}", kind="gdelt", query=f"term{i}", api_base=http_server.url(""))
        for i in range(4)
    ] + [SourceConfig(name="feed", kind="rss", url=http_server.url("/feed.xml"))]
    mon = monitor_for(tmp_path, srcs, rules, per_host_concurrency=8)
    try:
        out = mon.cycle()
        assert sorted(p.source for p in out.polls if p.ok) == ["feed", "g0", "g1", "g2", "g3"]
        starts = sorted(r.time for r in http_server.requests if r.path.startswith("/api/"))
        assert len(starts) == 4
        # counted at the server: no two gdelt requests within half a gap
        # (unpaced, all four would arrive at once; the half allows for a
        # loaded machine recording an arrival late)
        for t in starts:
            assert sum(1 for u in starts if t <= u < t + gap / 2) == 1, starts
        # the next cycle keeps the pace from the last request of this one
        mon.cycle(srcs[:1])
        again = sorted(r.time for r in http_server.requests if r.path.startswith("/api/"))
        assert again[-1] - again[-2] >= gap / 2
    finally:
        mon.close()


def test_telegram_asks_robots_txt_first(tmp_path, http_server, rules):
    http_server.add_fixture("/s/privacywatchdaily", "search/telegram.html", "text/html")
    http_server.add("/robots.txt", b"User-agent: *\nDisallow: /s/\n", content_type="text/plain")
    src = SourceConfig(
        name="tg", kind="telegram", channel="privacywatchdaily", api_base=http_server.url("")
    )
    mon = monitor_for(tmp_path, [src], rules)
    try:
        p = mon.poll(src)
        assert p.reason == "robots"
        http_server.add("/robots.txt", b"User-agent: *\nAllow: /\n", content_type="text/plain")
        mon.robots._hosts.clear()
        p = mon.poll(src)
        assert p.ok and p.new == 2
    finally:
        mon.close()


def test_from_rules_without_a_discover_rule_is_a_problem_check_names(tmp_path, capsys):
    from monitor.cli import main

    (tmp_path / "r.yaml").write_text(
        "rules:\n  - {id: plain, title: Plain, match: budget}\n", encoding="utf-8"
    )
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"state: {tmp_path / 's.db'}\nrules: {tmp_path / 'r.yaml'}\nsources:\n"
        "  - {name: gn, kind: google_news, queries: from_rules}\n",
        encoding="utf-8",
    )
    assert main(["check", "-c", str(cfg)]) == 1
    out = capsys.readouterr().out
    assert "sources.0 (gn): 'queries: from_rules' but no enabled rule has 'discover: true'" in out
    assert main(["sources", "--queries", "-c", str(cfg)]) == 0
    assert "gn (google_news): queries: from_rules, but no rule has discover: true" in (
        capsys.readouterr().out
    )


def readme_search_section() -> str:
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    return text[text.index("\n### Search sources\n") :].split("\n## ", 1)[0]


def test_readme_discover_rule_loads_passes_and_builds_the_queries_it_names(tmp_path):
    import re

    [block] = re.findall(r"```yaml\n(.*?)```", readme_search_section(), re.S)
    path = tmp_path / "discover-example.yaml"
    path.write_text(block, encoding="utf-8")
    ruleset, problems = load_rules([path])
    assert not problems and ruleset.run_tests() == []
    assert ruleset.rules[0].discover
    src = SourceConfig(name="gn", kind="google_news", queries="from_rules")
    assert [q.text for q in queries_for(src, ruleset.rules)] == [
        '"facial recognition" OR "face recognition"',
        '"人脸识别"',
    ]


def test_a_rule_extending_another_can_turn_discover_on(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(
        "rules:\n  - {id: base, title: Base, match: [facial recognition]}\n"
        "  - {id: wide, extend: base, replace: {discover: true}}\n",
        encoding="utf-8",
    )
    ruleset, problems = load_rules([path])
    assert not problems
    assert [r.discover for r in ruleset.rules] == [False, True]


def test_a_from_rules_source_is_polled_and_listed_as_its_searches(tmp_path, http_server, capsys):
    from monitor.cli import main
    from monitor.config import load_config
    from monitor.service import load_checked_rules

    http_server.add_fixture("/rss/search", "search/google_news.xml", "application/rss+xml")
    (tmp_path / "r.yaml").write_text(RULES, encoding="utf-8")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"state: {tmp_path / 's.db'}\nrules: {tmp_path / 'r.yaml'}\nsources:\n"
        f"  - {{name: gn, kind: google_news, queries: from_rules, api_base: '{http_server.url('')}'}}\n",
        encoding="utf-8",
    )
    config = load_config(cfg)
    ruleset, problems = load_checked_rules(config)
    assert not problems
    mon = Monitor(config, ruleset)
    try:
        out = mon.cycle()
    finally:
        mon.close()
    assert sorted(p.source.split("-")[0] for p in out.polls) == ["gn#any", "gn#zh"]
    assert all(p.ok and p.baseline for p in out.polls)
    sent = sorted(parse_qs(urlsplit(r.path).query)["q"][0] for r in http_server.requests)
    assert sent == ['"facial recognition" OR "face scans"', '"个人信息泄露" OR "人脸识别"']
    assert main(["sources", "-c", str(cfg)]) == 0
    listed = capsys.readouterr().out.splitlines()[1:]
    assert [line.split()[:3] for line in listed] == [
        [p.source, "google_news", "ok"] for p in sorted(out.polls, key=lambda p: p.source)
    ]


def test_known_results_are_left_out_unread_and_the_rest_kept():
    body = fixture("mastodon_tag.json")
    seen = "guid:https://privacy.social.example/users/ada/statuses/113587204411110001"
    asked: list[list[str]] = []

    def known(keys):
        asked.append(keys)
        return {seen} & set(keys)

    items = parse_mastodon(body, known)
    assert [i.lang for i in items] == ["zh"] and len(asked[0]) == 2  # the boost is never a key
    google = fixture("google_news.xml")
    all_items = parse_google_news(google)
    first = "guid:" + (all_items[0].guid or "")
    assert [i.title for i in parse_google_news(google, lambda k: {first} & set(k))] == [
        i.title for i in all_items[1:]
    ]
    bing = parse_bing_news(
        fixture("bing_news.xml"),
        lambda k: {"url:https://northgate-times.example/business/retailer-fined"} & set(k),
    )
    assert [i.outlet for i in bing] == ["Harbour Courier"]


@pytest.mark.parametrize("quiet", [None, "12h"])
def test_a_google_news_redirect_to_a_story_already_alerted(tmp_path, http_server, rules, quiet):
    """No article URL in the item: the copy detector, or a quiet period
    (same title from another source), keeps the second alert away."""
    from monitor.config import ChannelConfig, DeliverySettings

    empty = b"<?xml version='1.0'?><rss version='2.0'><channel><title>c</title></channel></rss>"
    http_server.add("/feed.xml", empty, content_type="application/rss+xml")
    http_server.add("/rss/search", empty, content_type="application/rss+xml")
    feed = SourceConfig(name="courier", kind="rss", url=http_server.url("/feed.xml"))
    gn = SourceConfig(name="gn", kind="google_news", query="x", api_base=http_server.url(""))
    config = Config(
        state=tmp_path / "s.db",
        sources=[feed, gn],
        fetch=FetchSettings(per_host_delay=0),
        channels={"desk": ChannelConfig(urls=["json://127.0.0.1:9/hook"])},
        delivery=DeliverySettings(quiet=quiet),
    )
    mon = Monitor(config, rules)
    try:
        mon.cycle()  # baselines
        title = "Transit authority pauses facial recognition at ticket gates"
        item = (
            f"<item><title>{title}</title><link>https://www.harbour-courier.example/city/gates</link>"
            "<guid>courier-7</guid><description>The city transit authority stopped face "
            "matching at its ticket gates while a privacy review runs.</description></item>"
        )
        http_server.add(
            "/feed.xml",
            empty.replace(b"</channel>", item.encode() + b"</channel>"),
            content_type="application/rss+xml",
        )
        assert mon.poll(feed).queued == 1
        http_server.add_fixture("/rss/search", "search/google_news.xml", "application/rss+xml")
        p = mon.poll(gn)
        # the Pitch Report's face scans are new; the courier's story is not again
        rows = mon.store.db.execute(
            "SELECT st.title FROM outbox o JOIN stories st ON st.id=o.story_id WHERE st.source='gn'"
        ).fetchall()
        assert [r["title"] for r in rows] == ["Stadium drops face scans after fans object"], p
    finally:
        mon.close()
