"""Watchers: fixture feeds and pages, served on loopback and fetched for
real, turned into Stories."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from httpserver import LocalServer

from monitor.config import FetchSettings, Select, SourceConfig
from monitor.fetch import Fetcher, FetchResult
from monitor.sources import SourceError, parse
from monitor.sources.dates import parse_date
from monitor.sources.text import html_to_text, primary_lang
from monitor.textdecode import choose_encoding, decode_html

FIXTURES = Path(__file__).parent / "fixtures"
UTC = UTC

LISTING_SELECT = Select(
    item="ul.news-list > li", title="h4 a", link="h4 a", summary="p.summary", published=".date"
)
GBK_SELECT = Select(item="ul.list_news li", summary="p.zy", published="span.time")


@pytest.fixture
def fetcher():
    f = Fetcher(FetchSettings(deadline=10))
    yield f
    f.close()


def serve_and_parse(
    server: LocalServer,
    fetcher: Fetcher,
    path: str,
    fixture: str,
    content_type: str,
    kind: str = "rss",
    select: Select | None = None,
    lang: str | None = None,
):
    url = server.add_fixture(path, fixture, content_type)
    source = SourceConfig(name="test-source", kind=kind, url=url, select=select, lang=lang)
    return parse(source, fetcher.get(url)), url


def result(
    body: bytes, url: str = "https://news.example/feed", content_type: str | None = None
) -> FetchResult:
    headers = requests.structures.CaseInsensitiveDict(
        {"Content-Type": content_type} if content_type else {}
    )
    return FetchResult(
        url=url,
        status=200,
        headers=headers,
        body=body,
        not_modified=False,
        etag=None,
        last_modified=None,
    )


def rss_source(**kw) -> SourceConfig:
    return SourceConfig(name="feed", kind="rss", url="https://news.example/feed", **kw)


# -- RSS 2.0 (WordPress) --------------------------------------------------------


def test_wordpress_rss(http_server, fetcher):
    stories, _ = serve_and_parse(
        http_server, fetcher, "/feed/", "wordpress_rss2.xml", "application/rss+xml; charset=UTF-8"
    )
    assert [s.title for s in stories] == [
        "Police Trial of Live Facial Recognition Expands to Shopping Centres",
        "Retailer Confirms Data Breach Exposing 2.3 Million Loyalty Card Records",
        "Court Hears Challenge to \u2018Smart\u2019 Doorbell Footage Sharing",
        "Our End-of-Year Fundraiser Is Now Open",
        "Five Podcasts to Listen to Over the Holidays",
    ]
    first = stories[0]
    assert first.source == "test-source"
    assert first.key == "guid:https://www.privacywire.example/?p=4101"
    assert first.link.startswith(
        "https://www.privacywire.example/2019/12/20/police-live-facial-recognition"
    )
    assert first.published == datetime(2019, 12, 20, 14, 35, tzinfo=UTC)
    assert first.summary.startswith("Cameras that match shoppers\u2019 faces")
    assert "<p>" not in first.summary and "appeared first on" not in first.summary
    assert "biometric scans were carried out without consent" in first.body  # content:encoded
    assert first.lang == "en"
    assert stories[2].summary.endswith("home CCTV & the law.")  # entities decoded


def test_rss_published_dates_are_aware_utc(http_server, fetcher):
    stories, _ = serve_and_parse(
        http_server, fetcher, "/feed/", "wordpress_rss2.xml", "application/rss+xml"
    )
    for s in stories:
        assert s.published is not None and s.published.utcoffset().total_seconds() == 0


def test_utm_parameters_are_not_part_of_url_keys():
    body = (FIXTURES / "wordpress_rss2.xml").read_bytes()
    # Remove the GUIDs so identity falls back to the URL.
    body = body.replace(b"<guid", b"<!--guid").replace(b"</guid>", b"</guid-->")
    stories = parse(rss_source(), result(body, content_type="application/rss+xml"))
    assert (
        stories[0].key
        == "url:https://www.privacywire.example/2019/12/20/police-live-facial-recognition-shopping-centres/"
    )
    for s in stories:
        assert s.key.startswith("url:") and "utm_" not in s.key
        assert "utm_source=rss" in s.link  # the link itself is left as published


def test_duplicate_guids_fall_back_to_url_keys(http_server, fetcher):
    stories, _ = serve_and_parse(
        http_server, fetcher, "/dup.xml", "rss_duplicate_guids.xml", "text/xml"
    )
    keys = [s.key for s in stories]
    assert (
        keys[0] == "url:https://metrotech.example.com/news/face-payments-stations"
    )  # utm and fbclid gone
    # The unique GUID still wins for the third item, although its URL is the second's.
    assert keys == [
        "url:https://metrotech.example.com/news/face-payments-stations",
        "url:https://metrotech.example.com/news/speaker-recordings-contractors",
        "guid:metrotech-7781",
    ]


# -- Atom, RSS 1.0, JSON Feed -----------------------------------------------------


def test_atom(http_server, fetcher):
    stories, url = serve_and_parse(
        http_server, fetcher, "/updates.atom", "atom.xml", "application/atom+xml"
    )
    assert [s.title for s in stories] == [
        "Schools Told to Stop Using Face Scanning for Lunch Payments",
        "Health App Shared Symptom Data With Advertisers, Researchers Find",
        "Annual Members' Meeting: Agenda Published",
    ]
    # A relative link resolves against the feed's own (final) URL.
    assert stories[0].link == http_server.url("/updates/2019/schools-face-scanning-lunch")
    assert stories[0].published == datetime(2019, 12, 21, 8, 30, tzinfo=UTC)  # +01:00 to UTC
    assert stories[0].summary.startswith("The regulator said pupils\u2019 biometric data")
    assert stories[1].published == datetime(2019, 12, 19, 16, 20, tzinfo=UTC)  # from <updated>
    assert stories[1].key == "guid:tag:liberties.example.net,2019:update-310"
    assert all(s.lang == "en" for s in stories)


def test_rss1_rdf():
    stories = parse(rss_source(), result((FIXTURES / "rss1_rdf.xml").read_bytes()))
    assert [(s.title, s.published) for s in stories] == [
        ("Opinion on Biometric Data in Employment", datetime(2019, 12, 17, 12, 0, tzinfo=UTC)),
    ]


def test_rss_091():
    body = b"""<?xml version="1.0"?><rss version="0.91"><channel><title>Old</title>
    <link>https://old.example/</link><description>d</description><language>en-us</language>
    <item><title>Fingerprint Database Audit Published</title><link>https://old.example/a1</link>
    <description>An audit of the national fingerprint database.</description></item></channel></rss>"""
    [story] = parse(rss_source(), result(body))
    assert (
        story.title == "Fingerprint Database Audit Published"
        and story.key == "url:https://old.example/a1"
    )


def test_json_feed(http_server, fetcher):
    stories, _ = serve_and_parse(
        http_server, fetcher, "/feed.json", "jsonfeed.json", "application/feed+json"
    )
    assert [s.title for s in stories] == [
        "Parcel Label Data Offered for Sale on Forum",
        "Gym Chain Drops Fingerprint Scanners After Complaints",
        "Short note: our weekly newsletter moves to Mondays from January.",  # no title: its text
    ]
    assert stories[0].key == "guid:lt-2019-1220-01"
    assert stories[0].published == datetime(2019, 12, 20, 3, 0, tzinfo=UTC)
    assert stories[0].summary.startswith("Names, phone numbers and addresses")
    assert stories[0].lang == "en"
    assert stories[1].link == http_server.url("/2019/12/gym-fingerprint-scanners")
    assert stories[1].published == datetime(2019, 12, 19, 18, 30, tzinfo=UTC)  # date_modified


def test_json_feed_detected_without_content_type():
    stories = parse(
        rss_source(), result((FIXTURES / "jsonfeed.json").read_bytes(), content_type="text/plain")
    )
    assert len(stories) == 3


def test_json_that_is_not_a_feed():
    with pytest.raises(SourceError) as ei:
        parse(rss_source(), result(b'{"error": "rate limited"}', content_type="application/json"))
    assert ei.value.reason == "not_a_feed"


def test_feed_language_zh_cn_becomes_zh():
    body = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>
    <link>https://cn.example/</link><description>d</description><language>zh-CN</language>
    <item><title>某地地铁试点刷脸进站</title><link>https://cn.example/1</link></item></channel></rss>""".encode()
    [story] = parse(rss_source(lang="en"), result(body))
    assert story.lang == "zh"  # the feed's own word beats the config hint


