"""Replicas on one PostgreSQL database under faults: three `monitor run`
processes poll a loopback farm of feeds while new stories keep arriving;
replicas are SIGKILLed and restarted at random moments and the database
connections are cut (pg_terminate_backend) now and then. At the end every
matching story reached each destination, no source was fetched by two
replicas at once, and every source kept being polled by the replicas (the
worst gap between two polls of a source is printed as a figure, beside its
bound of the interval plus the lease).

The figures are printed; run with `-s` to see them. FAULT_SECONDS sets how
long the faults go on (default 25), FAULT_REPLICAS the replicas (default 3)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import defaultdict

import psycopg

RULES = """\
rules:
  - id: face-recognition
    title: Facial recognition of people
    severity: high
    match:
      any: ["facial recognition"]
"""

FEEDS = 8
INTERVAL = 1.0  # seconds, every source
DEADLINE = 5.0  # fetch.deadline: the lease is 4 * deadline + 30 s


def _feed(items: list[tuple[str, str]]) -> bytes:
    body = "".join(
        f'<item><title>{t}</title><link>http://example.org/{g}</link><guid isPermaLink="false">{g}'
        f"</guid><description>{'A vote is due.' if g.startswith('x-') else 'Officers scan faces.'}"
        "</description></item>"
        for g, t in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Wire</title>'
        f"<link>http://example.org/</link><description>news</description>{body}</channel></rss>"
    ).encode()


class Farm:
    """The feeds, served by a route that notes, per feed, every fetch's
    start and end and how many were in flight at once."""

    def __init__(self, server):
        self.items: dict[str, list[tuple[str, str]]] = {
            f"/f{i}.xml": [(f"old-{i}", "Council budget")] for i in range(FEEDS)
        }
        self.lock = threading.Lock()
        self.inflight: dict[str, int] = defaultdict(int)
        self.overlaps: dict[str, int] = defaultdict(int)
        self.polls: dict[str, list[float]] = defaultdict(list)
        self.last_added: dict[str, float] = {}
        for path in self.items:
            server.route(path, self._handler(path))

    def _handler(self, path: str):
        def handle(h) -> None:
            with self.lock:
                self.inflight[path] += 1
                if self.inflight[path] > 1:
                    self.overlaps[path] += 1
                self.polls[path].append(time.time())
                body = _feed(self.items[path][-40:])
            try:
                time.sleep(0.02)  # a fetch takes a moment: two at once would show
                h.send(200, {"Content-Type": "application/rss+xml"}, body)
            finally:
                with self.lock:
                    self.inflight[path] -= 1

        return handle

    def add(self, path: str, guid: str, title: str) -> None:
        with self.lock:
            self.items[path].append((guid, title))
            self.last_added[path] = time.time()


def _start(cfg, env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(cfg)],
        cwd=cfg.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )


def test_replicas_killed_and_cut_off_deliver_every_alert_once_and_keep_polling(
    tmp_path, pg_server, pg_url, http_server, webhook
):
    seconds = float(os.environ.get("FAULT_SECONDS", "25"))
    n_replicas = int(os.environ.get("FAULT_REPLICAS", "3"))
    rng = random.Random(7)
    farm = Farm(http_server)
    (tmp_path / "rules.yaml").write_text(RULES, encoding="utf-8")
    cfg = tmp_path / "config.yaml"
    urls = [webhook.url("/a"), webhook.url("/b")]
    sources = "\n".join(
        f'  - {{name: f{i}, kind: rss, url: "{http_server.url(f"/f{i}.xml")}", '
        f"interval: {INTERVAL:g}s}}"
        for i in range(FEEDS)
    )
    cfg.write_text(
        textwrap.dedent(f"""\
        state: {pg_url}
        rules: ./rules.yaml
        channels:
          desk: {{urls: ["{urls[0]}", "{urls[1]}"]}}
        fetch: {{per_host_delay: 0, per_host_concurrency: 8, deadline: {DEADLINE:g}s}}
        delivery: {{retry_base: 1s}}
        sources:
        """)
        + sources
        + "\n",
        encoding="utf-8",
    )
    env = {**os.environ, "MONITOR_LOG_LEVEL": "warning"}
    base = subprocess.run(
        [sys.executable, "-m", "monitor", "once", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert base.returncode == 0, base.stdout + base.stderr

    replicas = [_start(cfg, env) for _ in range(n_replicas)]
    kills = cuts = n = 0
    began = time.time()
    try:
        while time.time() - began < seconds:
            for _ in range(rng.randint(1, 3)):
                n += 1
                farm.add(
                    f"/f{rng.randrange(FEEDS)}.xml",
                    f"s-{n}",
                    f"Police expand facial recognition story {n}",
                )
            farm.add(f"/f{rng.randrange(FEEDS)}.xml", f"x-{n}", f"Council debates parking fees {n}")
            time.sleep(rng.uniform(0.2, 1.2))
            fault = rng.random()
            if fault < 0.35:
                i = rng.randrange(n_replicas)
                replicas[i].send_signal(signal.SIGKILL)
                replicas[i].wait(10)
                kills += 1
                replicas[i] = _start(cfg, env)
            elif fault < 0.55:
                cuts += pg_server.cut_connections(pg_url)
        # No more stories: let the replicas catch up, then stop them as a
        # container stop would.
        time.sleep(6)
        for p in replicas:
            p.send_signal(signal.SIGTERM)
        for p in replicas:
            p.wait(30)
    finally:
        for p in replicas:
            if p.poll() is None:
                p.kill()
                p.wait(10)
    polling_ended = time.time()
    # Whatever a stop left pending goes out with one more run.
    final = subprocess.run(
        [sys.executable, "-m", "monitor", "once", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert final.returncode == 0, final.stdout + final.stderr

    wanted = {f"Police expand facial recognition story {i}" for i in range(1, n + 1)}
    copies: dict[tuple[str, str], int] = defaultdict(int)
    for path, title, _, _ in webhook.log:
        copies[(path, title.split("] ", 1)[1])] += 1
    lost = [(p, t) for t in wanted for p in ("/a", "/b") if (p, t) not in copies]
    assert not lost, f"lost: {lost}"
    assert {t for _, t in copies} == wanted  # nothing that did not match
    duplicates = sum(c - 1 for c in copies.values())
    with psycopg.connect(pg_url) as conn:
        statuses = conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall()
    assert dict(statuses) == {"sent": 2 * len(wanted)}

    assert not any(farm.overlaps.values()), (
        f"fetched by two replicas at once: {dict(farm.overlaps)}"
    )
    lease = 4 * DEADLINE + 30
    gaps = []
    for path, times in farm.polls.items():  # noqa: B007
        times = sorted(t for t in times if began <= t <= polling_ended - 6)
        gaps += [b - a for a, b in zip(times, times[1:])]
    worst = max(gaps, default=0.0)  # a figure, printed below; the behaviour is asserted here:
    # every feed's last story was fetched by a running replica, not only by
    # the final `once`: the replicas kept polling every source through the faults.
    unpolled = [
        path
        for path, added in farm.last_added.items()
        if not any(added < t <= polling_ended for t in farm.polls[path])
    ]
    assert not unpolled, f"no replica polled these after their last story: {unpolled}"
    # A repeat can only come from a kill that landed between a receiver's
    # acceptance and the outbox recording it: never more than the kills.
    assert duplicates <= kills
    print(
        f"\nfault test: replicas={n_replicas} seconds={seconds:g} kills={kills} connections_cut={cuts} "
        f"stories={len(wanted)} destinations=2 deliveries={sum(copies.values())} duplicates={duplicates} "
        f"overlapping_fetches=0 polls={len(gaps) + len(farm.polls)} worst_poll_gap_s={worst:.2f} "
        f"(bound {INTERVAL * 1.1 + lease:.0f})"
    )
