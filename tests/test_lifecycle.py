"""The monitor as a process: SIGTERM mid-cycle, a second signal, SIGHUP,
the container's entrypoint and health check (as PID 1 where the machine
allows a PID namespace), `monitor status`, and progress on a terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import yaml
from httpserver import free_port, stall

ROOT = Path(__file__).resolve().parent.parent
RULE = """\
rules:
  - id: face-recognition
    title: Facial recognition
    match: ["facial recognition", 人脸识别]
"""


def rss(*titles: str) -> str:
    items = "".join(
        f"<item><title>{t}</title><link>http://e.org/{i}-{len(t)}</link><guid>{t}</guid></item>"
        for i, t in enumerate(titles)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'
    )


def project(tmp_path: Path, body: str) -> Path:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "face.yaml").write_text(RULE, encoding="utf-8")
    cfg = tmp_path / "config.yaml"
    cfg.write_text("state: ./state.db\nrules: ./rules\n" + textwrap.dedent(body), encoding="utf-8")
    return cfg


_LIVE: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_process_outlives_its_test():
    yield
    while _LIVE:
        p = _LIVE.pop()
        if p.poll() is None:
            p.kill()
            p.wait()


class Proc:
    """A `monitor` subprocess whose output lines are collected as they come
    (killed after the test if it is still running)."""

    def __init__(self, argv: list[str], env: dict | None = None, cwd: Path | None = None):
        self.p = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
        _LIVE.append(self.p)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.p.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def out(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while not any(text in ln for ln in self.lines):
            if self.p.poll() is not None or time.monotonic() > end:
                self._reader.join(timeout=2)
                raise AssertionError(f"never saw {text!r}:\n{self.out}")
            time.sleep(0.05)

    def finish(self, timeout: float) -> int:
        """The exit code; a process still running after `timeout` seconds
        fails the test (a limit on a hang, not a measurement)."""
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running {timeout:g} s later:\n{self.out}") from None
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()
        self._reader.join(timeout=5)
        return rc


def run(cfg: Path, *args: str, env: dict | None = None) -> Proc:
    return Proc(
        [sys.executable, "-m", "monitor", *args, "--config", str(cfg)], env=env, cwd=cfg.parent
    )


def once(cfg: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "once", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=cfg.parent,
    )


STORIES = [f"Police add facial recognition to camera {i}" for i in range(4)]


def test_sigterm_mid_delivery_exits_0_quickly_and_nothing_is_delivered_twice(
    tmp_path, http_server, webhook
):
    http_server.add("/f.xml", rss("Council meets"), content_type="application/rss+xml")
    cfg = project(
        tmp_path,
        f"""\
        channels:
          hook:
            urls: ["{webhook.url()}"]
        sources:
          - name: wire
            kind: rss
            url: {http_server.url("/f.xml")}
            interval: 1s
        """,
    )
    assert once(cfg).returncode == 0  # the silent baseline
    time.sleep(1.1)  # the source is due again (interval 1s)
    http_server.add("/f.xml", rss(*STORIES, "Council meets"), content_type="application/rss+xml")
    webhook.delay = 1.0  # a slow notifier: SIGTERM lands while an alert is being sent
    proc = run(cfg, "run")
    end = time.monotonic() + 60
    while not webhook.posts and time.monotonic() < end:
        time.sleep(0.02)
    assert webhook.posts, proc.out
    proc.p.send_signal(signal.SIGTERM)
    rc = proc.finish(timeout=30)
    assert rc == 0, proc.out
    assert (
        "event=monitor.stopping signal=SIGTERM" in proc.out and "event=monitor.stopped" in proc.out
    )
    assert "event=monitor.stop_deadline" not in proc.out, proc.out  # the send in flight ended
    delivered_before_stop = len(webhook.posts)
    assert delivered_before_stop < len(STORIES), "the stop came too late to test anything"

    webhook.delay = 0.0
    assert once(cfg).returncode == 0  # restart: the rest is delivered...
    assert once(cfg).returncode == 0  # ...and a further restart sends nothing
    titles = [p["title"] for p in webhook.posts]
    assert len(titles) == len(STORIES) and len(set(titles)) == len(STORIES), titles


def test_sigterm_during_a_stalled_fetch_exits_0_quickly(tmp_path, http_server):
    http_server.route("/stalled.xml", stall(b"<?xml", seconds=60))
    cfg = project(
        tmp_path,
        f"""\
        sources:
          - name: stalled
            kind: rss
            url: {http_server.url("/stalled.xml")}
        """,
    )
    proc = run(cfg, "run")
    end = time.monotonic() + 30
    while not http_server.requests_to("/stalled.xml") and time.monotonic() < end:
        time.sleep(0.02)
    assert http_server.requests_to("/stalled.xml"), proc.out
    time.sleep(0.2)  # the body read is now blocked on a silent server
    proc.p.send_signal(signal.SIGTERM)
    rc = proc.finish(timeout=30)
    assert rc == 0, proc.out
    # The stop cancelled the read at once: it did not wait out the silent
    # server, nor need the grace period's abandoning of in-flight work.
    assert "reason=cancelled" in proc.out and "event=monitor.stopped" in proc.out
    assert "event=monitor.stop_deadline" not in proc.out, proc.out


def test_a_second_signal_exits_at_once(tmp_path, http_server, webhook):
    http_server.add("/f.xml", rss("Council meets"), content_type="application/rss+xml")
    cfg = project(
        tmp_path,
        f"""\
        channels:
          hook:
            urls: ["{webhook.url()}"]
        sources:
          - name: wire
            kind: rss
            url: {http_server.url("/f.xml")}
            interval: 1s
        """,
    )
    assert once(cfg).returncode == 0
    time.sleep(1.1)
    http_server.add(
        "/f.xml", rss(*STORIES[:1], "Council meets"), content_type="application/rss+xml"
    )
    webhook.delay = 3.0  # the send outlives both signals
    proc = run(cfg, "run")
    end = time.monotonic() + 60
    while not webhook.posts and time.monotonic() < end:
        time.sleep(0.02)
    assert webhook.posts, proc.out
    proc.p.send_signal(signal.SIGTERM)
    proc.wait_for("event=monitor.stopping")
    proc.p.send_signal(signal.SIGTERM)
    rc = proc.finish(timeout=30)
    assert rc == 128 + signal.SIGTERM, proc.out
    assert "event=monitor.stopped" not in proc.out


def test_sighup_reloads_rules_and_a_broken_file_is_reported(tmp_path, http_server):
    http_server.add("/f.xml", rss("Council meets"), content_type="application/rss+xml")
    port = free_port()
    cfg = project(
        tmp_path,
        f"""\
        sources:
          - name: wire
            kind: rss
            url: {http_server.url("/f.xml")}
        http:
          listen: 127.0.0.1:{port}
        reload:
          watch: false
        """,
    )
    proc = run(cfg, "run")
    try:
        proc.wait_for("event=source.polled")
        bad = tmp_path / "rules" / "face.yaml"
        bad.write_text(RULE + "    match_any: [x]\n", encoding="utf-8")
        proc.p.send_signal(signal.SIGHUP)
        proc.wait_for("event=reload.rejected")
        line = next(ln for ln in proc.lines if "event=reload.rejected" in ln)
        assert f"{bad}:5:5: unknown key 'match_any'" in line
        health = subprocess.run(
            [sys.executable, "-m", "monitor", "status", "--health", "--config", str(cfg)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert health.returncode == 0, health.stdout  # the loop runs on the last good rules
        assert '"ok": false' in health.stdout and "match_any" in health.stdout
        bad.write_text(RULE, encoding="utf-8")
        proc.p.send_signal(signal.SIGHUP)
        proc.wait_for("event=reload.done")
        proc.p.send_signal(signal.SIGTERM)
        assert proc.finish(timeout=15) == 0, proc.out
    finally:
        if proc.p.poll() is None:
            proc.p.kill()


def test_rule_problems_at_start_are_reported_until_fixed(tmp_path, http_server):
    import urllib.request

    http_server.add("/f.xml", rss("Council meets"), content_type="application/rss+xml")
    port = free_port()
    cfg = project(
        tmp_path,
        f"""\
        sources:
          - name: wire
            kind: rss
            url: {http_server.url("/f.xml")}
        http:
          listen: 127.0.0.1:{port}
        reload:
          interval: 1s
        """,
    )
    broken = tmp_path / "rules" / "broken.yaml"
    broken.write_text("rules:\n  - id: x\n    title: X\n    match: {anyy: [a]}\n", encoding="utf-8")
    proc = run(cfg, "run")
    try:
        proc.wait_for("event=source.polled")  # the good file runs
        body = json.loads(
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10).read()
        )
        assert len(body["start_problems"]) == 1 and body["start_problems"][0].startswith(
            f"{broken}:4:"
        )
        status = subprocess.run(
            [sys.executable, "-m", "monitor", "status", "--config", str(cfg)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert "problems at start" in status.stdout and f"{broken}:4:" in status.stdout
        broken.unlink()  # fixed by removing it: the watcher reloads a set with no problem
        proc.wait_for("event=reload.done")
        # reload.done is logged just before the reload is recorded: ask
        # again until the record lands (a bounded number of times).
        for _ in range(100):
            body = json.loads(
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10).read()
            )
            if body["start_problems"] == []:
                break
            time.sleep(0.1)
        assert body["start_problems"] == [] and body["reload"]["ok"] is True
        proc.p.send_signal(signal.SIGTERM)
        assert proc.finish(timeout=15) == 0, proc.out
    finally:
        if proc.p.poll() is None:
            proc.p.kill()


def test_an_address_in_use_is_one_clear_line(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = project(tmp_path, f"http:\n  listen: 127.0.0.1:{port}\n")
        out = subprocess.run(
            [sys.executable, "-m", "monitor", "run", "--config", str(cfg)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 2
    assert (
        out.stderr.strip()
        == f"error: {cfg}: http.listen: cannot listen on 127.0.0.1:{port}: Address already in use"
    )


# -- the container, without a Docker engine ------------------------------------------


def dockerfile() -> dict:
    """ENV, ENTRYPOINT, CMD and HEALTHCHECK of the final stage."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    final = text.split("\nFROM ")[-1]
    out: dict = {"env": {}}
    for line in final.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == "ENV":
            out["env"].update(dict(t.split("=", 1) for t in shlex.split(rest)))
        elif word in ("ENTRYPOINT", "CMD", "USER"):
            out[word.lower()] = json.loads(rest) if rest.startswith("[") else rest
        elif word == "HEALTHCHECK":
            out["healthcheck"] = json.loads(rest.split(" CMD ", 1)[1])
    return out


