"""`monitor rules explain` and `monitor replay` as a user types them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from monitor.models import Story
from monitor.store import Planned, Store

RULES = """\
lists:
  places: [police, school, landlord*]
rules:
  - id: frt-places
    title: Facial recognition near places
    tags: [facial-recognition]
    match:
      all:
        - near: [facial recognition, {list: places}]
          within: 5
        - not: [cows]
  - id: leak-zh
    title: 个人信息泄露
    fold_chinese: true
    languages: [zh]
    match:
      all: [个人信息, [泄露, 倒卖]]
"""


def monitor(*args: str, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=dict(os.environ),
    )


def project(tmp_path: Path) -> Path:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yaml").write_text(RULES, encoding="utf-8")
    cfg = tmp_path / "config.yaml"
    cfg.write_text("state: ./state.db\nrules: ./rules\nsources: []\n", encoding="utf-8")
    return cfg


def test_explain_a_headline(tmp_path):
    project(tmp_path)
    out = monitor(
        "rules",
        "explain",
        "frt-places",
        "--rules",
        str(tmp_path / "rules"),
        "--text",
        "Landlords quietly add facial recognition to lobbies",
    )
    assert out.returncode == 0, out.stderr
    assert "rule frt-places: MATCH" in out.stdout
    assert "'facial recognition' in title at 22-40" in out.stdout
    assert (
        "snippet: title: [[Landlord]]s quietly add [[facial recognition]] to lobbies" in out.stdout
    )


def test_explain_a_file_that_does_not_match_says_why(tmp_path):
    project(tmp_path)
    item = tmp_path / "story.json"
    item.write_text(
        json.dumps({"title": "個人信息遭倒賣", "lang": "en"}, ensure_ascii=False), encoding="utf-8"
    )
    out = monitor(
        "rules", "explain", "leak-zh", "--rules", str(tmp_path / "rules"), "--file", str(item)
    )
    assert out.returncode == 1
    assert "rule leak-zh: NO MATCH" in out.stdout
    assert "filters: language 'en' is not one of zh" in out.stdout
    out = monitor(
        "rules",
        "explain",
        "leak-zh",
        "--rules",
        str(tmp_path / "rules"),
        "--file",
        str(item),
        "--lang",
        "zh-TW",
    )
    assert out.returncode == 0 and "rule leak-zh: MATCH" in out.stdout


def test_explain_a_page_by_url(tmp_path, http_server):
    project(tmp_path)
    page = (
        "<html lang='en'><head><title>City news</title><meta name='description' content='Council meets.'>"
        "</head><body><h1>Schools and cameras</h1><p>The school board approved facial recognition "
        "cameras at the gates.</p></body></html>"
    )
    url = http_server.add("/story.html", page.encode(), content_type="text/html; charset=utf-8")
    out = monitor(
        "rules", "explain", "frt-places", "--rules", str(tmp_path / "rules"), "--url", url
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "'school' in body at 4-10" in out.stdout


def test_explain_an_unknown_rule(tmp_path):
    project(tmp_path)
    out = monitor(
        "rules", "explain", "frt-place", "--rules", str(tmp_path / "rules"), "--text", "x"
    )
    assert out.returncode == 2
    assert "no rule 'frt-place' (did you mean 'frt-places'?)" in out.stderr


def test_replay_prints_what_would_have_matched_and_sends_nothing(tmp_path):
    cfg = project(tmp_path)
    store = Store(tmp_path / "state.db")
    now = time.time()
    stories = [
        Story(
            source="wire",
            key="a",
            title="Police test facial recognition at stations",
            link="https://x/a",
        ),
        Story(
            source="wire", key="b", title="Cows get facial recognition collars", link="https://x/b"
        ),
        Story(source="cn", key="c", title="快递员倒卖个人信息被捕", link="https://x/c", lang="zh"),
        Story(source="old", key="d", title="Police buy facial recognition", link="https://x/d"),
    ]
    store.record_poll(
        "wire",
        [Planned(s) for s in stories[:2]],
        etag=None,
        last_modified=None,
        next_check_at=now + 60,
        now=now - 3600,
    )
    store.record_poll(
        "cn",
        [Planned(stories[2])],
        etag=None,
        last_modified=None,
        next_check_at=now + 60,
        now=now - 86400 * 2,
    )
    store.record_poll(
        "old",
        [Planned(stories[3])],
        etag=None,
        last_modified=None,
        next_check_at=now + 60,
        now=now - 86400 * 60,
    )
    outbox_before = store.outbox_counts()
    store.close()
    out = monitor("replay", "--config", str(cfg), "--since", "30d")
    assert out.returncode == 0, out.stderr
    assert "Police test facial recognition at stations" in out.stdout
    assert "frt-places [medium]: Police, facial recognition" in out.stdout
    assert "快递员倒卖个人信息被捕" in out.stdout
    assert "Cows" not in out.stdout and "Police buy" not in out.stdout
    assert "3 stored stories since 30d, 2 would have matched" in out.stdout
    store = Store(tmp_path / "state.db")
    assert store.outbox_counts() == outbox_before
    store.close()
    out = monitor("replay", "--config", str(cfg), "--since", "1d", "--json")
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [x["title"] for x in lines] == ["Police test facial recognition at stations"]


def test_rules_match_passes_the_language_to_filters(tmp_path):
    project(tmp_path)
    lines = "\n".join(
        json.dumps(x, ensure_ascii=False)
        for x in [
            {"id": 1, "title": "个人信息遭倒卖", "lang": "zh"},
            {"id": 2, "title": "个人信息遭倒卖", "lang": "en"},
        ]
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor",
            "rules",
            "match",
            "--rules",
            str(tmp_path / "rules"),
            "--input",
            "-",
        ],
        input=lines,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    got = [json.loads(line) for line in out.stdout.splitlines()]
    assert [[m["rule"] for m in g["matches"]] for g in got] == [["leak-zh"], []]


def test_sources_carry_tags_that_rules_filter_on(tmp_path):
    from monitor.config import load_config
    from monitor.engine import load_rules

    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yaml").write_text(
        "rules:\n  - {id: desk, title: D, source_tags: [china-desk], match: 泄露}\n",
        encoding="utf-8",
    )
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "rules: ./rules\nsources:\n  - {name: wire, kind: rss, url: 'https://example.org/f',"
        " tags: [china-desk]}\n  - {name: blog, kind: rss, url: 'https://example.org/b'}\n",
        encoding="utf-8",
    )
    config = load_config(cfg)
    rs, problems = load_rules(config.rule_paths)
    assert problems == []
    tags = {s.name: s.tags for s in config.sources}
    wire = Story(source="wire", key="1", title="数据泄露")
    blog = Story(source="blog", key="2", title="数据泄露")
    assert [m.rule_id for m in rs.match(wire, source_tags=tags["wire"])] == ["desk"]
    assert rs.match(blog, source_tags=tags["blog"]) == []


def test_hot_reload_watches_included_list_files(tmp_path):
    from monitor.config import load_config
    from monitor.reload import watched_files

    cfg = project(tmp_path)
    (tmp_path / "rules" / "lists").mkdir()
    (tmp_path / "rules" / "lists" / "words.yaml").write_text("lists:\n  w: [x]\n", encoding="utf-8")
    assert tmp_path / "rules" / "lists" / "words.yaml" in watched_files(load_config(cfg))


def test_replay_send_alerts_stored_stories_once_per_destination(tmp_path, webhook):
    cfg = project(tmp_path)
    cfg.write_text(
        f"state: ./state.db\nrules: ./rules\nsources: []\n"
        f"channels:\n  desk:\n    urls: ['{webhook.url()}']\n",
        encoding="utf-8",
    )
    store = Store(tmp_path / "state.db")
    now = time.time()
    stories = [
        Story(
            source="wire",
            key="a",
            title="Police test facial recognition at stations",
            link="https://x/a",
        ),
        Story(source="wire", key="b", title="Council debates parking fees", link="https://x/b"),
    ]
    store.record_poll(
        "wire",
        [Planned(s) for s in stories],
        etag=None,
        last_modified=None,
        next_check_at=now + 60,
        now=now - 3600,
    )
    store.close()

    first = monitor("replay", "--config", str(cfg), "--since", "1d", "--send")
    assert first.returncode == 0, first.stderr
    assert "1 deliveries queued, 1 sent, 0 failed" in first.stdout
    assert (
        len(webhook.posts) == 1
        and "Police test facial recognition at stations" in webhook.posts[0]["title"]
    )

    # Asked again, the destination that already has the story gets nothing.
    again = monitor("replay", "--config", str(cfg), "--since", "1d", "--send")
    assert again.returncode == 0, again.stderr
    assert "0 deliveries queued" in again.stdout
    assert len(webhook.posts) == 1