def test_source_lang_hint_applies_when_the_feed_is_silent():
    body = b"""<rss version="2.0"><channel><title>t</title><item><title>x</title>
    <link>https://n.example/1</link></item></channel></rss>"""
    [story] = parse(rss_source(lang="de"), result(body))
    assert story.lang == "de"


def test_gb2312_labelled_feed_with_gbk_characters():
    xml = """<?xml version="1.0" encoding="gb2312"?><rss version="2.0"><channel><title>新闻</title>
    <link>https://cn.example/</link><description>d</description>
    <item><title>埇桥区小区强制刷脸门禁引发争议</title><link>https://cn.example/1</link>
    <description>&lt;p&gt;镕信科技回应&lt;/p&gt;</description></item></channel></rss>""".encode(
        "gbk"
    )
    [story] = parse(rss_source(), result(xml, content_type="text/xml; charset=gb2312"))
    assert story.title == "埇桥区小区强制刷脸门禁引发争议"
    assert story.summary == "镕信科技回应"


def test_guid_is_kept_verbatim_not_resolved():
    body = b"""<rss version="2.0"><channel><title>t</title><item><title>x</title>
    <link>https://n.example/1</link><guid isPermaLink="false">12345</guid></item></channel></rss>"""
    [story] = parse(rss_source(), result(body, url="https://n.example/feeds/main.xml"))
    assert story.key == "guid:12345"


