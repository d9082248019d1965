"""The first hour of a new user, as the README tells it: the example config
with one account set, the container's commands, a stop during start-up,
`monitor init`, `monitor notify`, `monitor rules list` and the health check
of a monitor that is not running. Every command runs as a subprocess."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from httpserver import free_port
from test_lifecycle import (  # noqa: F401 (the fixture kills what a test left running)
    ROOT,
    Proc,
    _no_process_outlives_its_test,
    dockerfile,
    pid1_prefix,
    rss,
)

BIN = str(Path(sys.executable).parent)  # where the `monitor` script is installed


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a new shell: none of the monitor's variables or
    the example config's secrets, the `monitor` script on the PATH."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MONITOR_", "SLACK_", "SMTP_", "DISCORD_"))
    }
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def sh(command: str, cwd: Path, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def readme_block(heading: str) -> list[str]:
    """The command lines of the first ```sh block under a README heading,
    comments cut off."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(f"\n{heading}\n", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


def loopback_sources(config: Path, urls: list[str]) -> None:
    """'then edit sources': the example's sources replaced by loopback feeds
    (no test touches the internet); everything above them is kept as it is."""
    text = config.read_text(encoding="utf-8")
    mine = "sources:\n" + "".join(
        f"  - name: feed-{i}\n    kind: rss\n    url: {u}\n    interval: 1h\n"
        for i, u in enumerate(urls)
    )
    new, n = re.subn(r"(?ms)^sources:\n.*?(?=^[a-z_]+:)", mine + "\n", text, count=1)
    assert n == 1
    config.write_text(new, encoding="utf-8")


def clone_layout(tmp_path: Path) -> Path:
    """What a fresh clone holds that the README's steps use."""
    shutil.copy(ROOT / "config.example.yaml", tmp_path / "config.example.yaml")
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    return tmp_path


def test_readme_running_it_for_real_works_as_written(tmp_path, http_server):
    lines = readme_block("## Running it for real")
    assert lines[0] == "cp config.example.yaml config.yaml"
    assert lines[1].startswith("export SLACK_WEBHOOK_URL=")
    assert [ln.split()[:2] for ln in lines[2:]] == [
        ["monitor", "check"],
        ["monitor", "once"],
        ["monitor", "run"],
    ]
    work = clone_layout(tmp_path)
    env = clean_env()
    assert sh(lines[0], work, env).returncode == 0
    loopback_sources(
        work / "config.yaml",
        [http_server.add("/a.xml", rss("Council meets"), content_type="application/rss+xml")],
    )
    name, _, value = lines[1][len("export ") :].partition("=")
    env[name] = value

    check = sh(lines[2], work, env)
    assert check.returncode == 0, check.stdout + check.stderr
    warnings = [ln for ln in check.stdout.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1, check.stdout
    m = re.fullmatch(
        r"warning: config\.yaml:(\d+):(\d+): channel 'privacy-desk' is disabled: environment "
        r"variables SMTP_USER and SMTP_PASSWORD are not set; set them \(or SMTP_USER_FILE, "
        r"SMTP_PASSWORD_FILE\) to send to it",
        warnings[0],
    )
    assert m, warnings[0]
    # the position is the line that names the variables
    assert "${SMTP_USER}" in (work / "config.yaml").read_text().splitlines()[int(m[1]) - 1]
    assert check.stdout.splitlines()[-1].startswith("ok: 1 source, 1 channel, ")

    once = sh(lines[3], work, env)
    assert once.returncode == 0, once.stdout + once.stderr
    assert "event=channel.disabled" in once.stdout and "SMTP_USER" in once.stdout
    assert "event=source.polled source=feed-0" in once.stdout

    proc = Proc(shlex.split(lines[4]), env=env, cwd=work)
    proc.wait_for("event=monitor.started")
    assert "channels=team-slack" in proc.out
    proc.p.send_signal(signal.SIGTERM)
    assert proc.finish(timeout=30) == 0, proc.out


def test_the_container_runs_the_example_config_with_one_secret(tmp_path, http_server, webhook):
    """The README's `docker run` (a Slack secret in a file, nothing else)
    over the example config: `run` starts, the HEALTHCHECK answers 0, and
    after the stop it answers 1, never 2."""
    image = dockerfile()
    for folder in ("config", "data", "secrets"):
        (tmp_path / folder).mkdir()
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    config = tmp_path / "config" / "config.yaml"
    shutil.copy(ROOT / "config.example.yaml", config)
    loopback_sources(
        config,
        [http_server.add("/a.xml", rss("Council meets"), content_type="application/rss+xml")],
    )
    (tmp_path / "secrets" / "slack_webhook_url").write_text(webhook.url() + "\n")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "-e SLACK_WEBHOOK_URL_FILE=/run/secrets/slack_webhook_url" in readme
    env = clean_env(
        **{
            **image["env"],
            "MONITOR_CONFIG": str(config),
            "MONITOR_STATE": str(tmp_path / "data" / "monitor.db"),
            "MONITOR_RULES": str(tmp_path / "rules"),
            "MONITOR_HTTP_LISTEN": f"127.0.0.1:{free_port()}",
            "SLACK_WEBHOOK_URL_FILE": str(tmp_path / "secrets" / "slack_webhook_url"),
        }
    )

    def healthcheck() -> subprocess.CompletedProcess:
        return subprocess.run(
            image["healthcheck"], capture_output=True, text=True, timeout=60, env=env
        )

    proc = Proc(pid1_prefix() + image["entrypoint"] + image["cmd"], env=env, cwd=tmp_path / "data")
    proc.wait_for("event=source.polled")
    assert "event=channel.disabled" in proc.out and "SMTP_PASSWORD" in proc.out
    health = healthcheck()
    assert health.returncode == 0, health.stdout + health.stderr
    proc.p.send_signal(signal.SIGTERM)
    if pid1_prefix():  # the monitor is the child of unshare: signal it
        children = Path(f"/proc/{proc.p.pid}/task/{proc.p.pid}/children").read_text().split()
        if children:
            os.kill(int(children[0]), signal.SIGTERM)
    assert proc.finish(timeout=30) == 0, proc.out
    assert healthcheck().returncode == 1

    # A config that does not load: the health check says 1, not 2.
    config.write_text("sources: [\n")
    broken = healthcheck()
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert broken.stdout.startswith("unhealthy: the config")
    # An unreachable database: 1 as well.
    config.write_text(f"state: postgresql://monitor@127.0.0.1:{free_port()}/monitor\n")
    assert healthcheck().returncode == 1


def sigterm_caught(pid: int) -> bool:
    """Whether the process has a handler for SIGTERM (Linux /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = int(re.search(r"^SigCgt:\s*([0-9a-f]+)", status, re.M)[1], 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("command", ["run", "once"])
def test_sigterm_during_start_up_is_a_clean_stop(tmp_path, http_server, command):
    """The signal is sent the moment a handler exists, while the program is
    still importing and loading: exit 0 with a log line, no poll."""
    (tmp_path / "rules").mkdir()
    shutil.copy(ROOT / "rules" / "facial-recognition.yaml", tmp_path / "rules")
    feed = http_server.add("/a.xml", rss("Council meets"), content_type="application/rss+xml")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"state: ./state.db\nrules: ./rules\nsources:\n  - {{name: a, kind: rss, url: {feed}}}\n"
    )
    proc = Proc([sys.executable, "-m", "monitor", command, "--config", str(cfg)], env=clean_env())
    while not sigterm_caught(proc.p.pid):
        assert proc.p.poll() is None, proc.out
        time.sleep(0.002)
    proc.p.send_signal(signal.SIGTERM)
    assert proc.finish(timeout=60) == 0, proc.out
    assert "event=monitor.stopping signal=SIGTERM" in proc.out
    assert "event=source.polled" not in proc.out
    assert http_server.requests == [] or all(r.path != "/a.xml" for r in http_server.requests)


# -- monitor init ---------------------------------------------------------------


def test_init_writes_a_config_that_works_with_no_account(tmp_path):
    env = clean_env()
    out = sh("monitor init starter", tmp_path, env)
    assert out.returncode == 0, out.stderr
    folder = tmp_path / "starter"
    assert (folder / "config.yaml").is_file()
    shipped = sorted(p.name for p in (ROOT / "rules").glob("*.y*ml"))
    assert sorted(p.name for p in (folder / "rules").glob("*.y*ml")) == shipped
    commands = [ln.split("#")[0].split() for ln in out.stdout.splitlines() if "monitor " in ln]
    assert commands == [
        ["monitor", "check", "--config", "starter/config.yaml"],
        ["monitor", "once", "--config", "starter/config.yaml"],
        ["monitor", "run", "--config", "starter/config.yaml"],
    ]
    # The first printed command, as printed: no warning, no account.
    check = sh(" ".join(commands[0]), tmp_path, env)
    assert check.returncode == 0, check.stdout
    assert "warning" not in check.stdout
    assert check.stdout.startswith("ok: 7 sources, 1 channel, ")
    config = yaml.safe_load((folder / "config.yaml").read_text())
    assert config["channels"] == {"console": {"urls": [], "default": True}}
    # the shipped sources: those of config.example.yaml, as written there
    example = {
        s["name"]: s for s in yaml.safe_load((ROOT / "config.example.yaml").read_text())["sources"]
    }
    for src in config["sources"]:
        assert {k: example[src["name"]][k] for k in src} == src


def test_init_refuses_to_overwrite_anything(tmp_path):
    env = clean_env()
    (tmp_path / "config.yaml").write_text("# mine\n")
    out = sh("monitor init", tmp_path, env)
    assert out.returncode == 1
    assert out.stderr.startswith("error: config.yaml already exists; init writes only new files")
    assert (tmp_path / "config.yaml").read_text() == "# mine\n"
    assert not (tmp_path / "rules").exists()
    (tmp_path / "config.yaml").unlink()
    (tmp_path / "rules").mkdir()
    assert sh("monitor init", tmp_path, env).returncode == 1
    assert not (tmp_path / "config.yaml").exists() and list((tmp_path / "rules").iterdir()) == []


# -- monitor notify ---------------------------------------------------------------


def notify_config(tmp_path: Path, webhook) -> Path:
    closed = free_port()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "state: ./state.db\n"
        "channels:\n"
        f"  hook:\n    urls: ['{webhook.url()}']\n"
        f"  down:\n    urls: ['json://127.0.0.1:{closed}/x']\n"
        "  console:\n    urls: []\n"
    )
    return cfg


def test_notify_sends_a_test_alert_through_apprise_and_says_what_each_destination_did(
    tmp_path, webhook
):
    cfg = notify_config(tmp_path, webhook)
    env = clean_env()
    ok = sh("monitor notify --config config.yaml --channel hook", tmp_path, env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert len(webhook.posts) == 1
    assert webhook.posts[0]["title"].startswith("[Test alert] Test alert")
    assert "Terms:" in webhook.posts[0]["message"]
    assert re.search(
        r"^hook  json://127\.0\.0\.1:\d+/h\.\.\.k  accepted$", ok.stdout, re.M
    )  # path masked
    assert ok.stdout.splitlines()[-1] == "test alert: 1 destination accepted"
    assert not (tmp_path / "state.db").exists()  # no feed, no state

    every = sh("monitor notify --config config.yaml --all", tmp_path, env)
    assert every.returncode == 1
    assert re.search(r"^down  json://127\.0\.0\.1:\d+/x  FAILED: ", every.stdout, re.M)
    assert re.search(r"^console  stdout  accepted$", every.stdout, re.M)
    assert "=== ALERT: [Test alert]" in every.stdout  # the console channel printed it
    assert every.stdout.splitlines()[-1] == "test alert: 2 destinations accepted, 1 failed"
    assert len(webhook.posts) == 2

    wrong = sh("monitor notify --config config.yaml --channel hok", tmp_path, env)
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == (
        "error: no channel 'hok' in config.yaml (did you mean 'hook'?); "
        "configured channels: hook, down, console"
    )
    del cfg


def test_notify_names_the_missing_secret_of_a_disabled_channel(tmp_path):
    (tmp_path / "config.yaml").write_text("channels:\n  slack:\n    urls: ['${SLACK_HOOK}']\n")
    out = sh("monitor notify --channel slack", tmp_path, clean_env())
    assert out.returncode == 2
    assert out.stderr.strip() == "error: channel 'slack' is disabled: SLACK_HOOK not set"


# -- monitor rules list -------------------------------------------------------------


def test_rules_list_shows_every_rule_with_its_place(tmp_path):
    env = clean_env()
    out = sh(f"monitor rules list --rules {ROOT / 'rules'}", tmp_path, env)
    assert out.returncode == 0, out.stderr
    row = next(ln for ln in out.stdout.splitlines() if ln.startswith("face-unlock-device-en "))
    cells = row.split()
    assert cells[1:4] == ["low", "yes", "facial-recognition"]
    assert cells[4] == "(default)"
    where = cells[5]
    path, line = where.rsplit(":", 1)
    assert Path(path).name == "facial-recognition.yaml"
    assert (
        (ROOT / "rules" / Path(path).name)
        .read_text()
        .splitlines()[int(line) - 1]
        .endswith("- id: face-unlock-device-en")
    )
    assert row.endswith("Face or fingerprint unlock on a device (English)")

    rows = json.loads(
        sh(f"monitor rules list --json --rules {ROOT / 'rules'}", tmp_path, env).stdout
    )
    lpr = next(r for r in rows if r["id"] == "face-unlock-device-en")
    assert lpr["severity"] == "low" and lpr["enabled"] is True and lpr["line"] == int(line)
    assert set(lpr) == {"id", "title", "severity", "tags", "channels", "enabled", "file", "line"}


def test_rules_commands_read_the_rule_folders_of_the_config(tmp_path):
    for folder, rule in (("a", "one"), ("b", "two")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "r.yaml").write_text(
            f"rules:\n  - id: {rule}\n    title: T\n    enabled: {str(rule == 'one').lower()}\n"
            f"    match: [{rule}]\n    tests:\n      match: ['{rule} here']\n"
        )
    (tmp_path / "c.yaml").write_text("rules: [./a, ./b]\n")
    env = clean_env()
    listed = sh("monitor rules list --config c.yaml --json", tmp_path, env)
    rows = json.loads(listed.stdout)
    assert [(r["id"], r["enabled"], r["file"]) for r in rows] == [
        ("one", True, "a/r.yaml"),
        ("two", False, "b/r.yaml"),
    ]
    # before or after the command
    tested = sh("monitor --config c.yaml rules test", tmp_path, env)
    assert tested.stdout.splitlines()[-1] == "2 rules, 2 tests, 0 failed, 0 problems"


# -- status --health when nothing runs ---------------------------------------------


def test_health_without_endpoint_says_a_stopped_or_killed_monitor_is_not_running(
    tmp_path, http_server
):
    (tmp_path / "rules").mkdir()
    shutil.copy(ROOT / "rules" / "facial-recognition.yaml", tmp_path / "rules")
    feed = http_server.add("/a.xml", rss("Council meets"), content_type="application/rss+xml")
    cfg = tmp_path / "config.yaml"
    env = clean_env()

    def health() -> subprocess.CompletedProcess:
        return sh("monitor status --health --config config.yaml", tmp_path, env)

    for stop in (signal.SIGTERM, signal.SIGKILL):
        # a fresh state each time, so the first cycle polls the feed
        cfg.write_text(
            f"state: ./state-{stop.name}.db\nrules: ./rules\n"
            f"sources:\n  - {{name: a, kind: rss, url: {feed}}}\n"
        )
        proc = Proc([sys.executable, "-m", "monitor", "run", "--config", str(cfg)], env=env)
        proc.wait_for("event=source.polled")
        alive = health()
        assert alive.returncode == 0 and alive.stdout.strip() == "healthy", alive.stdout
        pid = proc.p.pid
        proc.p.send_signal(stop)
        proc.finish(timeout=30)
        after = health()
        assert after.returncode == 1, after.stdout
        expected = (
            "unhealthy: the monitor is not running (it stopped "
            if stop == signal.SIGTERM
            else f"unhealthy: the monitor is not running (its process {pid} is gone)"
        )
        assert after.stdout.startswith(expected), after.stdout


def test_readme_shows_what_check_prints_for_the_example_with_one_secret(tmp_path):
    """The example output under "Running it for real" is the real output."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Running it for real\n", 1)[1]
    shown = (
        section.split("one warning for the e-mail", 1)[1].split("```\n", 1)[1].split("```", 1)[0]
    )
    work = clone_layout(tmp_path)
    shutil.copy(work / "config.example.yaml", work / "config.yaml")
    env = clean_env(SLACK_WEBHOOK_URL="https://hooks.slack.com/services/T000/B000/XXXX")
    out = sh("monitor check --config config.yaml", work, env)
    assert out.returncode == 0
    assert out.stdout == shown
