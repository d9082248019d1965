"""Automatic mode on front pages shaped like real ones: a WordPress blog, a
news site of teaser cards, a portal buried in menus, a Chinese portal. Each
yields its headlines and article links, and no navigation, ads or chrome."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.sources.frontpage import find_articles

PAGES = Path(__file__).parent / "fixtures" / "frontpages"

EXPECTED = {
    "wordpress_blog.html": (
        "https://records.example/",
        [
            "City pauses face recognition at its public libraries",
            "Hospital group confirms a data breach of patient files",
            "What the new camera register will show residents",
            "School biometric lunch lines, explained for parents",
            "A week of privacy news in five minutes",
        ],
    ),
    "teaser_cards.html": (
        "https://www.courier.example/",
        [
            "Airport expands face boarding to all gates",
            "Insurer says hackers took customer records",
            "Police watchlist rules come under review",
            "Retailers face a new camera code of practice",
            "Regulator fines dating app over photo leak",
            "Council tax bills to rise by four percent",
        ],
    ),
    "nav_heavy_portal.html": (
        "https://portal.example/",
        [
            "Border agency tests iris scanners at three crossings",
            "Ministry leak exposes data of 80,000 visa applicants",
            "Phone maker patches a face unlock flaw found by students",
            "Town hall to vote on street cameras next Tuesday",
            "Cloud provider outage hits banks and airlines for hours",
            "Court limits how long police may keep biometric records",
        ],
    ),
    "cn_portal.html": (
        "https://www.portal.example.cn/",
        [
            "多地地铁站试点刷脸进站 乘客质疑个人信息如何保存",
            "某快递公司数十万条用户信息遭泄露 警方已立案调查",
            "教育部门要求学校不得强制采集学生人脸信息",
            "手机应用违规收集位置信息 监管部门通报二十款应用",
            "小区门禁改用人脸识别 业主委员会征求居民意见",
            "银行提醒客户警惕冒充客服索要验证码的诈骗电话",
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_front_page_yields_its_headlines_and_nothing_else(name):
    url, titles = EXPECTED[name]
    items = find_articles((PAGES / name).read_bytes(), url)
    assert [i.title for i in items] == titles
    for item in items:  # each headline keeps its own article's address
        assert "#" not in item.link and "/20" in item.link


def test_teaser_card_is_titled_by_its_heading_not_the_whole_card():
    url, _ = EXPECTED["teaser_cards.html"]
    first = find_articles((PAGES / "teaser_cards.html").read_bytes(), url)[0]
    assert first.title == "Airport expands face boarding to all gates"
    assert first.link == (
        "https://www.courier.example/news/2024/06/12/airport-expands-face-boarding-to-all-gates"
    )


def test_page_wide_classes_and_partial_tokens_do_not_hide_the_page():
    body = (
        b'<html><body class="headline-nav-variation nav-open"><div id="nav-col">'
        b'<article><header class="entry-header"><h2><a href="/2024/06/12/one-two-three-four">'
        b"One two three four five</a></h2></header></article>"
        b'<div class="site-nav"><a href="/2024/06/12/menu-link-to-a-story">Menu link to a story here</a></div>'
        b"</div></body></html>"
    )
    items = find_articles(body, "https://news.example/")
    assert [i.title for i in items] == ["One two three four five"]
