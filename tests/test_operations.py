"""Running for months, in process: the HTTP endpoint (/healthz, /readyz,
/metrics), hot reload of rules and config, log format and masking."""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from monitor import log
from monitor.config import load_config
from monitor.service import Monitor, load_checked_rules

RULE = """\
rules:
  - id: face-recognition
    title: Facial recognition
    match: ["facial recognition", 人脸识别]
"""


def rss(*titles: str) -> str:
    items = "".join(
        f"<item><title>{t}</title><link>http://e.org/{abs(hash(t))}</link><guid>{t}</guid></item>"
        for t in titles
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'
    )


@pytest.fixture
def logbuf():
    buf = io.StringIO()
    log.setup("info", stream=buf, fmt="text")
    yield buf
    log.setup("info", fmt="text")
    log.forget_secrets()


def project(tmp_path: Path, server, extra: str = "") -> Path:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "face.yaml").write_text(RULE, encoding="utf-8")
    server.add("/a.xml", rss("Council meets"), content_type="application/rss+xml")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"state: ./state.db\nrules: ./rules\nsources:\n  - name: a\n    kind: rss\n"
        f"    url: {server.url('/a.xml')}\n" + extra,
        encoding="utf-8",
    )
    return cfg


def start(cfg: Path) -> Monitor:
    config = load_config(cfg)
    ruleset, problems = load_checked_rules(config)
    assert not problems
    return Monitor(config, ruleset)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(pred, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.05)


# -- HTTP endpoint -------------------------------------------------------------


def test_http_endpoint_is_off_unless_configured(tmp_path, http_server, logbuf):
    mon = start(project(tmp_path, http_server))
    try:
        mon.start_http()
        assert mon.api is None
    finally:
        mon.close()


def test_listen_defaults_to_loopback_and_bad_addresses_are_errors(tmp_path):
    from monitor.config import ConfigError

    cfg = tmp_path / "c.yaml"
    cfg.write_text("http:\n  listen: ':9108'\n")
    assert load_config(cfg).http.address == ("127.0.0.1", 9108)
    cfg.write_text("http:\n  listen: 'localhost'\n")
    with pytest.raises(ConfigError) as e:
        load_config(cfg)
    assert f"{cfg}:2:" in str(e.value) and "host:port" in str(e.value)


