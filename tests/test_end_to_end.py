"""The whole monitor as a user runs it: `monitor once` in a subprocess over
a loopback news site, alerts through Apprise to a real SMTP server and a
JSON webhook, state in a SQLite file on disk."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

RULES = """\
rules:
  - id: face-recognition
    title: Facial recognition of people
    severity: high
    tags: [facial-recognition]
    match:
      any: ["facial recognition", "face recognition", "人脸识别", "刷脸"]
  - id: police-surveillance
    title: Police surveillance technology
    severity: medium
    tags: [surveillance]
    channels: [hook]
    match:
      all:
        - any: ["police", "officers", "警方"]
        - any: ["facial recognition", "cameras", "监控"]
  - id: data-leak
    title: Personal data exposed
    severity: high
    tags: [data-leak]
    match:
      all:
        - any: ["exposed", "leaked", "breach", "泄露"]
        - any: ["customer records", "personal data", "个人信息"]
"""


def item(guid: str, title: str, summary: str, link: str) -> str:
    return (
        f'<item><title>{title}</title><link>{link}</link><guid isPermaLink="false">{guid}</guid>'
        f"<pubDate>Thu, 26 Nov 2026 10:00:00 +0000</pubDate><description>{summary}</description></item>"
    )


def feed(*items: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Wire</title>'
        "<link>http://example.org/</link><description>news</description>"
        + "".join(items)
        + "</channel></rss>"
    )


OLD = [
    item(
        "w-1",
        "Council debates parking fees",
        "A vote is due next week.",
        "/news/parking?utm_source=rss",
    ),
    item(
        "w-2",
        "Police trial facial recognition vans",
        "Officers used the vans at a football match.",
        "/news/vans",
    ),
]
NEW = [
    item(
        "w-3",
        "Police expand facial recognition to train stations",
        "Officers will scan faces at the busiest stations from March, using live facial recognition cameras.",
        "/news/stations?utm_source=rss&fbclid=abc",
    ),
    item(
        "w-4",
        "Retailer leaked customer records of 40,000 shoppers",
        "Names and addresses were exposed in an open storage bucket.",
        "/news/retailer",
    ),
    item(
        "w-5",
        "Mayor faces lawsuit over parking fees",
        "Drivers say the fees broke a promise.",
        "/news/lawsuit",
    ),
]


def listing(rows: list[tuple[str, str]]) -> str:
    lis = "".join(f'<li class="story"><a href="{href}">{title}</a></li>' for href, title in rows)
    return f"<html><body><ul class='list'>{lis}</ul></body></html>"


def write_config(tmp_path: Path, http_server, smtp_sink, webhook, extra_sources: str = "") -> Path:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "test.yaml").write_text(RULES, encoding="utf-8")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        textwrap.dedent(f"""\
        state: ./state/monitor.db
        rules: ./rules
        channels:
          email:
            urls: ["{smtp_sink.url()}"]
          hook:
            urls: ["${{HOOK_URL}}"]
        sources:
          - name: wire
            kind: rss
            url: {http_server.url("/feed.xml")}
            interval: 15m
          - name: listing
            kind: html
            url: {http_server.url("/list/")}
            select: {{item: "li.story", title: "a", link: "a"}}
        """)
        + textwrap.indent(extra_sources, "  ")
        + "delivery:\n  retry_base: 1s\nfetch:\n  per_host_delay: 0\n",
        encoding="utf-8",
    )
    return cfg


def run_monitor(
    cfg: Path, *args: str, env_extra: dict | None = None
) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args, "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cfg.parent,
    )


@pytest.fixture
def site(http_server):
    http_server.add("/feed.xml", feed(*OLD), content_type="application/rss+xml")
    http_server.add(
        "/list/", listing([("/cn/a1.html", "小区门禁改为刷脸引发争议")]), content_type="text/html"
    )
    return http_server


def test_first_poll_is_baseline_then_only_new_matches_are_delivered_once(
    tmp_path, site, smtp_sink, webhook
):
    cfg = write_config(tmp_path, site, smtp_sink, webhook)
    env = {"HOOK_URL": webhook.url()}

    first = run_monitor(cfg, "once", env_extra=env)
    assert first.returncode == 0, first.stderr + first.stdout
    assert "baseline=true" in first.stdout
    assert smtp_sink.messages == [] and webhook.posts == []

    site.add("/feed.xml", feed(*NEW, *OLD), content_type="application/rss+xml")
    site.add(
        "/list/",
        listing(
            [
                ("/cn/a2.html", "快递公司员工倒卖客户个人信息 数万条泄露"),
                (
                    "/news/stations?utm_medium=web",
                    "Police expand facial recognition to train stations",
                ),  # same story
                ("/cn/a1.html", "小区门禁改为刷脸引发争议"),
            ]
        ),
        content_type="text/html",
    )
    second = run_monitor(cfg, "once", env_extra=env)
    assert second.returncode == 0, second.stderr + second.stdout

    subjects = sorted(str(m["Subject"]) for m in smtp_sink.messages)
    assert len(subjects) == 3, subjects
    assert any("Police expand facial recognition to train stations" in s for s in subjects)
    assert any("Retailer leaked customer records" in s for s in subjects)
    assert any("快递公司员工倒卖客户个人信息" in s for s in subjects)
    assert not any("lawsuit" in s for s in subjects)

    # What a reader needs to act: title, source, link, time, rule, terms, snippet.
    body = next(b for b in smtp_sink.bodies() if "train stations" in b).replace("\r\n", "\n")
    assert "Source: wire" in body
    assert f"Link: {site.url('/news/stations')}\n" in body  # tracking removed
    assert "Published: 2026-11-26 10:00 UTC" in body
    assert "face-recognition" in body and "facial recognition" in body
    assert "scan faces at the busiest stations" in body
    # The e-mail channel is not named by police-surveillance; the hook is.
    assert "police-surveillance" not in body

    # Every rule a story matched, in one message per channel.
    hook_titles = [p["title"] for p in webhook.posts]
    assert len(webhook.posts) == 3, hook_titles
    stations = next(p for p in webhook.posts if "train stations" in p["title"])
    assert (
        "face-recognition" in stations["message"] and "police-surveillance" in stations["message"]
    )

    # A restart on the same state file, same content: nothing again.
    third = run_monitor(cfg, "once", env_extra=env)
    assert third.returncode == 0
    assert len(smtp_sink.messages) == 3 and len(webhook.posts) == 3


def test_notifier_down_keeps_the_alert_and_never_repeats_a_destination(
    tmp_path, site, smtp_sink, webhook
):
    cfg = write_config(tmp_path, site, smtp_sink, webhook)
    env = {"HOOK_URL": webhook.url()}
    assert run_monitor(cfg, "once", env_extra=env).returncode == 0
    site.add("/feed.xml", feed(NEW[1], *OLD), content_type="application/rss+xml")
    webhook.status = 500
    down = run_monitor(cfg, "once", env_extra=env)
    assert down.returncode == 0
    assert "event=alert.failed" in down.stdout and "channel=hook" in down.stdout
    assert len(smtp_sink.messages) == 1 and webhook.posts == []

    webhook.status = 200
    import time

    time.sleep(1.2)  # past the first retry delay (retry_base: 1s)
    up = run_monitor(cfg, "once", env_extra=env)
    assert up.returncode == 0
    assert len(webhook.posts) == 1 and "Retailer leaked" in webhook.posts[0]["title"]
    assert len(smtp_sink.messages) == 1  # the e-mail had succeeded: not sent again

    status = run_monitor(cfg, "status", "--json", env_extra=env)
    assert '"sent": 2' in status.stdout and '"pending": 0' in status.stdout


def test_broken_sources_are_named_and_the_others_still_alert(tmp_path, site, smtp_sink, webhook):
    site.add(
        "/bad.xml",
        b'<?xml version="1.0"?><rss><channel><title>Broken',
        content_type="application/rss+xml",
    )
    site.add(
        "/error.xml",
        b"<html><body>Service Unavailable</body></html>",
        status=503,
        content_type="text/html",
    )
    site.add(
        "/empty/", "<html><body><p>Redesigned page</p></body></html>", content_type="text/html"
    )
    extra = textwrap.dedent(f"""\
        - name: malformed
          kind: rss
          url: {site.url("/bad.xml")}
        - name: down
          kind: rss
          url: {site.url("/error.xml")}
        - name: redesigned
          kind: html
          url: {site.url("/empty/")}
          select: {{item: "li.story"}}
        """)
    cfg = write_config(tmp_path, site, smtp_sink, webhook, extra)
    env = {"HOOK_URL": webhook.url()}
    assert run_monitor(cfg, "once", env_extra=env).returncode == 0
    site.add("/feed.xml", feed(NEW[0], *OLD), content_type="application/rss+xml")
    out = run_monitor(cfg, "once", env_extra=env)
    assert out.returncode == 0
    lines = out.stdout.splitlines()

    def failure(source):
        found = [ln for ln in lines if "event=source.failed" in ln and f"source={source} " in ln]
        assert found, f"no failure line for {source}:\n{out.stdout}"
        return found[0]

    assert "reason=not_a_feed" in failure("malformed") or "reason=parse_error" in failure(
        "malformed"
    )
    assert "reason=http" in failure("down") and "503" in failure("down")
    assert "reason=selector_empty" in failure("redesigned") and "li.story" in failure("redesigned")
    assert len(smtp_sink.messages) == 1 and "train stations" in str(
        smtp_sink.messages[0]["Subject"]
    )


def test_missing_environment_variable_is_named(tmp_path, site, smtp_sink, webhook):
    cfg = write_config(tmp_path, site, smtp_sink, webhook)
    env = {k: v for k, v in os.environ.items() if k != "HOOK_URL"}
    out = subprocess.run(
        [sys.executable, "-m", "monitor", "once", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    # the channel that needs it is disabled, with one line naming it; the rest runs
    assert out.returncode == 0, out.stderr
    (warning,) = [ln for ln in out.stdout.splitlines() if "event=channel.disabled" in ln]
    assert f"{cfg}:7:" in warning and "HOOK_URL is not set" in warning


def test_silence_and_outbox_commands(tmp_path, site, smtp_sink, webhook):
    cfg = write_config(tmp_path, site, smtp_sink, webhook)
    env = {"HOOK_URL": webhook.url()}
    nothing = run_monitor(cfg, "outbox", env_extra=env)
    assert nothing.returncode == 0 and nothing.stdout.startswith("no state yet at ")
    assert not (tmp_path / "state").exists()  # reading never creates the state file
    assert run_monitor(cfg, "once", env_extra=env).returncode == 0

    bad = run_monitor(cfg, "silence", "add", "--rule", "no-such-rule", "--for", "2h", env_extra=env)
    assert bad.returncode == 2 and "no rule 'no-such-rule'" in bad.stdout
    added = run_monitor(
        cfg,
        "silence",
        "add",
        "--rule",
        "data-leak",
        "--for",
        "2h",
        "--reason",
        "known breach",
        env_extra=env,
    )
    assert added.returncode == 0 and "silence 1: rule data-leak silenced until" in added.stdout
    listed = run_monitor(cfg, "silence", "list", env_extra=env)
    assert "data-leak" in listed.stdout and "known breach" in listed.stdout

    site.add("/feed.xml", feed(NEW[1], NEW[0], *OLD), content_type="application/rss+xml")
    webhook.status = 503
    out = run_monitor(cfg, "once", env_extra=env)
    assert "event=alert.silenced rule=data-leak" in out.stdout
    subjects = [str(m["Subject"]) for m in smtp_sink.messages]
    assert len(subjects) == 1 and "train stations" in subjects[0]  # the retailer leak is silenced

    report = run_monitor(cfg, "outbox", env_extra=env)
    assert report.returncode == 0
    assert "OUTBOX  pending 1  sent 1  dead 0" in report.stdout
    assert "pending  hook" in report.stdout and "json://127.0.0.1" in report.stdout
    assert "last error:" in report.stdout and "503" in report.stdout

    removed = run_monitor(cfg, "silence", "remove", "1", env_extra=env)
    assert removed.returncode == 0
    assert run_monitor(cfg, "silence", "list", env_extra=env).stdout.strip() == "no active silences"
