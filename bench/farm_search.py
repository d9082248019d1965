"""Search sources beside feeds: what a poll that finds nothing new costs.

    python bench/farm_search.py                  # 200 feeds and 200 searches
    python bench/farm_search.py --sources 500

A loopback server (its own process) serves N RSS feeds with ETags
(bench/farm.py's feeds) and N Google News searches (`kind: google_news`
with `api_base` pointed at it), each answering 100 results in Google News'
RSS format. Search services send no validators, so every poll of a search
is a 200 with a full body; the monitor (another process, the shipped
rules, a real SQLite state file) is timed per cycle:

  first        feeds and searches answer 200: parsed and stored as baselines
  feeds-304    every feed answers 304 Not Modified            (the baseline figure)
  search-same  every search returns its 100 results reordered, none new
  search-3new  every search returns 100 results, 3 never seen, the rest
               reordered or come back after dropping out

The figure that matters is search-same beside feeds-304, per source.
Figures depend on the machine's load: run more than once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from farm import (  # noqa: E402
    ROOT,
    WORDS,
    add_roles,
    feed_xml,
    peak_rss_mb,
    play_role,
    serve_then_run,
)

RESULTS = 100


def search_xml(i: int, version: int, order: int) -> bytes:
    """Search i: 100 results, a window over a pool that moves by 3 with each
    `version` (3 new, 3 dropped), rotated by `order` (the same results
    reordered)."""
    start = version * 3
    ids = list(range(start, start + RESULTS))
    k = (order * 17 + version * 5) % RESULTS
    ids = ids[k:] + ids[:k]
    items = []
    for n in ids:
        w1, w2 = WORDS[(i + n) % len(WORDS)], WORDS[(i * 3 + n) % len(WORDS)]
        extra = " as police expand facial recognition" if (i + n) % 10 == 0 else ""
        outlet = f"Outlet {n % 40}"
        gid = f"CBMi{i:04d}x{n:06d}"
        items.append(
            f"<item><title>{w1.title()} {w2} result {n}{extra} - {outlet}</title>"
            f"<link>https://news.google.com/rss/articles/{gid}?oc=5</link>"
            f'<guid isPermaLink="false">{gid}</guid>'
            f"<pubDate>Tue, 01 Dec 2026 1{n % 10}:00:00 GMT</pubDate>"
            f'<description>&lt;a href="https://news.google.com/rss/articles/{gid}?oc=5"&gt;'
            f"{w1.title()} {w2} result {n}&lt;/a&gt;&amp;nbsp;&amp;nbsp;&lt;font&gt;{outlet}&lt;/font&gt;"
            f'</description><source url="https://outlet{n % 40}.example">{outlet}</source></item>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><rss version="2.0"><channel>'
        f"<title>term{i} - Google News</title><language>en-US</language>"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def serve(n: int, port_file: str) -> None:
    state = {"feeds": 0, "search": 0, "order": 0}
    cache: dict[tuple[int, int, int], bytes] = {}

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
                if path.startswith("/bump/"):
                    state[path[6:]] += 1
                    # answers are made before the timed cycle, not during it
                    for i in range(n):
                        key = (i, state["search"], state["order"])
                        cache[key] = search_xml(*key)
                    writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                elif path.startswith("/feed/"):
                    i = int(path[6:].split(".")[0])
                    etag = f'"f{i}-v{state["feeds"]}"'.encode()
                    if inm == etag:
                        writer.write(b"HTTP/1.1 304 Not Modified\r\nETag: " + etag + b"\r\n\r\n")
                    else:
                        data = feed_xml(i, state["feeds"])
                        writer.write(
                            b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nETag: "
                            + etag
                            + b"\r\nContent-Length: "
                            + str(len(data)).encode()
                            + b"\r\n\r\n"
                            + data
                        )
                elif path.startswith("/rss/search"):
                    q = parse_qs(urlsplit(path).query)["q"][0]
                    key = (int(q[4:]), state["search"], state["order"])
                    if key not in cache:
                        cache[key] = search_xml(*key)
                    data = cache[key]
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=UTF-8"
                        b"\r\nContent-Length: " + str(len(data)).encode() + b"\r\n\r\n" + data
                    )
                else:
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        Path(port_file).write_text(str(server.sockets[0].getsockname()[1]))
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def run(n: int, port: int, workers: int) -> None:
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
    feeds = [
        SourceConfig(name=f"outlet-{i}", kind="rss", url=f"{base}/feed/{i}.xml") for i in range(n)
    ]
    searches = [
        SourceConfig(name=f"search-{i}", kind="google_news", query=f"term{i}", api_base=base)
        for i in range(n)
    ]
    with tempfile.TemporaryDirectory(prefix="farm-search-") as tmp:
        config = Config(
            state=Path(tmp) / "state.db",
            sources=feeds + searches,
            fetch=FetchSettings(workers=workers, per_host_concurrency=workers, per_host_delay=0),
        )
        mon = Monitor(config, ruleset)
        mon.deliver = lambda: DeliveryStats()  # sending is not part of a poll's cost
        try:
            plan = [
                ("first", feeds + searches, None),
                ("feeds-304", feeds, None),
                ("search-same", searches, "order"),
                ("search-3new", searches, "search"),
            ]
            for label, sources, bump in plan:
                if bump:
                    urllib.request.urlopen(base + f"/bump/{bump}").read()
                t0 = time.perf_counter()
                c0 = time.process_time()
                out = mon.cycle(sources)
                wall = time.perf_counter() - t0
                cpu = time.process_time() - c0
                ok = sum(p.ok for p in out.polls)
                new = sum(p.new for p in out.polls)
                matched = sum(p.matched for p in out.polls)
                print(
                    f"{len(sources):>5} sources  {label:<11} wall {wall:6.2f} s  "
                    f"{wall / len(sources) * 1000:6.2f} ms/source  cpu {cpu / len(sources) * 1000:6.2f} ms/source  "
                    f"peak RSS {peak_rss_mb():6.1f} MB  ok {ok}  new {new}  matched {matched}",
                    flush=True,
                )
        finally:
            mon.close()


def reorder_only(mon, searches, base) -> None:
    """Poll the new version once unmeasured, so the measured cycle that
    follows (same version, same results in the same set) finds nothing new
    but still reads a full 200 body, as a search with no new result does."""
    mon.cycle(searches)
    # the next answer carries the same results; the body must differ so the
    # unchanged-body shortcut does not hide the parse: force a fresh hash
    for src in searches:
        mon.store.db.execute("UPDATE sources SET body_hash=NULL WHERE name=?", (src.name,))
    mon.store.db.commit()


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sources", type=int, default=200, help="feeds, and as many searches")
    ap.add_argument("--workers", type=int, default=8)
    add_roles(ap)
    args = ap.parse_args()
    if play_role(args, serve, run):
        return 0
    print(
        f"search farm: {os.cpu_count()} CPUs, {args.workers} fetch workers, "
        f"{args.sources} feeds (20 items) and {args.sources} searches ({RESULTS} results)"
    )
    serve_then_run(Path(__file__), args.sources, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
