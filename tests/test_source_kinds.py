"""News sitemaps and JSON APIs by dot paths: read right, bad input named."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config import Config, ConfigError, FetchSettings, JsonPaths, SourceConfig, load_config
from monitor.engine import RuleSet
from monitor.service import Monitor
from monitor.sources.errors import SourceError
from monitor.sources.jsonapi import parse_json_api
from monitor.sources.sitemap import parse_sitemap

FIXTURES = Path(__file__).parent / "fixtures"


def test_news_sitemap_titles_dates_keywords_and_plain_entries():
    items = parse_sitemap(
        (FIXTURES / "news_sitemap.xml").read_bytes(), "https://www.harbour-courier.example/news.xml"
    )
    assert [i.title for i in items] == [
        "Ferry terminal to trial face scanners at boarding gates",
        "Rowing club wins winter regatta",
        "library opening hours",
    ]
    assert items[0].summary == "Keywords: biometrics, ferries, facial recognition"
    assert items[0].published == datetime(2025, 12, 1, 6, 45, tzinfo=UTC)
    assert items[0].lang == "en"
    assert (
        items[2].link
        == "https://www.harbour-courier.example/city/2025/11/30/library-opening-hours.html"
    )
    assert items[2].published == datetime(2025, 11, 30, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "body,reason,words",
    [
        (
            b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>https://x.example/a.xml'
            b"</loc></sitemap></sitemapindex>",
            "not_a_feed",
            "sitemap index of 1",
        ),
        (b"<html><body>no</body></html>", "not_a_feed", "not a sitemap"),
        (b"<urlset", "not_a_feed", "not well-formed"),
        (
            b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file:///etc/hosts">]><urlset/>',
            "parse_error",
            "entities",
        ),
    ],
)
def test_bad_sitemaps_are_named(body, reason, words):
    with pytest.raises(SourceError) as ei:
        parse_sitemap(body, "https://x.example/s.xml")
    assert ei.value.reason == reason and words in str(ei.value)


API = {
    "status": "ok",
    "data": {
        "articles": [
            {
                "id": 9001,
                "headline": "Regulator opens inquiry into <em>school</em> face scans",
                "links": {"web": "/news/9001"},
                "standfirst": "Parents complained.",
                "meta": {"published_at": 1764576000},
            },
            {
                "id": 9002,
                "headline": "Budget passes",
                "links": {"web": "https://api.example/news/9002"},
                "meta": {"published_at": "2025-12-01T10:00:00Z"},
            },
            "not an object",
        ]
    },
}
PATHS = JsonPaths(
    items="data.articles",
    title="headline",
    link="links.web",
    summary="standfirst",
    published="meta.published_at",
    guid="id",
)


def test_json_api_by_dot_paths():
    items = parse_json_api(json.dumps(API).encode(), "https://api.example/v1/latest", PATHS)
    assert [i.title for i in items] == [
        "Regulator opens inquiry into school face scans",
        "Budget passes",
    ]
    assert items[0].link == "https://api.example/news/9001" and items[0].guid == "9001"
    assert items[0].published == datetime(2025, 12, 1, 8, 0, tzinfo=UTC)
    assert items[1].summary == "" and items[1].published == datetime(2025, 12, 1, 10, 0, tzinfo=UTC)
    top = parse_json_api(
        b'[{"t": "x", "m": [{"u": "https://a.example/1"}]}]',
        "https://a.example/",
        JsonPaths(title="t", link="m.0.u"),
    )
    assert top[0].link == "https://a.example/1"


def test_json_api_bad_input_is_named():
    with pytest.raises(SourceError) as ei:
        parse_json_api(b'{"data": {"articles": 5}}', "https://api.example/", PATHS)
    assert ei.value.reason == "not_a_feed" and "'data.articles'" in str(ei.value)
    with pytest.raises(SourceError) as ei:
        parse_json_api(b"<html>", "https://api.example/", PATHS)
    assert ei.value.reason == "not_a_feed"


def test_json_source_without_paths_is_a_config_error_at_its_line(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "sources:\n  - name: api\n    kind: json\n    url: https://api.example/v1\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as ei:
        load_config(cfg)
    assert "config.yaml:2" in str(ei.value) and "'json'" in str(ei.value)


def test_sitemap_and_json_sources_in_the_service(tmp_path, http_server):
    sm = http_server.add_fixture("/news.xml", "news_sitemap.xml", "application/xml")
    api = http_server.add("/api", json.dumps(API), content_type="application/json")
    srcs = [
        SourceConfig(name="courier", kind="sitemap", url=sm),
        SourceConfig.model_validate(
            {"name": "api", "kind": "json", "url": api, "json": PATHS.model_dump()}
        ),
    ]
    mon = Monitor(
        Config(state=tmp_path / "s.db", sources=srcs, fetch=FetchSettings(per_host_delay=0)),
        RuleSet([]),
    )
    try:
        out = {p.source: p for p in mon.cycle().polls}
        assert out["courier"].new == 3 and out["api"].new == 2
    finally:
        mon.close()


# -- automatic mode for front pages --------------------------------------------


def test_front_page_articles_are_found_without_selectors():
    from monitor.sources.frontpage import find_articles

    items = find_articles(
        (FIXTURES / "front_page.html").read_bytes(), "https://www.lakesideherald.example/"
    )
    assert [i.title for i in items] == [
        "Police trial live facial recognition at Saturday market",
        "Clinic admits patient records were left on an open server",
        "Council budget vote delayed again after late amendments",
        "湖滨区政府计划在所有公交车站安装人脸识别摄像头",
    ]
    assert items[1].link == "https://www.lakesideherald.example/news/health/article-48213"
    assert all(i.lang == "en" for i in items)


def test_front_page_without_articles_is_named():
    from monitor.sources.frontpage import find_articles

    with pytest.raises(SourceError) as ei:
        find_articles(
            b"<html><body><nav><a href='/a/b-c-d'>One two three four five</a></nav></body></html>",
            "https://x.example/",
        )
    assert ei.value.reason == "selector_empty" and "automatic mode" in str(ei.value)


def test_auto_and_select_are_exclusive(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "sources:\n  - name: front\n    kind: html\n    url: https://x.example/\n    auto: true\n"
        "    select: {item: li}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as ei:
        load_config(cfg)
    assert "config.yaml:2" in str(ei.value) and "not both" in str(ei.value)
    cfg.write_text(
        "sources:\n  - {name: f, kind: rss, url: 'https://x.example/', auto: true}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as ei:
        load_config(cfg)
    assert "only for html" in str(ei.value)


@pytest.mark.parametrize(
    "yaml_text,words",
    [
        (
            "sources:\n  - name: a\n    kind: rss\n    url: https://x.example/\n    proxy: proxy.internal:3128\n",
            "config.yaml:5:5: proxy: 'proxy.internal:3128' is not a proxy URL",
        ),
        (
            "fetch:\n  allow_networks: [10.0.0.0/33]\n",
            "config.yaml:2:3: allow_networks: '10.0.0.0/33' is not a network",
        ),
        (
            "sources:\n  - name: a\n    kind: rss\n    url: https://x.example/\n    expect_new_within: soon\n",
            "config.yaml:5:5: expect_new_within: 'soon' is not a duration",
        ),
        (
            "fetch:\n  per_host_concurrency: 0\n",
            "config.yaml:2:3: '0' for 'per_host_concurrency' is too small; expected at least 1",
        ),
    ],
)
def test_bad_watcher_settings_are_one_line_with_file_and_line(tmp_path, yaml_text, words):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError) as ei:
        load_config(cfg)
    lines = str(ei.value).splitlines()
    assert len(lines) == 1 and words in lines[0], lines


def test_unknown_health_channel_is_named(tmp_path):
    from monitor.service import load_checked_rules

    cfg = tmp_path / "config.yaml"
    (tmp_path / "rules").mkdir()
    cfg.write_text("channels:\n  desk: {urls: []}\nhealth:\n  channels: [dsek]\n", encoding="utf-8")
    _, problems = load_checked_rules(load_config(cfg))
    assert any(
        "config.yaml:4:14: health.channels: unknown channel 'dsek'; expected one of desk" in str(p)
        for p in problems
    )