def pid1_prefix() -> list[str]:
    """Run as PID 1 of a new PID namespace, as in a container, when allowed."""
    unshare = shutil.which("unshare")
    if (
        unshare
        and subprocess.run(
            [unshare, "--fork", "--pid", "--mount-proc", "true"], capture_output=True
        ).returncode
        == 0
    ):
        return [unshare, "--fork", "--pid", "--mount-proc", "--kill-child"]
    return []


def test_image_entrypoint_as_pid1_with_file_secrets_health_check_and_sigterm(
    tmp_path, http_server, webhook
):
    image = dockerfile()
    assert image["entrypoint"] == ["monitor"] and image["cmd"] == ["run"]
    assert image["user"].split(":")[0] not in ("", "0", "root")
    assert image["healthcheck"][:1] == ["monitor"]
    # The image's paths, mapped into tmp_path: /config, /data, /rules.
    (tmp_path / "config").mkdir()
    (tmp_path / "data").mkdir()
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    secret = tmp_path / "hook_url"
    secret.write_text(webhook.url() + "\n")
    http_server.add("/f.xml", rss("Council meets"), content_type="application/rss+xml")
    port = free_port()
    (tmp_path / "config" / "config.yaml").write_text(
        textwrap.dedent(f"""\
        state: ${{MONITOR_STATE}}
        rules: ${{MONITOR_RULES}}
        channels:
          hook:
            urls: ["${{HOOK_URL}}"]
        sources:
          - name: wire
            kind: rss
            url: {http_server.url("/f.xml")}
        http:
          listen: ${{MONITOR_HTTP_LISTEN:-}}
        """)
    )
    env = {
        **image["env"],
        "MONITOR_CONFIG": str(tmp_path / "config" / "config.yaml"),
        "MONITOR_STATE": str(tmp_path / "data" / "monitor.db"),
        "MONITOR_RULES": str(tmp_path / "rules"),
        "MONITOR_HTTP_LISTEN": f"127.0.0.1:{port}",
        "HOOK_URL_FILE": str(secret),
    }
    env.pop("HOOK_URL", None)
    bindir = str(Path(sys.executable).parent)  # where `monitor` is installed
    env["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    prefix = pid1_prefix()
    probe = ["sh", "-c", "echo pid=$$"]
    if prefix:
        assert (
            subprocess.run(prefix + probe, capture_output=True, text=True).stdout.strip() == "pid=1"
        )
    proc = Proc(prefix + image["entrypoint"] + image["cmd"], env={**env}, cwd=tmp_path / "data")
    try:
        proc.wait_for("event=http.listening")
        proc.wait_for("event=source.polled")
        health = subprocess.run(
            image["healthcheck"],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, **env},
        )
        assert health.returncode == 0, health.stdout + health.stderr
        assert health.stdout.startswith("healthy")
        assert (tmp_path / "data" / "monitor.db").exists()
        # SIGTERM to the monitor (PID 1 in its namespace): the handler is installed, so it arrives.
        target = proc.p.pid
        if prefix:
            children = Path(f"/proc/{proc.p.pid}/task/{proc.p.pid}/children").read_text().split()
            target = int(children[0])
        os.kill(target, signal.SIGTERM)
        rc = proc.finish(timeout=30)
        assert rc == 0, proc.out
        assert "event=monitor.stopped" in proc.out
    finally:
        if proc.p.poll() is None:
            proc.p.kill()
    # Stopped: the health check fails (nothing answers).
    health = subprocess.run(
        image["healthcheck"], capture_output=True, text=True, timeout=30, env={**os.environ, **env}
    )
    assert health.returncode == 1 and health.stdout.startswith("unhealthy")


