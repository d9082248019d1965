"""Would parsing on another core pay? A parse worker process against parsing in place.

    python bench/parse_worker.py [--feeds 2000] [--work-ms 1.0] [--rounds 2]

The feeds are the farm's (bench/farm.py): RSS 2.0, 20 items each. Each feed
is read into Stories the way a poll reads it (sources.parse, no story
stored yet), then the rest of a poll's work on the main thread (the store's
writes, the rules) is stood in for by `--work-ms` of Python CPU per feed
(about what `monitor once` spends per feed besides parsing, cold).

  in place   parse, then the work, feed after feed, on one thread
  worker     a process forked after the imports (as the service would fork
             it at start-up) is sent each body over a pipe and sends back the
             pickled Stories; the main thread keeps 32 feeds in flight and
             does the work as results come back

Printed: wall time, the main process's CPU, the worker's CPU, the pickling
cost on the main side, and the memory of both processes (RSS and PSS, the
share of pages the two have in common counted once). The service's own
peak RSS is what bench/once_vs_urlwatch.py prints; a worker's memory adds
to it for as long as the service runs.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import pickle
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "bench"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from farm import feed_xml  # noqa: E402

import monitor.polls  # noqa: E402, F401  (what the service has imported before it forks)
from monitor import sources  # noqa: E402
from monitor.fetch import FetchResult  # noqa: E402
from monitor.sources.config import SourceConfig  # noqa: E402

HEADERS = {"content-type": "application/rss+xml"}
WINDOW = 32


SOURCES: dict[int, SourceConfig] = {}


def parse_one(i: int, body: bytes):
    url = f"http://127.0.0.1/feed/{i}.xml"
    if i not in SOURCES:
        SOURCES[i] = SourceConfig(name=f"outlet-{i}", kind="rss", url=url)
    result = FetchResult(url=url, status=200, headers=HEADERS, body=body)
    return sources.parse(SOURCES[i], result, lambda keys: set())


def memory(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of a process in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(status.split("VmRSS:")[1].split()[0]) / 1024
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return rss, int(rollup.split("Pss:")[1].split()[0]) / 1024


def stand_in(ms: float) -> None:
    """`ms` of the main thread's CPU."""
    end = time.thread_time() + ms / 1000
    x = 0
    while time.thread_time() < end:
        for k in range(200):
            x += k


def worker(conn) -> None:
    while True:
        msg = conn.recv_bytes()
        if msg == b"stats":
            use = resource.getrusage(resource.RUSAGE_SELF)
            conn.send_bytes(pickle.dumps((use.ru_utime + use.ru_stime, memory(os.getpid()))))
            continue
        if not msg:
            return
        i, body = pickle.loads(msg)
        conn.send_bytes(pickle.dumps(parse_one(i, body), protocol=pickle.HIGHEST_PROTOCOL))


def in_place(bodies: list[bytes], work_ms: float) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    for i, body in enumerate(bodies):
        parse_one(i, body)
        stand_in(work_ms)
    return time.perf_counter() - t0, time.process_time() - c0


def with_worker(conn, bodies: list[bytes], work_ms: float):
    conn.send_bytes(b"stats")
    cpu_before = pickle.loads(conn.recv_bytes())[0]
    t0, c0 = time.perf_counter(), time.process_time()
    pickling = 0.0
    sent = min(WINDOW, len(bodies))
    for i in range(sent):
        conn.send_bytes(pickle.dumps((i, bodies[i]), protocol=pickle.HIGHEST_PROTOCOL))
    for _ in bodies:
        data = conn.recv_bytes()
        q = time.process_time()
        pickle.loads(data)
        msg = b""
        if sent < len(bodies):
            msg = pickle.dumps((sent, bodies[sent]), protocol=pickle.HIGHEST_PROTOCOL)
        pickling += time.process_time() - q
        if msg:
            conn.send_bytes(msg)
            sent += 1
        stand_in(work_ms)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    conn.send_bytes(b"stats")
    worker_cpu, worker_mem = pickle.loads(conn.recv_bytes())
    return wall, cpu, pickling, worker_cpu - cpu_before, worker_mem


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", type=int, default=2000)
    ap.add_argument("--work-ms", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    parse_one(0, feed_xml(0, 0))  # the parse path's own imports, before the fork
    ctx = mp.get_context("fork")
    ours, theirs = ctx.Pipe()
    proc = ctx.Process(target=worker, args=(theirs,), daemon=True)
    proc.start()
    bodies = [feed_xml(i, 0) for i in range(args.feeds)]
    print(
        f"{args.feeds} feeds x 20 items; {args.work_ms} ms of other main-thread CPU per feed; "
        f"{os.cpu_count()} CPUs"
    )
    for _ in range(args.rounds):
        wall, cpu = in_place(bodies, args.work_ms)
        print(f"  in place  wall {wall:6.2f} s  main CPU {cpu:5.2f} s")
        wall, cpu, pickling, wcpu, (wrss, wpss) = with_worker(ours, bodies, args.work_ms)
        rss, pss = memory(os.getpid())
        print(
            f"  worker    wall {wall:6.2f} s  main CPU {cpu:5.2f} s (pickling {pickling:4.2f} s)"
            f"  worker CPU {wcpu:5.2f} s"
        )
        print(
            f"            worker RSS {wrss:5.1f} MB, PSS {wpss:5.1f} MB"
            f" (this process: RSS {rss:5.1f} MB, PSS {pss:5.1f} MB)"
        )
    ours.send_bytes(b"")
    proc.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
