"""Server-side time of the dashboard's pages over a large store, beside the
same pages over a store a tenth of its size (the baseline).

    python bench/web_pages.py                         # 100,000 stories, 20,000 matches
    python bench/web_pages.py --stories 20000 --runs 30
    python bench/web_pages.py --database postgresql://user@host/db   # an empty database

The stores are filled through the store's own write path (record_poll: the
stories, their matches and outbox rows, in batches of one poll each), with
matches of the shipped rules spread over the last 30 days and some readers'
verdicts. The pages are then asked for over HTTP from the monitor's own
endpoint (waitress, as `monitor run` serves them); the figure is the
server's own time for each request (its Server-Timing header: from the
request reaching the application to the response being ready), median and
95th percentile over --runs requests, after one warm-up request per page.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from monitor import log  # noqa: E402
from monitor.config import Config, SourceConfig  # noqa: E402
from monitor.engine import load_rules  # noqa: E402
from monitor.httpapi import HttpApi  # noqa: E402
from monitor.models import Match, Story  # noqa: E402
from monitor.store import Delivery, Planned, Store  # noqa: E402
from monitor.store import web as store_web  # noqa: E402
from monitor.web import Dashboard, create_app  # noqa: E402

WORDS = (
    "council budget school river police camera station market airport privacy court "
    "hospital data breach festival harvest train museum contract vote election"
).split()
SOURCES = [f"source-{i:02d}" for i in range(20)]


def fill(state, stories: int, matches: int, ruleset, seed: int = 7) -> dict:
    rng = random.Random(seed)
    store = Store(state)
    for name in SOURCES:
        store.ensure_source(name, f"http://example.org/{name}/feed")
    now = time.time()
    rules = [r for r in ruleset.rules if r.enabled]
    every = max(1, stories // max(matches, 1))
    batches: dict[str, list[Planned]] = {name: [] for name in SOURCES}
    first_id = None
    for i in range(stories):
        words = " ".join(rng.choice(WORDS) for _ in range(8))
        story = Story(
            source=SOURCES[i % len(SOURCES)],
            key=f"guid:{i}",
            title=f"Story {i}: {words}",
            link=f"https://example.org/news/{i}",
            summary=f"{words} {words}",
            lang="zh" if i % 7 == 0 else "en",
        )
        ms: tuple[Match, ...] = ()
        deliveries: tuple[Delivery, ...] = ()
        if i % every == 0 and (i // every) < matches:
            r = rules[(i // every) % len(rules)]
            ms = (Match(r.id, r.title, r.severity, r.tags, r.channels, ("camera",), words),)
            deliveries = (Delivery("ops", "sha256:0000000000000000", story.title, words),)
        batch = batches[story.source]
        batch.append(Planned(story, ms, deliveries))
        if len(batch) == 100 or i >= stories - len(SOURCES):
            when = now - 30 * 86400 * (1 - i / stories)  # oldest first, over 30 days
            store.record_poll(
                story.source,
                batch,
                etag=None,
                last_modified=None,
                next_check_at=now + 900,
                now=when,
            )
            batch.clear()
    rows = store.match_page(store_web.MatchFilter(), limit=400).rows
    for k, row in enumerate(rows):
        verdict = "relevant" if k % 3 else "not_relevant"
        store.record_verdict(row.id, verdict, row.matches[0]["rule_id"])
        first_id = row.id
    store.close()
    return {"story": first_id, "rule": rules[3].id, "source": SOURCES[5]}


def server_ms(url: str) -> float:
    with urllib.request.urlopen(url, timeout=60) as r:
        r.read()
        timing = r.headers["Server-Timing"]
    return float(timing.split("dur=")[1])


def measure(state, ruleset, ids: dict, runs: int) -> dict[str, tuple[float, float]]:
    config = Config(
        state=state,
        sources=[
            SourceConfig(name=s, kind="rss", url=f"http://example.org/{s}/feed") for s in SOURCES
        ],
    )
    app = create_app(Dashboard(state=state, rules=lambda: ruleset, config=lambda: config))
    api = HttpApi(
        "127.0.0.1",
        0,
        health=lambda: (True, {}),
        ready=lambda: (True, {}),
        metrics=lambda: b"",
        pages=app,
    ).start()
    pages = {
        "matches, unfiltered": "/",
        "matches, by rule": f"/?rule={ids['rule']}",
        "matches, source+language": f"/?source={ids['source']}&lang=en",
        "matches, text search": "/?q=airport+privacy",
        "story page": f"/story/{ids['story']}",
        "rules page": "/rules",
    }
    out = {}
    try:
        for name, path in pages.items():
            server_ms(api.url + path)  # warm-up: templates compiled, connection opened
            times = sorted(server_ms(api.url + path) for _ in range(runs))
            out[name] = (statistics.median(times), times[int(0.95 * (len(times) - 1))])
    finally:
        api.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stories", type=int, default=100_000)
    ap.add_argument("--matches", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--database", help="an empty PostgreSQL database instead of SQLite files")
    args = ap.parse_args()
    log.setup("warning")
    ruleset, _ = load_rules([ROOT / "rules"])
    results = {}
    with tempfile.TemporaryDirectory(prefix="monitor-bench-web-") as tmp:
        for label, n, m in (
            ("baseline", args.stories // 10, args.matches // 10),
            ("full", args.stories, args.matches),
        ):
            state = args.database if args.database else Path(tmp) / f"{label}.db"
            if args.database:
                _empty(args.database)
            t = time.perf_counter()
            ids = fill(state, n, m, ruleset)
            print(
                f"{label}: {n} stories, {m} matches stored in {time.perf_counter() - t:.0f} s",
                flush=True,
            )
            results[label] = measure(state, ruleset, ids, args.runs)
    base, full = results["baseline"], results["full"]
    print(f"\nserver-side time per page, ms (median / p95 of {args.runs})")
    print(f"{'page':<28}{'baseline (1/10 size)':>24}{'full size':>20}")
    for page in full:
        b, f = base[page], full[page]
        print(f"{page:<28}{b[0]:>12.1f} / {b[1]:<9.1f}{f[0]:>10.1f} / {f[1]:<9.1f}")
    return 0


def _empty(url: str) -> None:
    """Drop the tables a previous fill left in the database."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


if __name__ == "__main__":
    sys.exit(main())