# -- broken documents -----------------------------------------------------------


def test_truncated_feed_yields_what_it_could_read(http_server, fetcher):
    # A feed cut off in its third item: the two whole items are read, and
    # the half-read one is left out rather than stored with a cut title.
    stories, _ = serve_and_parse(
        http_server, fetcher, "/t.xml", "rss_truncated.xml", "application/rss+xml"
    )
    assert [(s.title, s.key) for s in stories] == [
        (
            "City Council Publishes List of Its CCTV Cameras",
            "guid:https://notes.example.org/2019/12/council-cctv-list",
        ),
        (
            "Airport Expands Biometric Boarding Gates",
            "guid:https://notes.example.org/2019/12/airport-biometric-gates",
        ),
    ]
    assert stories[1].summary == "Passengers can opt out at a staffed desk, the operator said."


def test_html_error_page_is_not_a_feed(http_server, fetcher):
    with pytest.raises(SourceError) as ei:
        serve_and_parse(
            http_server, fetcher, "/feed", "error_page.html", "text/html; charset=utf-8"
        )
    assert ei.value.reason == "not_a_feed"
    assert "\n" not in str(ei.value)


@pytest.mark.parametrize(
    "body", [b"", b"   \n", b"\xef\xbb\xbf", b"just some text", b"<?xml version='1.0'?>"]
)
def test_empty_or_garbage_is_not_a_feed(body):
    with pytest.raises(SourceError) as ei:
        parse(rss_source(), result(body, content_type="application/rss+xml"))
    assert ei.value.reason == "not_a_feed"


def test_empty_but_valid_feed_has_no_stories():
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>quiet</title>
    <link>https://q.example/</link><description>d</description></channel></rss>"""
    assert parse(rss_source(), result(body)) == []


def test_not_modified_has_no_stories():
    r = FetchResult(
        url="https://news.example/feed",
        status=304,
        headers={},
        body=b"",
        not_modified=True,
        etag='"x"',
        last_modified=None,
    )
    assert parse(rss_source(), r) == []


def test_feedparser_is_never_handed_a_path_or_url(tmp_path):
    secret = tmp_path / "local.xml"
    secret.write_bytes(
        b"<rss version='2.0'><channel><item><title>LOCAL FILE</title></item></channel></rss>"
    )
    with pytest.raises(SourceError) as ei:
        parse(rss_source(), result(str(secret).encode()))
    assert ei.value.reason == "not_a_feed"


# -- HTML listing pages ------------------------------------------------------------


