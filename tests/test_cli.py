"""The `monitor` command as a user types it: check, rules match/test, demo, run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

GOOD_RULE = """\
rules:
  - id: face-recognition
    title: Facial recognition
    tags: [facial-recognition]
    match: ["facial recognition", 人脸识别]
"""


def monitor(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 120):
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def make_project(tmp_path: Path, config_extra: str = "") -> Path:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "good.yaml").write_text(GOOD_RULE, encoding="utf-8")
    cfg = tmp_path / "config.yaml"
    cfg.write_text("state: ./state.db\nrules: ./rules\n" + config_extra, encoding="utf-8")
    return cfg


def test_check_passes_on_a_good_project(tmp_path):
    cfg = make_project(tmp_path)
    out = monitor("check", "--config", str(cfg))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ok: 0 sources, 0 channels, 1 rule" in out.stdout


def test_check_lists_every_problem_with_file_and_line(tmp_path):
    cfg = make_project(tmp_path, "channels:\n  desk:\n    urls: ['nonsense://x']\n")
    rules = tmp_path / "rules"
    (rules / "syntax.yaml").write_text(
        "rules:\n  - id: a\n    title: [unclosed\n", encoding="utf-8"
    )
    (rules / "unknown.yaml").write_text(
        textwrap.dedent("""\
        rules:
          - id: b
            title: B
            match: [x]
            severity: high
            chanels: [desk]
        """),
        encoding="utf-8",
    )
    (rules / "routing.yaml").write_text(
        textwrap.dedent("""\
        rules:
          - id: c
            title: C
            channels: [nowhere]
            match: [y]
        """),
        encoding="utf-8",
    )
    out = monitor("check", "--config", str(cfg))
    assert out.returncode == 1
    lines = out.stdout.strip().splitlines()
    assert any(
        ln.startswith(f"{rules / 'syntax.yaml'}:") and "a [list] is not closed" in ln
        for ln in lines
    ), lines
    assert (
        f"{rules / 'unknown.yaml'}:6:5: unknown key 'chanels' (did you mean 'channels'?)" in lines
    )
    assert any(
        ln.startswith(f"{rules / 'routing.yaml'}:4:16:") and "unknown channel 'nowhere'" in ln
        for ln in lines
    )
    assert (
        f"{cfg}:5:12: unknown Apprise scheme 'nonsense://'; expected a service Apprise knows, e.g. slack://, mailtos://, json://"
        in lines
    )
    assert len(lines) == 4, lines


def test_check_on_a_config_with_an_unknown_key(tmp_path):
    cfg = make_project(
        tmp_path,
        "sources:\n  - name: a\n    kind: rss\n    url: https://e.org/f\n    selector: x\n",
    )
    out = monitor("check", "--config", str(cfg))
    assert out.returncode == 1
    assert out.stdout.strip() == f"{cfg}:7:5: unknown key 'selector' (did you mean 'select'?)"


def test_rules_match_bulk(tmp_path):
    make_project(tmp_path)
    items = tmp_path / "items.jsonl"
    items.write_text(
        "\n".join(
            json.dumps(x, ensure_ascii=False)
            for x in [
                {"id": "a", "title": "Police roll out facial recognition", "summary": ""},
                {"id": "b", "title": "无关新闻", "summary": "警方使用人脸识别技术", "lang": "zh"},
                {"id": "c", "title": "She faces charges", "summary": "A face-to-face meeting"},
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    out = monitor("rules", "match", "--rules", str(tmp_path / "rules"), "--input", str(items))
    assert out.returncode == 0, out.stderr
    rows = [json.loads(ln) for ln in out.stdout.splitlines()]
    assert rows == [
        {
            "id": "a",
            "matches": [
                {
                    "rule": "face-recognition",
                    "tags": ["facial-recognition"],
                    "terms": ["facial recognition"],
                }
            ],
        },
        {
            "id": "b",
            "matches": [
                {"rule": "face-recognition", "tags": ["facial-recognition"], "terms": ["人脸识别"]}
            ],
        },
        {"id": "c", "matches": []},
    ]


def test_rules_match_names_a_bad_input_line(tmp_path):
    make_project(tmp_path)
    items = tmp_path / "items.jsonl"
    items.write_text('{"id": "a", "title": "facial recognition"}\nnot json\n', encoding="utf-8")
    out = monitor("rules", "match", "--rules", str(tmp_path / "rules"), "--input", str(items))
    assert out.returncode == 1
    assert f"{items}:2: not a JSON object" in out.stderr
    assert json.loads(out.stdout.splitlines()[0])["matches"][0]["rule"] == "face-recognition"


def test_shipped_rules_pass_their_own_tests():
    out = monitor("rules", "test", "--rules", str(ROOT / "rules"))
    assert out.returncode == 0, out.stdout
    assert " 0 failed, 0 problems" in out.stdout


def test_rules_test_reports_a_failing_rule_test(tmp_path):
    (tmp_path / "r.yaml").write_text(
        GOOD_RULE + "    tests:\n      match: ['Police buy face scanners']\n", encoding="utf-8"
    )
    out = monitor("rules", "test", "--rules", str(tmp_path))
    assert out.returncode == 1
    assert "rule face-recognition" in out.stdout and "Police buy face scanners" in out.stdout


def test_demo_runs_offline_and_alerts_only_on_relevant_new_stories(tmp_path):
    # From a folder with no rules/: the demo must find the rules shipped with the package.
    out = monitor("demo", cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    alerts = [ln for ln in out.stdout.splitlines() if ln.startswith("=== ALERT")]
    text = "\n".join(alerts)
    # Alerts are printed by the second poll only. (The demo's first edition
    # has no matching story, so this cannot show the baseline: the test
    # below does.)
    assert out.stdout.index("=== ALERT") > out.stdout.index("2) The sites publish")
    for expected in (
        "ban police use of facial recognition",
        "customer records exposed",
        "Opposition to Facial Recognition Technology Grows",
        "小区强制刷脸门禁",
        "快递面单信息遭内鬼倒卖",
    ):
        assert expected in text, (expected, text)
    for unexpected in (
        "faces lawsuit",
        "Leaked renders",
        "燃气泄漏",
        "Council bans police facial recognition (via",
    ):
        assert unexpected not in text, (unexpected, text)
    # Story text cannot ping a Slack channel.
    assert "<!channel>" not in out.stdout


def feed(*items: tuple[str, str]) -> str:
    body = "".join(
        f"<item><title>{title}</title><link>http://news.example.org/{guid}</link>"
        f'<guid isPermaLink="false">{guid}</guid></item>'
        for guid, title in items
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{body}</channel></rss>'
    )


BACKLOG = [
    ("a-1", "Police roll out facial recognition at stations"),
    ("a-2", "商场人脸识别摄像头引发争议"),
    ("a-3", "Council meets on Tuesday"),
]


def test_the_first_poll_of_a_new_source_is_a_silent_baseline(tmp_path, http_server, webhook):
    # The backlog matches the rule: only the baseline keeps it from the channel.
    http_server.add("/f.xml", feed(*BACKLOG), content_type="application/rss+xml")
    cfg = make_project(
        tmp_path,
        f"channels:\n  desk:\n    urls: ['{webhook.url()}']\n"
        f"sources:\n  - name: wire\n    kind: rss\n    url: {http_server.url('/f.xml')}\n",
    )
    first = monitor("once", "--config", str(cfg), cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert webhook.posts == []
    assert "baseline=true" in first.stdout
    status = monitor("status", "--json", "--config", str(cfg), cwd=tmp_path)
    data = json.loads(status.stdout)
    assert [s["stories_seen"] for s in data["sources"]] == [3]  # every story stored
    assert {s["title"] for s in data["recent_stories"]} == {t for _, t in BACKLOG}
    assert data["outbox"] == {"pending": 0, "sent": 0, "dead": 0}

    # The next poll alerts on the new story only: the backlog was stored, not skipped.
    fresh = ("b-1", "Airport adds facial recognition gates")
    http_server.add("/f.xml", feed(fresh, *BACKLOG), content_type="application/rss+xml")
    second = monitor("once", "--config", str(cfg), cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert [p["title"] for p in webhook.posts] == [f"[Facial recognition] {fresh[1]}"]


def test_run_stops_cleanly_on_sigterm(tmp_path, http_server):
    http_server.add(
        "/feed.xml",
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        "<item><title>One</title><link>http://e.org/1</link></item></channel></rss>",
        content_type="application/rss+xml",
    )
    cfg = make_project(
        tmp_path,
        f"sources:\n  - name: s\n    kind: rss\n    url: {http_server.url('/feed.xml')}\n"
        "    interval: 1s\n",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.time() + 30
        while len(http_server.requests_to("/feed.xml")) < 2 and time.time() < deadline:
            time.sleep(0.1)
        assert len(http_server.requests_to("/feed.xml")) >= 2, (
            "the loop did not poll again at its interval"
        )
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "event=monitor.stopping signal=SIGTERM" in out and "event=monitor.stopped" in out
