"""A story's identity, on its own: the feed GUID when it is unique in the
document, else the canonical URL (tracking parameters removed), else a hash
of title and summary; and the key the store keeps is the key computed, so a
restart that finds the same GUIDs under new URLs alerts nothing twice.

The canonical-URL duplicate check and the near-duplicate check both stand
behind the key in a running monitor; the restart test below moves every URL
and rewrites the text, so only the key can recognise the stories."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urljoin

from monitor.identity import RawItem, _canonical_parts, canonical_url, join_url, make_stories
from monitor.store import Store


def keys(*items: RawItem) -> list[str]:
    return [s.key for s in make_stories("wire", list(items))]


# -- GUID, if unique in the document ----------------------------------------------


def test_a_unique_guid_is_the_key_whatever_the_link():
    assert keys(
        RawItem("Police buy face scanners", "https://e.org/a?utm_source=x", guid=" tag:e.org,1 "),
        RawItem("Council meets", guid="tag:e.org,2"),
    ) == ["guid:tag:e.org,1", "guid:tag:e.org,2"]


def test_a_guid_shared_by_two_items_is_not_an_identity():
    # Some CMSs give every item the same GUID: the links tell them apart.
    assert keys(
        RawItem("One", "https://e.org/1", guid="same"),
        RawItem("Two", "https://e.org/2", guid="same"),
        RawItem("Three", "https://e.org/3", guid="own"),
        RawItem("Four", "https://e.org/4", guid="   "),
    ) == ["url:https://e.org/1", "url:https://e.org/2", "guid:own", "url:https://e.org/4"]


# -- canonical URL, without tracking parameters -----------------------------------


def test_the_canonical_url_drops_tracking_parameters_and_the_fragment():
    url = (
        "HTTPS://News.Example.org:443/2026/12/leak?id=7&utm_source=rss&utm_medium=feed"
        "&fbclid=abc&gclid=def&page=2#comments"
    )
    assert canonical_url(url) == "https://news.example.org/2026/12/leak?id=7&page=2"
    assert canonical_url("http://e.org:8080") == "http://e.org:8080/"
    assert canonical_url("javascript:alert(1)") == "" and canonical_url("") == ""


def test_links_that_differ_only_in_tracking_are_one_story():
    stories = make_stories(
        "wire",
        [
            RawItem("Data of 2m patients exposed", "https://e.org/a?utm_campaign=am"),
            RawItem("Data of 2m patients exposed", "https://e.org/a?fbclid=zz#top"),
            RawItem("Another story", "https://e.org/a?id=2&utm_campaign=am"),
        ],
    )
    assert [s.key for s in stories] == ["url:https://e.org/a", "url:https://e.org/a?id=2"]
    assert stories[0].link == "https://e.org/a?utm_campaign=am"  # the link itself is kept


# -- hash of title and summary, last ------------------------------------------------


def hash_key(title: str, summary: str) -> str:
    # The stored form of a hash key: keys on disk must not change between
    # versions, or every hash-keyed story would alert again after an upgrade.
    return "hash:" + hashlib.sha256(f"{title}\n{summary}".encode()).hexdigest()


def test_with_no_guid_and_no_web_link_the_key_is_a_hash_of_title_and_summary():
    assert keys(
        RawItem("  Gym drops\nfingerprint  scanners ", summary="After   complaints."),
        RawItem("Gym drops fingerprint scanners", "mailto:desk@e.org", "After complaints, too."),
        RawItem("小区强制刷脸门禁", summary="业主投诉"),
    ) == [
        hash_key("Gym drops fingerprint scanners", "After complaints."),
        hash_key("Gym drops fingerprint scanners", "After complaints, too."),
        hash_key("小区强制刷脸门禁", "业主投诉"),
    ]


def test_an_item_with_neither_title_nor_link_is_dropped_and_a_repeat_is_kept_once():
    assert keys(
        RawItem("", summary="no title, no link"),
        RawItem("Same", summary="text"),
        RawItem(" Same ", summary=" text"),
    ) == [hash_key("Same", "text")]


# -- the key stored is the key computed ----------------------------------------------


def rss(*items: dict[str, str]) -> str:
    out = []
    for it in items:
        parts = [f"<title>{it['title']}</title>", f"<description>{it['summary']}</description>"]
        if "link" in it:
            parts.append(f"<link>{it['link'].replace('&', '&amp;')}</link>")
        if "guid" in it:
            parts.append(f'<guid isPermaLink="false">{it["guid"]}</guid>')
        out.append("<item>" + "".join(parts) + "</item>")
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
        f"{''.join(out)}</channel></rss>"
    )


COUNCIL = {
    "guid": "wire-0001",
    "title": "Council meets on Tuesday",
    "summary": "The agenda covers parking and the library.",
    "link": "http://news.example.org/2026/12/council",
}
BUDGET = {  # no GUID: its identity is the canonical URL
    "title": "Budget vote delayed again",
    "summary": "Members asked for more time.",
    "link": "http://news.example.org/2026/12/budget?id=7&utm_source=rss&utm_medium=feed",
}
NOTE = {  # no GUID, no link: its identity is the hash
    "title": "Newsletter moves to Mondays",
    "summary": "From January on.",
}
CAMERAS = {
    "guid": "wire-0002",
    "title": "Police add facial recognition to station cameras",
    "summary": "The council approved the plan on Monday evening after a long debate.",
    "link": "http://news.example.org/2026/12/cameras?utm_source=rss",
}
EXPECTED_KEYS = [
    "guid:wire-0001",
    "url:http://news.example.org/2026/12/budget?id=7",
    hash_key(NOTE["title"], NOTE["summary"]),
    "guid:wire-0002",
]

RULE = """\
rules:
  - id: face-recognition
    title: Facial recognition
    match: ["facial recognition"]