def test_business_listing(http_server, fetcher):
    stories, url = serve_and_parse(
        http_server,
        fetcher,
        "/tech/",
        "business_tech_listing.html",
        "text/html; charset=utf-8",
        kind="html",
        select=LISTING_SELECT,
    )
    assert [s.title for s in stories] == [
        "Chipmaker Lifts Spending Forecast as Orders Recover",
        "Opposition to Facial Recognition Technology Grows",
        "Electric Carmaker Raises $500 Million Ahead of Listing",
        "Trending in China: Do Free Office Snacks Make Up for Long Hours?",
        "App Stores Remove Hundreds of Lending Apps in Data Crackdown",
    ]
    fr = stories[1]
    # Relative links resolve against the page's final URL.
    assert fr.link == http_server.url(
        "/2019-12-20/opposition-to-facial-recognition-technology-grows-101496322.html"
    )
    assert fr.key == "url:" + fr.link
    assert fr.published == datetime(2019, 12, 20, 14, 35, tzinfo=UTC)  # "Dec 20, 2019 02:35 PM"
    assert fr.summary.startswith("Residents, parents and shoppers")
    assert fr.lang == "en"  # from <html lang>
    assert stories[0].published == datetime(2019, 12, 20, 17, 10, tzinfo=UTC)
    assert (
        stories[4].link
        == "https://www.harbourbusiness.example/2019-12-18/app-store-removes-lending-apps-101495502.html"
    )
    assert stories[4].summary.endswith("borrowers\u2019 friends and relatives.")


def test_listing_defaults_title_and_link_from_the_text_link(http_server, fetcher):
    stories, _ = serve_and_parse(
        http_server,
        fetcher,
        "/tech/",
        "business_tech_listing.html",
        "text/html",
        kind="html",
        select=Select(item="ul.news-list > li"),
    )
    fr = stories[1]
    assert fr.title == "Opposition to Facial Recognition Technology Grows"
    assert fr.link.endswith(
        "/2019-12-20/opposition-to-facial-recognition-technology-grows-101496322.html"
    )
    assert fr.published is None and fr.summary == ""


def test_listing_after_redirect_resolves_against_final_url(http_server, fetcher):
    from httpserver import redirect

    http_server.add_fixture("/en/tech/", "business_tech_listing.html", "text/html")
    http_server.route("/tech", redirect("/en/tech/", 301))
    url = http_server.url("/tech")
    source = SourceConfig(name="s", kind="html", url=url, select=LISTING_SELECT)
    stories = parse(source, fetcher.get(url))
    assert stories[1].link == http_server.url(
        "/2019-12-20/opposition-to-facial-recognition-technology-grows-101496322.html"
    )


def test_gbk_page_labelled_gb2312(http_server, fetcher):
    stories, url = serve_and_parse(
        http_server,
        fetcher,
        "/shehui/",
        "gbk_labelled_gb2312_listing.html",
        "text/html; charset=gb2312",
        kind="html",
        select=GBK_SELECT,
        lang="zh",
    )
    titles = [s.title for s in stories]
    assert titles == [
        "埇桥区某小区强制刷脸门禁引发争议",
        "快递面单信息遭倒卖 警方捣毁一个贩卖个人信息团伙",
        "镕信科技回应用户人脸照片泄露传闻",
        "冬季供暖今日起全面启动",
        "瑠璃展在市博物馆开幕",
    ]
    assert all("\ufffd" not in s.title + s.summary for s in stories)
    # <base href> wins over the page URL for relative links.
    assert (
        stories[0].link == "http://news.jianghuai-daily.example/shehui/201912/t20191220_5521.html"
    )
    assert stories[2].link == "http://news.jianghuai-daily.example/keji/201912/t20191219_5507.html"
    assert stories[0].published == datetime(
        2019, 12, 20, 14, 35, tzinfo=UTC
    )  # 2019年12月20日 14:35
    assert stories[4].published == datetime(2019, 12, 18, 21, 40, tzinfo=UTC)
    assert stories[0].summary == "业主称未被告知人脸信息如何保存，物业表示系统由第三方公司维护。"
    assert stories[0].lang == "zh"


def test_plain_requests_decoding_loses_gbk_only_characters(http_server):
    """Why textdecode exists: taking the gb2312 label at its word (as
    requests' Response.text does) turns 埇 into a replacement character."""
    url = http_server.add_fixture(
        "/shehui/", "gbk_labelled_gb2312_listing.html", "text/html; charset=gb2312"
    )
    naive = requests.get(url, timeout=5)
    assert naive.encoding.lower() == "gb2312"
    assert "埇桥区" not in naive.text and "\ufffd" in naive.text
    assert "埇桥区" in decode_html(naive.content, naive.headers["Content-Type"])


