"""config.yaml: the shape users rely on, and one clear line per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import ConfigError, load_config, parse_duration

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def errors_of(path: Path, env: dict | None = None) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_config(path, env=env or {})
    return [str(x) for x in e.value.errors]


def test_the_issue_shape_loads_with_env_and_relative_paths(tmp_path):
    p = write(
        tmp_path,
        """\
state: ./data/monitor.db
rules: ./rules
channels:
  team-slack:
    urls: ["${SLACK_WEBHOOK_URL}"]
  privacy-desk:
    urls: ["mailtos://${SMTP_USER}:${SMTP_PASSWORD}@smtp.example.org?to=desk@example.org"]
sources:
  - name: biometric-update
    kind: rss
    url: https://www.biometricupdate.com/feed
    interval: 15m
  - name: caixin-tech
    kind: html
    url: https://www.caixinglobal.com/tech/
    interval: 30m
    select: {item: "dl", title: "a", link: "a", summary: "p", published: "span"}
""",
    )
    env = {
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T1/B2/C3",
        "SMTP_USER": "u",
        "SMTP_PASSWORD": "p$w",
    }
    cfg = load_config(p, env=env)
    assert cfg.state == tmp_path / "data" / "monitor.db"
    assert cfg.rule_paths == [tmp_path / "rules"]
    assert cfg.channels["team-slack"].urls == ["https://hooks.slack.com/services/T1/B2/C3"]
    assert cfg.channels["privacy-desk"].urls[0].startswith("mailtos://u:p$w@")
    assert [s.interval for s in cfg.sources] == [900.0, 1800.0]
    assert cfg.sources[1].select.item == "dl"


def test_missing_variable_is_named_with_its_line(tmp_path):
    p = write(tmp_path, 'state: "${STATE_DIR}/x.db"\n')
    assert errors_of(p) == [f"{p}:1:1: environment variable STATE_DIR is not set"]


def test_a_channel_whose_secret_is_missing_is_disabled_with_one_warning(tmp_path):
    p = write(
        tmp_path,
        'channels:\n  slack:\n    urls: ["${SLACK_WEBHOOK_URL}"]\n  console:\n    urls: []\n',
    )
    cfg = load_config(p, env={})
    assert list(cfg.channels) == ["console"]
    assert cfg.disabled_channels == {"slack": ("SLACK_WEBHOOK_URL",)}
    assert cfg.warnings == (
        f"{p}:3:12: channel 'slack' is disabled: environment variable SLACK_WEBHOOK_URL is not "
        "set; set it (or SLACK_WEBHOOK_URL_FILE) to send to it",
    )


def test_default_file_and_dollar_escape(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    p = write(
        tmp_path, 'state: "${STATE:-./x.db}"\nchannels:\n  a:\n    urls: ["json://h/$$${TOKEN}"]\n'
    )
    cfg = load_config(p, env={"TOKEN_FILE": str(secret)})
    assert cfg.state == tmp_path / "x.db"
    assert cfg.channels["a"].urls == ["json://h/$s3cret"]


def test_unknown_keys_point_at_the_key_and_suggest(tmp_path):
    p = write(
        tmp_path,
        """\
sources:
  - name: a
    kind: rss
    url: https://example.org/feed
    intervall: 15m
chanels: {}
""",
    )
    errs = errors_of(p)
    assert f"{p}:5:5: unknown key 'intervall' (did you mean 'interval'?)" in errs
    assert f"{p}:6:1: unknown key 'chanels' (did you mean 'channels'?)" in errs


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "sources:\n  - {name: a, kind: atom, url: 'https://e.org/'}\n",
            "'atom' is not allowed for 'kind'; expected one of "
            "rss, html, sitemap, json, google_news, bing_news, gdelt, mastodon, hackernews, telegram",
        ),
        ("sources:\n  - {name: a, kind: html, url: 'https://e.org/'}\n", "needs 'select'"),
        ("sources:\n  - {name: a, kind: rss, url: 'ftp://e.org/'}\n", "is not an http(s) URL"),
        (
            "sources:\n  - {name: a, kind: rss, url: 'https://e.org/', interval: soon}\n",
            "'soon' is not a duration",
        ),
        ("sources:\n  - {kind: rss, url: 'https://e.org/'}\n", "missing required key 'name'"),
        (
            "sources:\n  - {name: a, kind: rss, url: 'https://e.org/'}\n  - {name: a, kind: rss, url: 'https://e.org/2'}\n",
            "duplicate source name 'a'",
        ),
        ("- just\n- a list\n", "expected a mapping"),
        ("sources: [\n", "YAML syntax error"),
    ],
)
def test_each_mistake_is_one_line_with_file_and_line(tmp_path, text, expected):
    p = write(tmp_path, text)
    errs = errors_of(p)
    assert len(errs) == 1, errs
    assert errs[0].startswith(f"{p}:") and expected in errs[0], errs[0]
    assert "\n" not in errs[0]


def test_durations():
    assert (
        parse_duration("90s") == 90 and parse_duration("1h30m") == 5400 and parse_duration(60) == 60
    )
    assert parse_duration("1d") == 86400
    for bad in ("", "5 minutes", "0s", -1, True):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_shipped_example_config_is_valid(tmp_path):
    env = {
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T1/B2/C3",
        "SMTP_USER": "u",
        "SMTP_PASSWORD": "p",
    }
    cfg = load_config(ROOT / "config.example.yaml", env=env)
    kinds = {s.kind for s in cfg.sources}
    from monitor.sources.registry import KINDS

    assert kinds == set(KINDS)  # an example of every kind
    assert any(s.lang == "zh" for s in cfg.sources)
    assert cfg.rule_paths == [ROOT / "rules"]
    desk = cfg.channels["privacy-desk"]
    assert desk.digest and desk.digest_bypass == "critical" and desk.template and desk.template.body
    assert cfg.channels["team-slack"].default and cfg.channels["team-slack"].burst == 120
