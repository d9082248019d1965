"""A loopback farm of RSS feeds and the whole service polling it.

    python bench/farm.py                 # 200 and 2,000 feeds
    python bench/farm.py --feeds 500     # one size
    python bench/farm.py --repeat 3      # each size three times

For each size, a fresh process runs the monitor (the shipped rules, a real
SQLite state file, the fetch pool) against a farm server in another process
(asyncio, keep-alive, ETag support, 20 items per feed), and prints for three
cycles the wall time, the time per feed and the peak RSS of the monitor
process so far:

  first     every feed answers 200 and is parsed, stored as a baseline
  all-304   every feed answers 304 Not Modified
  one-new   every feed has one new item: parsed, matched against the rules
            (one in ten matches), stored with its outbox rows; delivery itself
            is left out

Every feed lives on one loopback host, so the per-host limits are opened up
(concurrency = workers, no delay); with real sources they spread over many
hosts. Figures depend on the machine's load: run more than once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

WORDS = (
    "council city police camera data privacy law court school transit budget report health "
    "water housing election energy market sports weather museum"
).split()


def feed_xml(i: int, version: int) -> bytes:
    """Feed i at `version`: 20 items, the newest `version` ones new."""
    items = []
    for n in range(version + 20, version, -1):
        w1, w2, w3 = (
            WORDS[(i + n) % len(WORDS)],
            WORDS[(i * 7 + n) % len(WORDS)],
            WORDS[n % len(WORDS)],
        )
        # one story in ten mentions what the shipped rules look for
        extra = (
            " Police will use facial recognition cameras at the station."
            if (i + n) % 10 == 0
            else ""
        )
        items.append(
            f"<item><title>{w1.title()} {w2} story {n} from outlet {i}</title>"
            f"<link>https://outlet{i}.example/news/{n}</link><guid>https://outlet{i}.example/news/{n}</guid>"
            f"<pubDate>Mon, 0{1 + n % 9} Dec 2025 1{n % 10}:00:00 GMT</pubDate>"
            f"<description>&lt;p&gt;The {w1} {w2} {w3} item number {n} has a short summary "
            f"of a few words.{extra}&lt;/p&gt;</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Outlet {i}</title><link>https://outlet{i}.example/</link><description>News</description>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


# -- the farm server (its own process) ---------------------------------------


def serve(n: int, port_file: str) -> None:
    version = [0]
    cache: dict[int, tuple[bytes, bytes]] = {}

    def build() -> None:
        # Every body is built before it is asked for (at start and on /bump),
        # so the farm's own work never shows in a cycle's time.
        cache.clear()
        for i in range(n):
            cache[i] = (feed_xml(i, version[0]), f'"f{i}-v{version[0]}"'.encode())

    def body(i: int) -> tuple[bytes, bytes]:
        if i not in cache:
            cache[i] = (feed_xml(i, version[0]), f'"f{i}-v{version[0]}"'.encode())
        return cache[i]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                path = lines[0].split(b" ")[1].decode()
                inm = None
                for line in lines[1:]:
                    if line[:14].lower() == b"if-none-match:":
                        inm = line[14:].strip()
                if path == "/bump":
                    version[0] += 1
                    build()
                    writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                elif path.startswith("/feed/"):
                    i = int(path[6:].split(".")[0])
                    data, etag = body(i)
                    if inm == etag:
                        writer.write(b"HTTP/1.1 304 Not Modified\r\nETag: " + etag + b"\r\n\r\n")
                    else:
                        writer.write(
                            b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nETag: "
                            + etag
                            + b"\r\nContent-Length: "
                            + str(len(data)).encode()
                            + b"\r\n\r\n"
                            + data
                        )
                else:
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        build()
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        Path(port_file).write_text(str(server.sockets[0].getsockname()[1]))
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# -- the monitor side (its own process per size) -------------------------------


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KB on Linux


def run_size(n: int, port: int, workers: int) -> None:
    import urllib.request

    from monitor import log
    from monitor.alerts.outbox import DeliveryStats
    from monitor.config import Config, FetchSettings, SourceConfig
    from monitor.engine import load_rules
    from monitor.service import Monitor

    log.setup("error")
    ruleset, problems = load_rules([ROOT / "rules"])
    assert ruleset.rules and not problems, problems
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="farm-") as tmp:
        config = Config(
            state=Path(tmp) / "state.db",
            sources=[
                SourceConfig(name=f"outlet-{i}", kind="rss", url=f"{base}/feed/{i}.xml")
                for i in range(n)
            ],
            fetch=FetchSettings(workers=workers, per_host_concurrency=workers, per_host_delay=0),
        )
        mon = Monitor(config, ruleset)
        # Matches are planned and written to the outbox; sending them is not
        # part of a poll cycle's cost and is left out here.
        mon.deliver = lambda: DeliveryStats()
        try:
            for label in ("first", "all-304", "one-new"):
                if label == "one-new":
                    urllib.request.urlopen(base + "/bump").read()
                t0 = time.perf_counter()
                c0 = time.process_time()
                out = mon.cycle(mon.sources)
                wall = time.perf_counter() - t0
                cpu = time.process_time() - c0
                ok = sum(p.ok for p in out.polls)
                new = sum(p.new for p in out.polls)
                matched = sum(p.matched for p in out.polls)
                print(
                    f"{n:>6} feeds  {label:<8} wall {wall:6.2f} s  {wall / n * 1000:6.2f} ms/feed  "
                    f"cpu {cpu:6.2f} s  peak RSS {peak_rss_mb():6.1f} MB  ok {ok}  new {new}  matched {matched}",
                    flush=True,
                )
        finally:
            mon.close()


def serve_then_run(script: Path, n: int, workers: int) -> None:
    """Start `script --serve n` (the farm, its own process), wait for its
    port, then run `script --run n` against it: the farm's serving and the
    monitor's polling never share a core's interpreter."""
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        server = subprocess.Popen(
            [sys.executable, str(script), "--serve", str(n), "--port-file", str(port_file)]
        )
        try:
            while not port_file.exists() or not port_file.read_text():
                if server.poll() is not None:
                    raise SystemExit("farm server did not start")
                time.sleep(0.05)
            subprocess.run(
                [
                    sys.executable,
                    str(script),
                    "--run",
                    str(n),
                    "--port",
                    port_file.read_text(),
                    "--workers",
                    str(workers),
                ],
                check=True,
            )
        finally:
            server.terminate()
            server.wait()


def add_roles(ap: argparse.ArgumentParser) -> None:
    """The hidden options serve_then_run starts this script's two processes with."""
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--port-file", help=argparse.SUPPRESS)
    ap.add_argument("--run", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)


def play_role(args: argparse.Namespace, serve, run) -> bool:
    """Be the farm (--serve) or the monitor (--run) when asked; False when
    this is the parent that starts both."""
    if args.serve:
        serve(args.serve, args.port_file)
        return True
    if args.run:
        run(args.run, args.port, args.workers)
        return True
    return False


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--feeds", type=int, action="append", help="farm size (repeatable; default 200 and 2000)"
    )
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--workers", type=int, default=8)
    add_roles(ap)
    args = ap.parse_args()
    if play_role(args, serve, run_size):
        return 0
    print(f"farm benchmark: {os.cpu_count()} CPUs, {args.workers} fetch workers, 20 items per feed")
    for n in args.feeds or [200, 2000]:
        for _ in range(args.repeat):
            serve_then_run(Path(__file__), n, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
