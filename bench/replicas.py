"""Polls per second with 1, 2 and 4 replicas on PostgreSQL, beside one
process on SQLite, over the same loopback farm.

    python bench/replicas.py                      # 400 feeds, 3 rounds
    python bench/replicas.py --feeds 1000 --rounds 5
    python bench/replicas.py --database postgresql://user@host/db   # an existing server

The farm server is bench/farm.py's (asyncio on loopback, ETags, 20 items per
feed). Each round the farm gives every feed one new story and makes every
source due; the replicas (processes running the monitor's real cycle:
claiming, fetching, parsing, matching the shipped rules, storing with the
outbox rows; sending is left out) poll until no source is left due. A
round's figure is the feeds polled divided by the wall time from the start
signal until the last replica found nothing left to claim. The best and
the median of the rounds are printed for each setup, side by side.

Without --database a throwaway PostgreSQL server is started the way the
tests start it (tests/pgserver.py: initdb into a temporary directory, a
free loopback port, as `nobody` when run as root).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "bench", ROOT / "tests"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))


def replica(
    state: str, port: int, feeds: int, workers: int, rounds: int, sync: Path, me: str
) -> None:
    """One replica: for each round, wait for the start signal, cycle until
    nothing is left to claim, report the polls made."""
    from monitor import log
    from monitor.alerts.outbox import DeliveryStats
    from monitor.config import Config, FetchSettings, SourceConfig
    from monitor.engine import load_rules
    from monitor.service import Monitor

    log.setup("error")
    ruleset, _ = load_rules([ROOT / "rules"])
    base = f"http://127.0.0.1:{port}"
    config = Config(
        state=state,
        sources=[
            SourceConfig(name=f"outlet-{i}", kind="rss", url=f"{base}/feed/{i}.xml", interval="1h")
            for i in range(feeds)
        ],
        fetch=FetchSettings(workers=workers, per_host_concurrency=workers, per_host_delay=0),
    )
    mon = Monitor(config, ruleset)
    mon.deliver = lambda: DeliveryStats()  # sending is not part of a poll's cost
    (sync / f"ready-{me}").touch()
    try:
        for r in range(rounds):
            while not (sync / f"go-{r}").exists():
                time.sleep(0.005)
            polls = 0
            while True:
                out = mon.cycle()
                if not out.polls:
                    break
                polls += len(out.polls)
            (sync / f"done-{r}-{me}").write_text(f"{polls} {time.time()}")
    finally:
        mon.close()


def run_setup(label: str, state: str, replicas: int, port: int, args) -> list[float]:
    from monitor.store import Store

    with tempfile.TemporaryDirectory(prefix="replicas-") as tmp:
        sync = Path(tmp)
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--replica",
                    state,
                    "--port",
                    str(port),
                    "--feeds",
                    str(args.feeds),
                    "--workers",
                    str(args.workers),
                    "--rounds",
                    str(args.rounds),
                    "--sync",
                    tmp,
                    "--me",
                    str(i),
                ]
            )
            for i in range(replicas)
        ]
        try:
            while len(list(sync.glob("ready-*"))) < replicas:
                time.sleep(0.05)
            store = Store(state)
            rates = []
            for r in range(args.rounds):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/bump").read()
                store.db.execute("UPDATE sources SET next_check_at=0")
                t0 = time.time()
                (sync / f"go-{r}").touch()
                while len(list(sync.glob(f"done-{r}-*"))) < replicas:
                    time.sleep(0.01)
                done = [f.read_text().split() for f in sync.glob(f"done-{r}-*")]
                polls = sum(int(p) for p, _ in done)
                wall = max(float(t) for _, t in done) - t0
                rates.append(polls / wall)
                print(
                    f"  {label:<22} round {r + 1}: {polls} polls in {wall:6.2f} s = {polls / wall:7.1f} polls/s",
                    flush=True,
                )
            store.close()
        finally:
            for p in procs:
                p.wait(120)
    return rates


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--feeds", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=8, help="fetch workers per replica")
    ap.add_argument(
        "--database", help="an existing, empty PostgreSQL database to use (its tables are created)"
    )
    ap.add_argument("--replica", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--sync", help=argparse.SUPPRESS)
    ap.add_argument("--me", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.replica:
        replica(
            args.replica, args.port, args.feeds, args.workers, args.rounds, Path(args.sync), args.me
        )
        return 0

    from pgserver import PgServer, find_bindir

    server = None
    if args.database is None:
        bindir = find_bindir()
        if bindir is None:
            print(
                "no PostgreSQL server binary found (initdb, pg_ctl); pass --database",
                file=sys.stderr,
            )
            return 2
        server = PgServer(bindir).start()
    print(
        f"replicas benchmark: {os.cpu_count()} CPUs, {args.feeds} feeds, {args.workers} fetch workers "
        f"per replica, {args.rounds} rounds, one new story per feed per round"
    )
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        farm = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "farm.py"),
                "--serve",
                str(args.feeds),
                "--port-file",
                str(port_file),
            ]
        )
        try:
            while not port_file.exists() or not port_file.read_text():
                time.sleep(0.05)
            port = int(port_file.read_text())
            results["SQLite, 1 process"] = run_setup(
                "SQLite, 1 process", str(Path(tmp) / "state.db"), 1, port, args
            )
            for n in (1, 2, 4):
                if server is not None:
                    url = server.new_database()
                else:
                    url = args.database
                    _empty(url)
                label = f"PostgreSQL, {n} replica{'s' if n > 1 else ''}"
                results[label] = run_setup(label, url, n, port, args)
        finally:
            farm.terminate()
            farm.wait()
            if server is not None:
                server.stop()
    print(f"\n{'setup':<24} {'best polls/s':>13} {'median polls/s':>15}")
    for label, rates in results.items():
        print(f"{label:<24} {max(rates):>13.1f} {statistics.median(rates):>15.1f}")
    return 0


def _empty(url: str) -> None:
    """Drop the monitor's tables from a database given with --database."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for t in (
            "duplicates",
            "signature_bands",
            "signatures",
            "silences",
            "outbox",
            "matches",
            "stories",
            "sources",
            "meta",
        ):
            conn.execute(f"DROP TABLE IF EXISTS {t} CASCADE")


if __name__ == "__main__":
    sys.exit(main())