def test_compose_example_runs_the_image_with_a_data_volume():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    svc = compose["services"]["monitor"]
    assert any(v.startswith("monitor-data:/data") for v in svc["volumes"])
    assert "monitor-data" in compose["volumes"]
    assert any(v.endswith(":/rules:ro") for v in svc["volumes"])
    for name, value in svc["environment"].items():
        if name.endswith("_FILE"):
            assert (
                value.startswith("/run/secrets/") and value.rsplit("/", 1)[1] in compose["secrets"]
            )
    assert all(p.startswith("127.0.0.1:") for p in svc["ports"])


# -- status and progress -----------------------------------------------------------


def test_status_shows_loop_sources_last_stories_and_matches(tmp_path, http_server):
    http_server.add("/f.xml", rss("Council meets"), content_type="application/rss+xml")
    cfg = project(
        tmp_path,
        f"""\
        sources:
          - name: wire
            kind: rss
            url: {http_server.url("/f.xml")}
            interval: 1s
        """,
    )
    assert once(cfg).returncode == 0
    http_server.add(
        "/f.xml",
        rss("Police test facial recognition", "Council meets"),
        content_type="application/rss+xml",
    )
    assert once(cfg).returncode == 0
    out = subprocess.run(
        [sys.executable, "-m", "monitor", "status", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for heading in ("MONITOR", "SOURCES", "LAST STORIES", "OUTBOX", "MATCHES"):
        assert heading in text
    assert re.search(r"last cycle \d+s ago", text)
    assert re.search(r"wire\s+Police test facial recognition\s+\[face-recognition\]", text)
    assert re.search(r"face-recognition\s+1 / 1", text)
    data = json.loads(
        subprocess.run(
            [sys.executable, "-m", "monitor", "status", "--json", "--config", str(cfg)],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
    )
    assert data["recent_stories"][0]["title"] == "Police test facial recognition"
    assert data["recent_stories"][0]["rules"] == ["face-recognition"]
    assert data["loop"]["last_cycle"]["ended_at"] > 0
    assert data["outbox"] == {"pending": 0, "sent": 1, "dead": 0}


def _once_env(tmp_path, http_server) -> Path:
    for i in range(3):
        http_server.add(f"/f{i}.xml", rss("Council meets"), content_type="application/rss+xml")
    return project(
        tmp_path,
        "sources:\n"
        + "".join(
            f"  - {{name: s{i}, kind: rss, url: '{http_server.url(f'/f{i}.xml')}'}}\n"
            for i in range(3)
        ),
    )


def test_once_is_quiet_in_a_pipe(tmp_path, http_server):
    cfg = _once_env(tmp_path, http_server)
    out = once(cfg, env={"MONITOR_NO_PROGRESS": ""})
    assert out.returncode == 0
    assert "\r" not in out.stderr and "\r" not in out.stdout and out.stderr == ""


def test_once_shows_progress_on_a_terminal(tmp_path, http_server):
    cfg = _once_env(tmp_path, http_server)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "once", "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "TERM": "xterm", "MONITOR_NO_PROGRESS": ""},
    )
    os.close(slave)
    seen = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 30)
            if not ready:
                break
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed its end
                break
            if not chunk:
                break
            seen += chunk
        stdout, _ = proc.communicate(timeout=60)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    text = seen.decode()
    assert "once [" in text and "3/3" in text and "\r" in text
    assert "event=source.polled" in stdout  # the log itself still goes to stdout


def test_log_format_json_from_the_config_and_text_from_the_command_line(tmp_path, http_server):
    http_server.add("/f.xml", rss("Council meets"), content_type="application/rss+xml")
    cfg = project(
        tmp_path,
        f"""\
        sources:
          - name: wire
            kind: rss
            url: {http_server.url("/f.xml")}
        log:
          format: json
        """,
    )
    out = once(cfg)
    assert out.returncode == 0, out.stderr
    events = [json.loads(ln) for ln in out.stdout.splitlines()]
    polled = next(e for e in events if e["event"] == "source.polled")
    assert polled["source"] == "wire" and polled["new"] == 1 and polled["level"] == "info"
    text = subprocess.run(
        [sys.executable, "-m", "monitor", "--log-format", "text", "once", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert text.returncode == 0 and "event=source.polled source=wire" in text.stdout