def test_healthz_readyz_and_metrics(tmp_path, http_server, logbuf):
    cfg = project(tmp_path, http_server, "http:\n  listen: 127.0.0.1:0\n")
    mon = start(cfg)
    loop = threading.Thread(target=mon.run_forever)
    loop.start()
    try:
        wait_for(lambda: mon.api is not None and mon.cycle_ended_at is not None)
        base = mon.api.url
        assert mon.api.address[0] == "127.0.0.1"
        status, body = get(base + "/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok", body
        assert json.loads(body)["reload"]["ok"] is True
        status, body = get(base + "/readyz")
        assert status == 200 and json.loads(body) == {"status": "ok"}
        status, text = get(base + "/metrics")
        assert status == 200
        assert 'monitor_source_polls_total{source="a"} 1.0' in text
        assert "monitor_cycle_duration_seconds_count 1.0" in text
        assert 'monitor_outbox_rows{status="pending"} 0.0' in text
        assert "monitor_rules_loaded 1.0" in text
        assert get(base + "/nothing")[0] == 404

        # A loop that has made no progress for longer than stale_after is unhealthy.
        mon.started_at = mon.cycle_started_at = mon.cycle_ended_at = time.monotonic() - 3600
        status, body = get(base + "/healthz")
        assert status == 503 and json.loads(body)["status"] == "stale"
    finally:
        mon.stop.set()
        loop.join(timeout=10)
    # Stopped loop: unhealthy, whatever the clock says.
    assert mon.health()[0] is False and mon.health()[1]["status"] == "stopped"
    mon.close()


def test_readyz_fails_when_the_store_does_not_answer(tmp_path, http_server, logbuf):
    mon = start(project(tmp_path, http_server))
    try:
        assert mon.ready()[0] is True
        mon.config = mon.config.model_copy(update={"state": tmp_path / "gone" / "state.db"})
        ok, body = mon.ready()
        assert ok is False and body["status"] == "unavailable" and "unable to open" in body["error"]
    finally:
        mon.close()


def test_metrics_count_failures_matches_and_deliveries_per_name(
    tmp_path, http_server, webhook, logbuf
):
    http_server.add("/down.xml", "no", status=503)
    cfg = project(
        tmp_path,
        http_server,
        f"  - name: down\n    kind: rss\n    url: {http_server.url('/down.xml')}\n"
        f"channels:\n  hook:\n    urls: ['{webhook.url()}']\n",
    )
    mon = start(cfg)
    try:
        mon.cycle()  # baseline
        http_server.add(
            "/a.xml",
            rss("Police use facial recognition", "Council meets"),
            content_type="application/rss+xml",
        )
        mon.cycle(mon.sources)
        text = mon.metrics.exposition().decode()
    finally:
        mon.close()
    assert 'monitor_source_failures_total{reason="http",source="down"} 2.0' in text
    assert 'monitor_stories_new_total{source="a"} 2.0' in text
    assert 'monitor_rule_matches_total{rule="face-recognition"} 1.0' in text
    assert 'monitor_deliveries_total{channel="hook"} 1.0' in text
    assert 'monitor_outbox_rows{status="sent"} 1.0' in text
    assert len(webhook.posts) == 1


def test_a_monitor_without_metrics_polls_and_delivers_but_counts_nothing(
    tmp_path, http_server, webhook, logbuf
):
    """`monitor once` serves no /metrics: its Monitor has no counters and
    hears no log event for them, and the polls, matches and alerts are as
    before."""
    cfg = project(tmp_path, http_server, f"channels:\n  hook:\n    urls: ['{webhook.url()}']\n")
    config = load_config(cfg)
    ruleset, _ = load_checked_rules(config)
    mon = Monitor(config, ruleset, metrics=False)
    try:
        assert mon.metrics is None
        assert not [s for s in log._subscribers if "Metrics" in getattr(s, "__qualname__", "")]
        mon.cycle()  # baseline
        http_server.add(
            "/a.xml",
            rss("Police use facial recognition", "Council meets"),
            content_type="application/rss+xml",
        )
        outcome = mon.cycle(mon.sources)
    finally:
        mon.close()
    assert outcome.polls[0].matched == 1 and outcome.delivery.sent == 1
    assert len(webhook.posts) == 1


# -- hot reload ----------------------------------------------------------------


def test_a_changed_rule_file_is_picked_up(tmp_path, http_server, logbuf):
    cfg = project(tmp_path, http_server)
    mon = start(cfg)
    try:
        assert mon.reloader.check() is False  # nothing changed
        (tmp_path / "rules" / "more.yaml").write_text(
            "rules:\n  - id: data-leak\n    title: Data leak\n    match: [leaked]\n",
            encoding="utf-8",
        )
        assert mon.reloader.check() is True
        assert sorted(r.id for r in mon.rules.rules) == ["data-leak", "face-recognition"]
        assert "event=reload.done" in logbuf.getvalue() and "rules=2" in logbuf.getvalue()
        assert mon.health()[1]["reload"]["ok"] is True
    finally:
        mon.close()


def test_a_broken_rule_file_keeps_the_last_good_rules(tmp_path, http_server, logbuf):
    cfg = project(tmp_path, http_server, "http:\n  listen: 127.0.0.1:0\n")
    mon = start(cfg)
    try:
        bad = tmp_path / "rules" / "face.yaml"
        bad.write_text(RULE + "    severity: huge\n", encoding="utf-8")
        assert mon.reloader.check() is False
        lines = [ln for ln in logbuf.getvalue().splitlines() if "event=reload.rejected" in ln]
        assert len(lines) == 1 and f"{bad}:5:" in lines[0] and "severity" in lines[0], lines
        assert [r.id for r in mon.rules.rules] == ["face-recognition"]  # still running
        ok, body = mon.health()
        assert body["reload"]["ok"] is False and f"{bad}:5:" in body["reload"]["errors"][0]
        assert "monitor_last_reload_ok 0.0" in mon.metrics.exposition().decode()
        assert mon.store.get_meta("last_reload")["ok"] is False
        # Not retried until the file changes again; then a good file clears the report.
        assert mon.reloader.check() is False
        assert logbuf.getvalue().count("event=reload.rejected") == 1
        bad.write_text(RULE.replace("Facial recognition", "Face recognition"), encoding="utf-8")
        assert mon.reloader.check() is True
        assert mon.health()[1]["reload"]["ok"] is True
        assert mon.rules.rules[0].title == "Face recognition"
    finally:
        mon.close()


def test_a_broken_config_on_reload_keeps_sources_and_channels(tmp_path, http_server, logbuf):
    cfg = project(tmp_path, http_server)
    mon = start(cfg)
    try:
        cfg.write_text(cfg.read_text() + "    intervall: 5m\n", encoding="utf-8")
        assert mon.reloader.check() is False
        line = next(ln for ln in logbuf.getvalue().splitlines() if "event=reload.rejected" in ln)
        assert f"{cfg}:7:5: unknown key 'intervall'" in line
        assert [s.name for s in mon.sources] == ["a"]
        assert mon.health()[1]["reload"]["ok"] is False
    finally:
        mon.close()


def test_sources_and_channels_are_reloaded_from_the_config(tmp_path, http_server, webhook, logbuf):
    cfg = project(tmp_path, http_server)
    mon = start(cfg)
    try:
        http_server.add("/b.xml", rss("Other"), content_type="application/rss+xml")
        cfg.write_text(
            cfg.read_text() + f"  - name: b\n    kind: rss\n    url: {http_server.url('/b.xml')}\n"
            f"channels:\n  hook:\n    urls: ['{webhook.url()}']\n",
            encoding="utf-8",
        )
        assert mon.reloader.check() is True
        assert [s.name for s in mon.sources] == ["a", "b"]
        assert list(mon.dests) == ["hook"]
        assert [s.name for s in mon.due()] == ["a", "b"]
    finally:
        mon.close()


def test_a_reload_asked_by_signal_rereads_even_when_watching_is_off(tmp_path, http_server, logbuf):
    cfg = project(tmp_path, http_server, "reload:\n  watch: false\n")
    mon = start(cfg)
    try:
        (tmp_path / "rules" / "more.yaml").write_text(
            "rules:\n  - id: leak\n    title: Leak\n    match: [leaked]\n", encoding="utf-8"
        )
        assert mon.reloader.check() is False  # not watching
        mon.request_reload()  # what SIGHUP does
        assert mon.reloader.check() is True and len(mon.rules.rules) == 2
    finally:
        mon.close()


# -- logs ----------------------------------------------------------------------


def test_json_log_lines_carry_names_as_fields(logbuf):
    log.set_format("json")
    log.event("rule.matched", source="wire", rule="face-recognition", story='A "quoted" title')
    log.event("alert.sent", channel="desk", outbox_id=3)
    first, second = [json.loads(ln) for ln in logbuf.getvalue().splitlines()]
    assert (
        first["event"] == "rule.matched"
        and first["source"] == "wire"
        and first["rule"] == "face-recognition"
    )
    assert (
        first["story"] == 'A "quoted" title'
        and first["level"] == "info"
        and first["ts"].endswith("Z")
    )
    assert second == {**second, "channel": "desk", "outbox_id": 3}


def test_secrets_are_masked_in_every_line(tmp_path, logbuf):
    from monitor.service import register_secrets

    cfg = tmp_path / "c.yaml"
    token = tmp_path / "token"
    token.write_text("s3cr3t-t0ken\n")
    cfg.write_text(
        "channels:\n  desk:\n    urls: ['json://127.0.0.1:9/hook?token=${HOOK_TOKEN}',"
        " 'mailtos://user:${SMTP_PASSWORD}@smtp.example.org']\n"
        "sources:\n  - {name: s, kind: rss, url: 'https://e.org/f?key=${FEED_KEY}'}\n"
        "state: ${STATE:-./x.db}\n"
    )
    config = load_config(
        cfg,
        env={"HOOK_TOKEN_FILE": str(token), "SMTP_PASSWORD": "pa55word", "FEED_KEY": "feedkey123"},
    )
    assert config.secrets == {"s3cr3t-t0ken", "pa55word", "feedkey123"}
    register_secrets(config)
    log.event(
        "x",
        error="refused json://127.0.0.1:9/hook?token=s3cr3t-t0ken while sending",
        url="https://e.org/f?key=feedkey123",
        other="smtp pa55word",
        also="https://bob:hunter22@e.org/x",
    )
    line = logbuf.getvalue()
    for secret in ("s3cr3t-t0ken", "pa55word", "feedkey123", "hunter22"):
        assert secret not in line
    # the path of a webhook URL is often its token: shown by its first and last letter
    assert "json://127.0.0.1:9/h...k" in line and "https://bob:***@e.org/x" in line


def test_example_config_endpoint_follows_the_image_environment():
    root = Path(__file__).resolve().parent.parent
    env = {
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T1/B2/C3",
        "SMTP_USER": "u",
        "SMTP_PASSWORD": "pw-in-env",
    }
    assert (
        load_config(root / "config.example.yaml", env=env).http.address is None
    )  # off unless configured
    cfg = load_config(
        root / "config.example.yaml", env={**env, "MONITOR_HTTP_LISTEN": "127.0.0.1:9108"}
    )
    assert cfg.http.address == ("127.0.0.1", 9108)
    assert cfg.log.format == "text" and cfg.reload.watch is True
    assert {"https://hooks.slack.com/services/T1/B2/C3", "pw-in-env"} <= cfg.secrets


def test_progress_line_steps_aside_for_log_lines(logbuf, monkeypatch):
    from monitor.progress import Progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("MONITOR_NO_PROGRESS", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    tty = Tty()
    with Progress("once", stream=tty) as progress:
        progress(1, 4, "wire")
        drawn = tty.getvalue()
        log.event("source.polled", source="wire")
        assert (
            tty.getvalue()
            == drawn + "\r\x1b[K" + "\r\x1b[K" + "once [#####---------------] 1/4 wire"
        )
    assert (
        tty.getvalue().endswith("\r\x1b[K") and log.before_write is None and log.after_write is None
    )
    assert "event=source.polled source=wire" in logbuf.getvalue()
    quiet = io.StringIO()  # not a terminal: nothing at all
    with Progress("once", stream=quiet) as progress:
        progress(1, 4, "wire")
    assert quiet.getvalue() == ""


def test_the_health_check_reaches_an_any_address_bind_on_loopback():
    from monitor.cli import health_url

    assert health_url("0.0.0.0", 9108) == "http://127.0.0.1:9108/healthz"  # compose.yaml's bind
    assert health_url("::", 9108) == "http://[::1]:9108/healthz"
    assert health_url("127.0.0.1", 9108) == "http://127.0.0.1:9108/healthz"
    assert health_url("::1", 9) == "http://[::1]:9/healthz"