def test_selector_that_finds_nothing(http_server, fetcher):
    with pytest.raises(SourceError) as ei:
        serve_and_parse(
            http_server,
            fetcher,
            "/tech/",
            "business_tech_listing.html",
            "text/html",
            kind="html",
            select=Select(item="div.article-list .headline"),
        )
    assert ei.value.reason == "selector_empty"
    assert str(ei.value) == "selector 'div.article-list .headline' found nothing"


def test_invalid_css_is_a_parse_error():
    source = SourceConfig(
        name="s", kind="html", url="https://n.example/", select=Select(item="li[[")
    )
    with pytest.raises(SourceError) as ei:
        parse(source, result(b"<ul><li>x</li></ul>", url="https://n.example/"))
    assert ei.value.reason == "parse_error" and "li[[" in str(ei.value)


def test_item_that_is_itself_a_link():
    page = b"""<html><body><div class="headlines">
    <a class="hl" href="/a/1?utm_campaign=x">Face Scanning at Stadium Gates Criticised</a>
    <a class="hl" href="javascript:void(0)">Broken link</a>
    <a class="hl" href="#top">Anchor only</a>
    </div></body></html>"""
    source = SourceConfig(
        name="s", kind="html", url="https://n.example/sport/", select=Select(item="a.hl")
    )
    stories = parse(source, result(page, url="https://n.example/sport/", content_type="text/html"))
    assert stories[0].title == "Face Scanning at Stadium Gates Criticised"
    assert stories[0].link == "https://n.example/a/1?utm_campaign=x"
    assert stories[0].key == "url:https://n.example/a/1"
    # Unusable hrefs leave the link empty; such items are keyed by their text.
    assert stories[1].link == "" and stories[1].key.startswith("hash:")


def test_published_from_datetime_attribute():
    page = b"""<html><body><article><h2><a href="/x">Leak of Patient Records</a></h2>
    <time datetime="2019-12-20T06:35:00Z">yesterday</time></article>
    <article><h2><a href="/y">Undated</a></h2><time>sometime soon</time></article></body></html>"""
    source = SourceConfig(
        name="s",
        kind="html",
        url="https://n.example/",
        select=Select(item="article", published="time"),
    )
    stories = parse(source, result(page, url="https://n.example/"))
    assert stories[0].published == datetime(2019, 12, 20, 6, 35, tzinfo=UTC)
    assert stories[1].published is None  # unparsable is None, never an error


def test_listing_times_without_a_zone_are_read_in_the_source_timezone():
    page = """<html><body><ul><li><a href="/a">政策出台</a><span>2019年12月20日 14:35</span></li>
    <li><a href="/b">Other</a><span>2019-12-20T14:35:00Z</span></li></ul></body></html>""".encode()
    source = SourceConfig(
        name="s",
        kind="html",
        url="https://n.example/",
        timezone="Asia/Shanghai",
        select=Select(item="li", published="span"),
    )
    stories = parse(
        source, result(page, url="https://n.example/", content_type="text/html; charset=utf-8")
    )
    assert stories[0].published == datetime(2019, 12, 20, 6, 35, tzinfo=UTC)  # Beijing time
    assert stories[1].published == datetime(2019, 12, 20, 14, 35, tzinfo=UTC)  # it names its zone
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        SourceConfig(
            name="s",
            kind="html",
            url="https://n.example/",
            timezone="Mars/Olympus",
            select=Select(item="li"),
        )