"""


def once(cfg: Path) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [sys.executable, "-m", "monitor", "once", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cfg.parent,
        env={**os.environ, "MONITOR_NO_PROGRESS": "1"},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def polled(out: subprocess.CompletedProcess) -> str:
    return next(ln for ln in out.stdout.splitlines() if "event=source.polled" in ln)


def test_the_key_stored_is_the_key_computed_and_moved_urls_alert_nothing_twice(
    tmp_path, http_server, webhook
):
    (tmp_path / "rules.yaml").write_text(RULE, encoding="utf-8")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "state: ./state.db\nrules: ./rules.yaml\n"
        f"channels:\n  desk:\n    urls: ['{webhook.url()}']\n"
        f"sources:\n  - name: wire\n    kind: rss\n    url: {http_server.url('/f.xml')}\n",
        encoding="utf-8",
    )
    feed = "application/rss+xml"
    http_server.add("/f.xml", rss(COUNCIL, BUDGET, NOTE), content_type=feed)
    once(cfg)  # the baseline
    http_server.add("/f.xml", rss(CAMERAS, COUNCIL, BUDGET, NOTE), content_type=feed)
    once(cfg)
    assert [p["title"] for p in webhook.posts] == [f"[Facial recognition] {CAMERAS['title']}"]

    store = Store(tmp_path / "state.db")
    try:
        assert store.known_keys("wire", EXPECTED_KEYS) == set(EXPECTED_KEYS)
    finally:
        store.close()
    status = subprocess.run(
        [sys.executable, "-m", "monitor", "status", "--json", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert [s["stories_seen"] for s in json.loads(status.stdout)["sources"]] == [4]

    # The site moves to a new address and rewrites the camera story's text:
    # the same GUIDs, no URL seen before, nothing a near-duplicate check
    # would call a copy. The URL-keyed story only changes its tracking.
    moved = [
        {**COUNCIL, "link": "https://www.news.example.org/articles/council-meets"},
        {**BUDGET, "link": "http://news.example.org/2026/12/budget?utm_campaign=winter&id=7"},
        NOTE,
        {
            **CAMERAS,
            "link": "https://www.news.example.org/articles/station-cameras",
            "summary": "Updated: the vendor confirmed the contract value and a start date "
            "in a written statement to reporters.",
        },
    ]
    http_server.add("/f.xml", rss(*moved), content_type=feed)
    third = once(cfg)
    assert "new=0" in polled(third), polled(third)
    assert len(webhook.posts) == 1, [p["title"] for p in webhook.posts]


# -- the short ways, against the long ones ----------------------------------------

_SCHEMES = ["https://", "http://", "HTTP://", "https:", "https:///", "//", "/", "", "ftp://"]
_HOSTS = [
    "w.example",
    "W.Example",
    "\u017f.example",
    "\u212a.example",
    "w.example:8080",
    "w.example:443",
    "[::1]",
    "[bad",
    "u@h",
    "",
]
_PATHS = ["", "/", "/a/b", "/a/../b", "a", "/a;p", "/é", "/a b", "/a\tb", " /a", "/a%20b"]
_TAILS = ["", "?", "#", "?#", "?x=1", "?utm_source=rss&id=2", "#top", "?q#f", "#f?", "?a=1#"]


def _links() -> list[str]:
    return ["".join(p) for p in itertools.product(_SCHEMES, _HOSTS, _PATHS, _TAILS)]


def test_join_url_is_urljoin():
    # the fast path for absolute links must hand back what urljoin does,
    # including its errors (an unclosed IPv6 bracket)
    def outcome(fn, base, link):
        try:
            return fn(base, link)
        except ValueError:
            return ValueError

    for base in ("https://w.example/feed/rss.xml", "http://w.example/a/?page=2", ""):
        for link in _links():
            assert outcome(join_url, base, link) == outcome(urljoin, base, link), (base, link)


def test_canonical_url_takes_the_long_way_to_the_same_place():
    def outcome(fn, link):
        try:
            return fn(link)
        except ValueError:
            return ValueError

    for link in _links():
        if link.strip():
            assert outcome(canonical_url, link) == outcome(_canonical_parts, link.strip()), link
