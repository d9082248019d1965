"""The monitor killed with SIGKILL at random moments while stories keep
arriving, restarted each time: every matching story reaches every
destination, and a repeat can only come from a kill that landed between a
receiver's acceptance and the outbox recording it.

The figures (kills, duplicates, the measured window) are printed; run with
`-s` to see them. CRASH_KILLS sets the number of kills (default 50)."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

RULES = """\
rules:
  - id: face-recognition
    title: Facial recognition of people
    severity: high
    match:
      any: ["facial recognition"]
"""


# No process can deliver within this long of its start (imports alone take longer).
STARTUP_FLOOR = 0.25
# A `monitor run` delivers only after it has logged monitor.started; the line
# is read here a moment after it was written.
READ_MARGIN = 0.05


def _feed(items: list[tuple[str, str]]) -> str:
    body = "".join(
        f'<item><title>{t}</title><link>http://example.org/{g}</link><guid isPermaLink="false">{g}'
        f"</guid><description>{'A vote is due.' if g.startswith('x-') else 'Officers scan faces.'}"
        "</description></item>"
        for g, t in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Wire</title>'
        f"<link>http://example.org/</link><description>news</description>{body}</channel></rss>"
    )


def _start(cfg: Path) -> tuple[subprocess.Popen, threading.Event, list[float]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cfg.parent,
    )
    started = threading.Event()
    seen: list[float] = []  # when its monitor.started line was read

    def read():
        for line in proc.stdout:
            if "event=monitor.started" in line and not seen:
                seen.append(time.time())
                started.set()

    threading.Thread(target=read, daemon=True).start()
    return proc, started, seen


def test_sigkill_at_random_moments_loses_nothing_and_repeats_only_inside_the_send_window(
    tmp_path, http_server, webhook
):
    kills_wanted = int(os.environ.get("CRASH_KILLS", "50"))
    rng = random.Random(5)
    items: list[tuple[str, str]] = [("old-0", "Police test facial recognition 0")]
    http_server.add("/feed.xml", _feed(items), content_type="application/rss+xml")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yaml").write_text(RULES, encoding="utf-8")
    cfg = tmp_path / "config.yaml"
    urls = [webhook.url("/a"), webhook.url("/b")]
    cfg.write_text(
        textwrap.dedent(f"""\
        state: ./state.db
        rules: ./rules
        channels:
          desk: {{urls: ["{urls[0]}", "{urls[1]}"]}}
        sources:
          - {{name: wire, kind: rss, url: "{http_server.url("/feed.xml")}", interval: 1s}}
        delivery: {{retry_base: 1s}}
        """),
        encoding="utf-8",
    )
    base = subprocess.run(
        [sys.executable, "-m", "monitor", "once", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert base.returncode == 0 and "baseline=true" in base.stdout, base.stdout + base.stderr

    webhook.delay = 0.005  # a receiver takes a moment to answer; that moment is part of the window
    kills: list[float] = []
    starts: list[float] = []  # run r could deliver from starts[r] until kills[r]
    n = 0
    while len(kills) < kills_wanted:
        for _ in range(rng.randint(1, 3)):
            n += 1
            items.append((f"s-{n}", f"Police expand facial recognition story {n}"))
        items.append((f"x-{n}", f"Council debates parking fees {n}"))  # matches nothing
        http_server.add("/feed.xml", _feed(items[-60:]), content_type="application/rss+xml")
        proc, started, seen = _start(cfg)
        assert started.wait(30), "the monitor did not start"
        starts.append(seen[0] - READ_MARGIN)
        time.sleep(rng.uniform(0.0, 0.6))
        kills.append(time.time())
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    # A last clean run delivers whatever the kills left pending.
    webhook.delay = 0.0
    starts.append(time.time() + STARTUP_FLOOR)
    final = subprocess.run(
        [sys.executable, "-m", "monitor", "once", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert final.returncode == 0, final.stdout + final.stderr

    wanted = {t for g, t in items if g.startswith("s-")}
    received: dict[tuple[str, str], list[tuple[float, float, int]]] = {}
    for path, title, arrived, answered in webhook.log:
        story = title.split("] ", 1)[1]
        # The process that sent it: the last one that could deliver before
        # it arrived. A `monitor run` delivers only after it logged
        # monitor.started (a request read in the first moment after a
        # restart, on a loaded machine, is still the killed one's); the last
        # `monitor once` not within STARTUP_FLOOR of its start.
        run = max([0] + [r for r, t in enumerate(starts) if t <= arrived])
        received.setdefault((path, story), []).append((arrived, answered, run))
    lost = [(p, t) for t in wanted for p in ("/a", "/b") if (p, t) not in received]
    assert not lost, f"lost: {lost}"
    assert {t for _, t in received} == wanted  # nothing that did not match

    from monitor.store import destination_id

    path_of = {destination_id(u): "/" + u.rsplit("/", 1)[1] for u in urls}
    db = sqlite3.connect(tmp_path / "state.db")
    rows = db.execute(
        "SELECT o.destination, s.title, o.sent_at, o.status FROM outbox o "
        "JOIN stories s ON s.id=o.story_id"
    ).fetchall()
    db.close()
    assert len(rows) == 2 * len(wanted) and all(r[3] == "sent" for r in rows)
    windows, traced = [], []
    for dest, title, sent, _ in rows:
        copies = received[(path_of[dest], title)]
        if len(copies) == 1:
            windows.append(sent - copies[0][1])  # the answer went out -> the outbox recorded it
            continue
        # A repeat: every copy but the last was sent by a process that was
        # then killed before it could record the send, and the next copy
        # came from a later process. How close the kill came to the copy's
        # arrival is printed, not asserted (tests assert no timings).
        for (arrived, _, run), (_, _, next_run) in zip(copies, copies[1:]):
            assert run < len(kills), (
                f"a repeat of a copy no kill interrupted: {title} {path_of[dest]}"
            )
            assert next_run > run, (title, run, next_run)
            traced.append(kills[run] - arrived)
    duplicates = sum(len(v) - 1 for v in received.values())
    assert len(traced) == duplicates
    windows.sort()
    print(
        f"\ncrash test: kills={len(kills)} stories={len(wanted)} destinations=2 deliveries={len(rows)} "
        f"duplicates={duplicates} kill_minus_arrival_ms={sorted(round(d * 1000, 1) for d in traced)} "
        f"answer_to_recorded_ms median={statistics.median(windows) * 1000:.2f} "
        f"p99={windows[max(0, int(len(windows) * 0.99) - 1)] * 1000:.2f} max={windows[-1] * 1000:.2f}"
    )