# -- helpers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Dec 20, 2019 02:35 PM", datetime(2019, 12, 20, 14, 35, tzinfo=UTC)),
        ("Dec 20, 2019 12:05 AM", datetime(2019, 12, 20, 0, 5, tzinfo=UTC)),
        ("2019-12-20", datetime(2019, 12, 20, tzinfo=UTC)),
        ("2019-12-20T14:35:00+08:00", datetime(2019, 12, 20, 6, 35, tzinfo=UTC)),
        ("2019-12-20T14:35:00Z", datetime(2019, 12, 20, 14, 35, tzinfo=UTC)),
        ("Fri, 20 Dec 2019 14:35:00 +0800", datetime(2019, 12, 20, 6, 35, tzinfo=UTC)),
        ("Fri, 20 Dec 2019 14:35:00 GMT", datetime(2019, 12, 20, 14, 35, tzinfo=UTC)),
        ("2019年12月20日", datetime(2019, 12, 20, tzinfo=UTC)),
        ("2019年12月20日 14:35", datetime(2019, 12, 20, 14, 35, tzinfo=UTC)),
        ("2019/12/20 14:35", datetime(2019, 12, 20, 14, 35, tzinfo=UTC)),
        ("20 December 2019", datetime(2019, 12, 20, tzinfo=UTC)),
        (
            "By A. Writer / Dec 20, 2019 02:35 PM / Society & Culture",
            datetime(2019, 12, 20, 14, 35, tzinfo=UTC),
        ),
        ("", None),
        ("yesterday", None),
        ("2019-13-45", None),
        ("Feb 30, 2019", None),
    ],
)
def test_parse_date(text, expected):
    assert parse_date(text) == expected


def test_html_to_text_and_lang():
    assert (
        html_to_text("<p>One</p><p>Two &amp; <b>three</b></p><script>x()</script>")
        == "One Two & three"
    )
    assert html_to_text("Face<b>book</b>") == "Facebook"
    assert html_to_text("A &lt; B") == "A < B"
    assert (
        primary_lang("zh-CN") == "zh" and primary_lang("en_US") == "en" and primary_lang("") is None
    )


# -- textdecode --------------------------------------------------------------------


def test_decode_bom_beats_everything():
    body = "\ufeff刷脸门禁".encode("utf-8")
    assert decode_html(body, "text/html; charset=gb2312") == "刷脸门禁"
    assert decode_html("\ufeff人脸".encode("utf-16-le"), None) == "人脸"


def test_decode_header_charset():
    body = "<p>Caf\u00e9 cam\u00e9ras</p>".encode("cp1252")
    assert decode_html(body, "text/html; charset=windows-1252") == "<p>Caf\u00e9 cam\u00e9ras</p>"
    # latin-1 is read as windows-1252, as browsers do.
    assert (
        decode_html("\u201csmart\u201d".encode("cp1252"), "text/html; charset=ISO-8859-1")
        == "\u201csmart\u201d"
    )


def test_decode_meta_when_header_is_silent():
    body = '<html><head><meta charset="gb2312"></head><body>瑠璃 埇桥</body></html>'.encode("gbk")
    assert "瑠璃 埇桥" in decode_html(body, "text/html")
    body = ('<meta http-equiv="Content-Type" content="text/html; charset=big5"><p>監控</p>').encode(
        "big5"
    )
    assert choose_encoding(body, None) == "big5hkscs"
    assert "監控" in decode_html(body, None)


def test_decode_no_header_charset_is_not_latin1():
    """No charset in the header: requests would say ISO-8859-1; we look further."""
    body = "<html><body>人脸识别技术遭到反对</body></html>".encode()
    assert "人脸识别" in decode_html(body, "text/html")
    assert "人脸识别" in decode_html(body, None)


def test_decode_detects_undeclared_gb18030():
    body = (
        "<html><body>"
        + "某地小区强制刷脸门禁引发争议，业主质疑人脸信息的保存方式。" * 5
        + "</body></html>"
    ).encode("gb18030")
    assert "强制刷脸门禁" in decode_html(body, None)


def test_decode_wrong_utf8_label_falls_back():
    body = (
        "<html><body>" + "快递面单信息遭倒卖，警方已经立案调查。" * 5 + "</body></html>"
    ).encode("gbk")
    assert "快递面单信息遭倒卖" in decode_html(body, "text/html; charset=utf-8")


def test_decode_garbage_never_raises():
    assert isinstance(decode_html(bytes(range(256)) * 4, "text/html; charset=no-such-charset"), str)
    assert decode_html(b"", None) == ""


def test_malformed_feed_with_no_items_is_not_a_feed():
    with pytest.raises(SourceError) as ei:
        parse(rss_source(), result(b'<?xml version="1.0"?><rss><channel><title>Broken'))
    assert ei.value.reason == "not_a_feed" and "malformed" in str(ei.value)


def test_empty_feed_served_as_text_html_is_still_a_feed():
    body = b'<rss version="2.0"><channel><title>quiet</title></channel></rss>'
    assert parse(rss_source(), result(body, content_type="text/html")) == []
