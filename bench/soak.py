"""Soak: run the service loop for thousands of cycles and watch its memory.

    python bench/soak.py [--cycles 5000] [--sources 6] [--new 2] [--every 500] [--warmup 1000]

A loopback farm serves `--sources` news sources (RSS feeds and HTML listing
pages, alternately) that publish `--new` new stories each every cycle; one
story in five is about facial recognition or a data leak, so the rules match
and alerts go through Apprise to a JSON webhook on the same farm. The monitor
runs as `monitor run` does (the shipped rules, the HTTP endpoint on, a reload
check every cycle), except that its clock is advanced by a source interval
each cycle, so every source is due at once and no cycle waits.

RSS (VmRSS) is printed every `--every` cycles. The baseline is the RSS after
`--warmup` cycles (caches filled, the first SQLite pages and Apprise plugins
loaded); growth is the last reading against it. Exit 1 when growth is at or
above `--max-growth` percent (10 by default). Nothing here is a test: it
prints figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from monitor import log  # noqa: E402
from monitor.config import (  # noqa: E402
    ChannelConfig,
    Config,
    FetchSettings,
    HttpSettings,
    Select,
    SourceConfig,
)
from monitor.service import Monitor, load_checked_rules  # noqa: E402

TOPICS = [
    "Police expand facial recognition cameras at station {n}",
    "Council debates parking fees in district {n}",
    "Retailer leaked customer records of {n} shoppers",
    "Local team wins match number {n}",
    "New bus timetable for route {n}",
]
PER_PAGE = 20


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Farm:
    """Loopback news sites whose front pages move on by `new` stories a cycle."""

    def __init__(self, sources: int, new: int):
        self.sources, self.new = sources, new
        self.cycle = 0
        self.posts = 0
        farm = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = (
                True  # headers and body in one segment: no 40 ms delayed-ACK stall
            )

            def do_GET(self):  # noqa: N802
                if self.path == "/robots.txt":  # none here: everything is allowed
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                i = int(self.path.strip("/").split("/")[0][1:])
                body, ctype = farm.page(i)
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                farm.posts += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stories(self, i: int) -> list[tuple[int, str]]:
        last = (self.cycle + 1) * self.new
        return [
            (n, TOPICS[(n + i) % len(TOPICS)].format(n=n))
            for n in range(last - 1, max(-1, last - PER_PAGE - 1), -1)
        ]

    def page(self, i: int) -> tuple[bytes, str]:
        if i % 2 == 0:
            items = "".join(
                f"<item><title>{t}</title><link>{self.url}/s{i}/story/{n}</link>"
                f"<guid isPermaLink='false'>s{i}-{n}</guid><description>Story {n} of source {i}: {t}."
                f"</description></item>"
                for n, t in self.stories(i)
            )
            return (
                f'<?xml version="1.0"?><rss version="2.0"><channel><title>Source {i}</title>{items}'
                "</channel></rss>"
            ).encode(), "application/rss+xml"
        lis = "".join(
            f'<li class="story"><a href="/s{i}/story/{n}">{t}</a><p>Story {n}: {t}.</p></li>'
            for n, t in self.stories(i)
        )
        return f"<html><body><ul>{lis}</ul></body></html>".encode(), "text/html; charset=utf-8"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cycles", type=int, default=5000)
    ap.add_argument("--sources", type=int, default=6)
    ap.add_argument("--new", type=int, default=2, help="new stories per source per cycle")
    ap.add_argument("--every", type=int, default=500, help="print RSS every N cycles")
    ap.add_argument("--warmup", type=int, default=1000, help="cycles before the RSS baseline")
    ap.add_argument("--max-growth", type=float, default=10.0, help="percent")
    args = ap.parse_args()
    log.setup("warning")  # the events still reach the metrics

    farm = Farm(args.sources, args.new)
    now = [time.time()]
    interval = 60.0
    sources = [
        SourceConfig(
            name=f"rss-{i}", kind="rss", url=f"{farm.url}/s{i}/feed.xml", interval=interval
        )
        if i % 2 == 0
        else SourceConfig(
            name=f"html-{i}",
            kind="html",
            url=f"{farm.url}/s{i}/",
            interval=interval,
            select=Select(item="li.story", summary="p"),
        )
        for i in range(args.sources)
    ]
    with tempfile.TemporaryDirectory(prefix="monitor-soak-") as tmp:
        config = Config(
            state=Path(tmp) / "soak.db",
            rules=ROOT / "rules",
            sources=sources,
            channels={
                "hook": ChannelConfig(
                    urls=[f"json://127.0.0.1:{farm.server.server_address[1]}/hook"]
                )
            },
            http=HttpSettings(listen="127.0.0.1:0"),
            # every source sits on one loopback host: no politeness delay, or
            # the cycle would measure the delay instead of the monitor
            fetch=FetchSettings(per_host_delay=0),
        )
        ruleset, problems = load_checked_rules(config)
        if problems:
            for p in problems:
                print(p)
            return 2
        mon = Monitor(config, ruleset, clock=lambda: now[0])
        mon.loop_alive = True
        mon.start_http()
        print(
            f"soak: {args.cycles} cycles, {args.sources} sources, {args.new} new stories each per cycle, "
            f"{len(ruleset.rules)} rules, endpoint {mon.api.url}"
        )
        print(f"{'cycle':>7} {'rss_mb':>8} {'stories':>8} {'alerts':>7} {'cycles/s':>9}")
        readings: list[tuple[int, float]] = []
        baseline = None
        started = last_t = time.monotonic()
        stories = alerts = 0
        try:
            for c in range(1, args.cycles + 1):
                farm.cycle = c
                out = mon.cycle()
                stories += sum(p.new for p in out.polls)
                alerts += out.delivery.sent
                failed = [p for p in out.polls if not p.ok]
                if failed:
                    print(f"cycle {c}: {failed[0].source} failed: {failed[0].error}")
                mon.reloader.check()
                now[0] += interval
                if c % 100 == 0:  # a scraper and a health probe, as in production
                    for path in ("/metrics", "/healthz", "/readyz"):
                        with urllib.request.urlopen(mon.api.url + path, timeout=10) as r:
                            r.read()
                if c == args.warmup:
                    gc.collect()
                    baseline = rss_mb()
                if c % args.every == 0 or c == args.cycles:
                    gc.collect()
                    rss = rss_mb()
                    readings.append((c, rss))
                    t = time.monotonic()
                    rate = args.every / (t - last_t) if c % args.every == 0 else float("nan")
                    last_t = t
                    print(f"{c:>7} {rss:>8.1f} {stories:>8} {alerts:>7} {rate:>9.1f}", flush=True)
        finally:
            status = json.loads(urllib.request.urlopen(mon.api.url + "/healthz", timeout=10).read())
            mon.close()
            farm.close()
        elapsed = time.monotonic() - started
    if baseline is None:
        baseline = readings[0][1]
    final = readings[-1][1]
    growth = (final - baseline) / baseline * 100
    peak = max(r for c, r in readings if c >= args.warmup) if args.cycles >= args.warmup else final
    print(
        f"cycles {args.cycles}, stories {stories}, alerts delivered {alerts} (webhook received {farm.posts}), "
        f"{elapsed:.0f}s, health at the end: {status['status']}"
    )
    print(
        f"RSS after warm-up ({args.warmup} cycles) {baseline:.1f} MB, at the end {final:.1f} MB, "
        f"peak after warm-up {peak:.1f} MB: growth {growth:+.1f} % (limit {args.max_growth:g} %)"
    )
    return 0 if growth < args.max_growth else 1


if __name__ == "__main__":
    sys.exit(main())
