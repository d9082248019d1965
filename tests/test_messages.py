"""Every message a newcomer reads says what was wrong and what is expected,
at file:line:col; options go before or after the command and all have
help; outputs agree with each other (links, dates, counts, columns)."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from httpserver import free_port
from test_first_hour import clean_env, sh
from test_lifecycle import ROOT, rss

from monitor.cli.parser import build_parser

POS = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<msg>.+)$")


def check(tmp_path: Path, config: str, files: dict[str, str] | None = None) -> list[str]:
    for name, text in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "c.yaml").write_text(config, encoding="utf-8")
    out = sh("monitor check --config c.yaml", tmp_path, clean_env())
    assert out.returncode == 1, out.stdout
    return out.stdout.splitlines()


def at(line: str) -> tuple[str, int, int, str]:
    m = POS.match(line)
    assert m, f"not file:line:col: {line!r}"
    return m["file"], int(m["line"]), int(m["col"]), m["msg"]


# -- config and rule errors ---------------------------------------------------------


def test_config_errors_name_the_place_and_what_is_expected(tmp_path):
    lines = check(
        tmp_path,
        "rules: ./r\n"
        "channels:\n"
        "  console:\n"
        "    urls: ['slakc://T000/B000/XXXX', 'not a url']\n"
        "health:\n"
        "  channels: [consol]\n"
        "fetch:\n"
        "  workers: lots\n"
        "sources:\n"
        "  - name: x\n"
        "    kind: rsss\n"
        "    url: http://127.0.0.1:1/\n",
    )
    assert [at(ln) for ln in lines] == [
        (
            "c.yaml",
            11,
            5,
            "'rsss' is not allowed for 'kind'; expected one of "
            "rss, html, sitemap, json, google_news, bing_news, gdelt, mastodon, hackernews, telegram (did you mean 'rss'?)",
        ),
        ("c.yaml", 8, 3, "'workers' is 'lots'; expected a whole number"),
    ]
    lines = check(
        tmp_path,
        "rules: ./r\n"
        "channels:\n"
        "  console:\n"
        "    urls: ['slakc://T000/B000/XXXX', 'not a url']\n"
        "health:\n"
        "  channels: [consol]\n",
        {
            "r/a.yaml": "rules:\n"
            "  - id: a\n"
            "    title: A\n"
            "    fields: [title, titel]\n"
            "    match: [x]\n"
            "  - id: b\n"
            "    title: B\n"
            "    channels: [console, desk]\n"
            "    match: [x]\n"
        },
    )
    got = [at(ln) for ln in lines]
    assert got == [
        (
            "r/a.yaml",
            4,
            21,
            "'titel' is not allowed in 'fields'; expected one of title, summary, body, url, "
            "source (did you mean 'title'?)",
        ),
        ("r/a.yaml", 8, 25, "rule b: unknown channel 'desk'; expected one of console"),
        (
            "c.yaml",
            6,
            14,
            "health.channels: unknown channel 'consol'; expected one of console "
            "(did you mean 'console'?)",
        ),
        (
            "c.yaml",
            4,
            12,
            "unknown Apprise scheme 'slakc://'; expected a service Apprise knows, e.g. slack://, "
            "mailtos://, json:// (did you mean 'slack://'?)",
        ),
        (
            "c.yaml",
            4,
            38,
            "this value is not an Apprise URL; expected scheme://..., e.g. slack://, mailtos://, "
            "json://",
        ),
    ]
    for line in lines:
        assert "Input should be" not in line and "rules.0" not in line


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (
            "sources:\n\t- name: x\n",
            (2, 1),
            "a tab character: tabs cannot indent YAML; indent with spaces",
        ),
        (
            "sources:\n  - name: x\n   kind: rss\n",
            (3, 4),
            "bad indentation: 'kind' starts at column 4; expected column 5, in line with 'name' "
            "on line 2",
        ),
        (
            "sources:\n  - name: x\n    url: http://a/\n     kind: rss\n",
            (4, 10),
            "bad indentation: 'kind' starts at column 6; expected column 5, in line with 'url' "
            "on line 3",
        ),
        (
            "sources:\n  - name: x\n    title: Police: the new cameras\n",
            (3, 18),
            "a ': ' inside a value; expected the value in quotes (\"...\") or a new 'key: value' "
            "on its own line",
        ),
        (
            'state: "abc\nrules: ./r\n',
            (1, 8),
            "this quoted value is never closed; expected a closing quote on the same value",
        ),
        (
            "sources: [a, b\nx: 1\n",
            (2, 2),
            "a [list] is not closed or misses a comma; expected ',' or ']'",
        ),
    ],
)
def test_yaml_syntax_errors_in_plain_words(tmp_path, text, where, message):
    (line,) = check(tmp_path, text)
    assert at(line) == ("c.yaml", *where, message)
    assert "while parsing" not in line and "while scanning" not in line


def test_the_re2_hint_only_where_the_pattern_uses_what_re2_lacks(tmp_path):
    lines = check(
        tmp_path,
        "rules: ./r\n",
        {
            "r/a.yaml": "rules:\n"
            "  - {id: a, title: A, match: [{regex: 'a(b'}]}\n"
            "  - {id: b, title: B, match: [{regex: '(?<=x)y'}]}\n"
        },
    )
    assert at(lines[0])[3] == "bad regex 'a(b': missing ): a(b"
    assert at(lines[1])[3].endswith("(regexes use RE2 syntax: no backreferences or lookaround)")


def test_rules_test_and_check_print_the_same_paths_and_count_in_words(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "a.yaml").write_text(
        "rules:\n  - id: a\n    title: A\n    match: [x]\n    tests: {match: [x]}\n"
        "  - {id: b, title: B, match: [{regex: 'a(b'}]}\n"
    )
    (tmp_path / "c.yaml").write_text("rules: ./r\n")
    env = clean_env()
    checked = sh("monitor check --config c.yaml", tmp_path, env).stdout.splitlines()
    tested = sh("monitor rules test --config c.yaml", tmp_path, env).stdout.splitlines()
    assert checked[0] == tested[0] and checked[0].startswith("r/a.yaml:6:")
    assert tested[-1] == "1 rule, 1 test, 0 failed, 1 problem"


# -- what status, sources and the logs say ----------------------------------------------


def project(tmp_path: Path, sources: str, extra: str = "") -> Path:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "r.yaml").write_text(
        "rules:\n  - id: cams\n    title: Cameras\n    match: [licence plate reader*, camera]\n"
    )
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"state: ./state.db\nrules: ./rules\n{extra}sources:\n{sources}")
    return cfg


def test_sources_down_with_the_network_are_shown_as_not_checked(tmp_path):
    ports = [free_port() for _ in range(3)]
    project(
        tmp_path,
        "".join(
            f"  - {{name: s{i}, kind: rss, url: 'http://127.0.0.1:{p}/f'}}\n"
            for i, p in enumerate(ports)
        ),
    )
    env = clean_env()
    once = sh("monitor once", tmp_path, env)
    assert "event=network.down" in once.stdout
    failed = [ln for ln in once.stdout.splitlines() if "event=source.failed" in ln]
    assert failed and all("failures=" not in ln for ln in failed)
    assert all('counted="no: the network was down"' in ln for ln in failed)
    status = sh("monitor status", tmp_path, env).stdout
    assert "FAILING x0" not in status
    assert status.count("not checked, the network was down (connect") == 3
    table = sh("monitor sources", tmp_path, env).stdout.splitlines()
    assert all(" unchecked " in row for row in table[1:])
    assert all("not checked, the network was down" in row for row in table[1:])


def test_an_http_error_names_its_reason_once_and_the_table_keeps_its_columns(tmp_path, http_server):
    http_server.add("/gone.xml", "no", status=404)
    http_server.add("/ok.xml", rss("Council meets"), content_type="application/rss+xml")
    project(
        tmp_path,
        f"  - {{name: gone, kind: rss, url: '{http_server.url('/gone.xml')}'}}\n"
        f"  - {{name: ok, kind: rss, url: '{http_server.url('/ok.xml')}'}}\n"
        f"  - {{name: news-map, kind: sitemap, url: '{http_server.url('/none.xml')}', enabled: false}}\n",
    )
    env = clean_env()
    sh("monitor once", tmp_path, env)
    table = sh("monitor sources", tmp_path, env).stdout.splitlines()
    assert "http: http" not in "\n".join(table)
    assert re.search(r"\bhttp 404\b", table[1])
    header = table[0]
    for column in ("KIND", "STATE", "LAST SUCCESS", "NEXT CHECK"):
        start = header.index(column)
        for row in table[1:]:
            assert row[start - 2 : start] == "  " and row[start] != " ", (column, row)
    status = sh("monitor status", tmp_path, env).stdout
    assert "FAILING x1 (http 404" in status


def test_json_logs_say_unchanged_in_words(tmp_path, http_server):
    url = http_server.add_conditional(
        "/c.xml", rss("Council meets"), etag='"v1"', content_type="application/rss+xml"
    )
    project(tmp_path, f"  - {{name: c, kind: rss, url: '{url}', interval: 1s}}\n")
    env = clean_env()
    sh("monitor once", tmp_path, env)
    second = sh("monitor --log-format json once", tmp_path, env)
    polled = [json.loads(ln) for ln in second.stdout.splitlines() if '"source.polled"' in ln]
    assert polled and polled[0]["unchanged"] == "not_modified" and polled[0]["status"] == 304


def test_explain_url_on_a_feed_prints_no_library_warning(tmp_path, http_server):
    url = http_server.add(
        "/f.xml", rss("Council adds licence plate readers"), content_type="application/rss+xml"
    )
    project(tmp_path, "  []\n")
    out = sh(f"monitor rules explain cams --url {url}", tmp_path, clean_env())
    assert out.returncode in (0, 1), out.stderr
    assert "Warning" not in out.stderr and "warn" not in out.stderr.lower(), out.stderr
    assert out.stdout.startswith("rule cams:")


def test_alert_terms_show_the_text_that_matched_and_explain_shows_the_pattern(
    tmp_path, http_server
):
    feed = "/f.xml"
    http_server.add(feed, rss("Council meets"), content_type="application/rss+xml")
    project(tmp_path, f"  - {{name: wire, kind: rss, url: '{http_server.url(feed)}'}}\n")
    env = clean_env()
    sh("monitor once", tmp_path, env)  # the baseline
    http_server.add(
        feed,
        rss("Council meets", "Council adds Licence Plate Readers"),
        content_type="application/rss+xml",
    )
    alert = sh("monitor once", tmp_path, env).stdout
    assert "Terms:     Licence Plate Readers" in alert
    explained = sh(
        "monitor rules explain cams --text 'Council adds Licence Plate Readers'", tmp_path, env
    ).stdout
    assert "'licence plate reader*' in title at 13-33: found 'Licence Plate Readers'" in explained
    assert "  file rules/r.yaml:2" in explained  # as `check` and `rules test` print it


# -- options and help ---------------------------------------------------------------------


def leaf_parsers(parser=None, prefix=()):
    parser = parser or build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sp in action.choices.items():
                yield prefix + (name,), sp
                yield from leaf_parsers(sp, prefix + (name,))


def test_every_option_has_help_and_every_command_a_description():
    missing = []
    for path, sp in leaf_parsers():
        if not sp.description:
            missing.append(" ".join(path) + ": no description")
        for action in sp._actions:
            if action.help in (None, "") and not isinstance(action, argparse._SubParsersAction):
                missing.append(f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def test_help_opens_with_what_the_command_does():
    out = subprocess.run(
        [sys.executable, "-m", "monitor", "rules", "list", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    after_usage = out.split("\n\n", 1)[1]
    assert after_usage.splitlines()[0] == (
        "Every rule: id, title, severity, tags, channels, enabled, file:line."
    )


def test_global_options_before_or_after_the_command(tmp_path):
    (tmp_path / "x.yaml").write_text("state: ./s.db\nrules: ./r\nlog: {level: error}\n")
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "a.yaml").write_text("rules:\n  - {id: a, title: A, match: [x]}\n")
    env = clean_env()
    for command in (
        "monitor --config x.yaml --log-level debug check",
        "monitor check --config x.yaml --log-level debug",
        "monitor --log-level debug check -c x.yaml",
    ):
        out = sh(command, tmp_path, env)
        assert out.returncode == 0 and out.stdout.startswith("ok: 0 sources"), (command, out)


# -- replay -----------------------------------------------------------------------------


def test_replay_takes_plain_seconds_cleans_links_and_says_unknown(tmp_path, http_server):
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        "<item><title>New camera on Main Street</title>"
        "<link>https://news.example.org/cam?id=4&amp;utm_source=feed&amp;fbclid=abc</link>"
        "<guid>cam-4</guid></item></channel></rss>"
    )
    url = http_server.add("/f.xml", body, content_type="application/rss+xml")
    project(tmp_path, f"  - {{name: wire, kind: rss, url: '{url}'}}\n")
    env = clean_env()
    sh("monitor once", tmp_path, env)
    js = sh("monitor replay --since 3600 --json", tmp_path, env)
    assert js.returncode == 0, js.stderr
    (row,) = [json.loads(ln) for ln in js.stdout.splitlines()]
    assert row["link"] == "https://news.example.org/cam?id=4"
    text = sh("monitor replay --since 90", tmp_path, env).stdout
    assert text.splitlines()[0].startswith("unknown     wire ")
    bad = sh("monitor replay --since soon", tmp_path, env)
    assert bad.returncode == 2 and "'soon' is not a duration" in bad.stderr


# -- dead letters after a URL edit --------------------------------------------------------


def test_dead_letters_follow_their_channel_to_its_new_destination_once(
    tmp_path, http_server, webhook
):
    feed = "/f.xml"
    http_server.add(feed, rss("Council meets"), content_type="application/rss+xml")
    closed = f"json://127.0.0.1:{free_port()}/old"
    delivery = "delivery: {max_attempts: 1}\n"

    def channel(*urls: str) -> str:
        return "channels:\n  hook:\n    urls: [" + ", ".join(f"'{u}'" for u in urls) + "]\n"

    source = f"  - {{name: wire, kind: rss, url: '{http_server.url(feed)}'}}\n"
    project(tmp_path, source, channel(webhook.url("/a"), closed) + delivery)
    env = clean_env()
    sh("monitor once", tmp_path, env)
    http_server.add(
        feed, rss("Council meets", "New camera on Main Street"), content_type="application/rss+xml"
    )
    sh("monitor once", tmp_path, env)
    assert [p for p, *_ in webhook.log] == ["/a"]
    outbox = sh("monitor outbox", tmp_path, env).stdout
    assert "dead 1" in outbox and "--retry-dead" in outbox

    # The broken URL is edited; /a stays.
    project(tmp_path, source, channel(webhook.url("/a"), webhook.url("/c")) + delivery)
    retried = sh("monitor outbox --retry-dead", tmp_path, env).stdout.splitlines()
    assert retried[0] == (
        "0 dead deliveries queued again; 1 re-targeted by channel name, as their destination "
        "left the channel: 1 new delivery to the channel's current destinations, 1 skipped "
        "(that destination has the story already)"
    )
    assert not any("--retry-dead" in ln for ln in retried[1:])
    sh("monitor once", tmp_path, env)
    assert sorted(p for p, *_ in webhook.log) == ["/a", "/c"]  # /a never twice
    again = sh("monitor outbox --retry-dead", tmp_path, env).stdout
    assert again.startswith("0 dead deliveries queued again\n")
    sh("monitor once", tmp_path, env)
    assert len(webhook.log) == 2

    # A channel that is gone: its rows stay dead, and the output says why.
    http_server.add(
        feed,
        rss("Council meets", "New camera on Main Street", "Second camera on Main Street"),
        content_type="application/rss+xml",
    )
    project(tmp_path, source, channel(closed) + delivery)
    sh("monitor once", tmp_path, env)
    project(tmp_path, source, "channels:\n  other:\n    urls: []\n" + delivery)
    gone = sh("monitor outbox --retry-dead", tmp_path, env).stdout
    assert gone.startswith(
        "0 dead deliveries queued again; 1 left dead: their channel is no longer configured"
    )


# -- small things -------------------------------------------------------------------------


def test_gitignore_covers_the_local_config_and_the_state():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(
        ["git", "check-ignore", "config.yaml", "data/monitor.db", "config/config.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.stdout.split() == ["config.yaml", "data/monitor.db", "config/config.yaml"]


def test_compose_and_readme_agree_on_the_stop_deadline():
    from monitor.configbase import parse_duration
    from monitor.service import STOP_GRACE

    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    grace = parse_duration(compose["services"]["monitor"]["stop_grace_period"])
    readme = (ROOT / "README.md").read_text()
    assert f"`stop_grace_period: {grace:g}s`" in readme
    assert f"it needs at most {STOP_GRACE:g}" in readme
    assert STOP_GRACE < min(grace, 10)  # within compose's and `docker stop`'s default


def test_reload_done_is_logged_after_the_start_problems_are_cleared(tmp_path):
    from monitor import log
    from monitor.engine import load_rules
    from monitor.reload import Reloader

    cfg = project(tmp_path, "  []\n")
    from monitor.config import load_config
    from monitor.service import Monitor

    config = load_config(cfg)
    ruleset, _ = load_rules(config.rule_paths)
    mon = Monitor(config, ruleset, problems=["rules/x.yaml:1:1: broken"])
    seen: list = []

    def watch(name, fields):
        if name == "reload.done":
            seen.append(list(mon.start_problems))

    log.subscribe(watch)
    try:
        assert Reloader(mon).reload() is True
    finally:
        log.unsubscribe(watch)
        mon.close()
    assert seen == [[]]
