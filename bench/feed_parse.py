"""CPU per feed: the lxml fast path against feedparser, on the same bytes.

    python bench/feed_parse.py [--rounds 300]

The feed is the farm's (bench/farm.py): RSS 2.0, 20 items, each with an
HTML summary. Each parser reads it `rounds` times; the figure is process CPU time
per parse (best of three runs), so other load on the machine matters less
than wall time would. Also timed: the fast path when all but one story is
already stored (the usual poll of a changed feed), and the same stories
as an Atom feed.
"""

from __future__ import annotations

import argparse
import html
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "bench"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from farm import feed_xml  # noqa: E402

from monitor.sources import fastfeed, rss  # noqa: E402


def cpu_per_call(fn, rounds: int) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        for _ in range(rounds):
            fn()
        best = min(best, (time.process_time() - t0) / rounds)
    return best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=300)
    args = ap.parse_args()
    body = feed_xml(7, 0)
    url = "https://outlet7.example/feed"
    n = len(fastfeed.parse(body, url))
    keys = [f"guid:https://outlet7.example/news/{k}" for k in range(1, 40)]
    all_but_one = set(keys[:-1]) - {"guid:https://outlet7.example/news/20"}

    fast, slow = reader(body, url, True), reader(body, url, False)

    def fast_known():
        return fastfeed.parse(body, url, lambda ks: all_but_one & set(ks))

    assert fast() == slow()
    print(f"feed of {n} items, {len(body)} bytes; CPU per parse, best of 3 x {args.rounds}:")
    f = cpu_per_call(fast, args.rounds)
    s = cpu_per_call(slow, max(args.rounds // 10, 10))
    k = cpu_per_call(fast_known, args.rounds)
    print(f"  feedparser                  {s * 1000:7.3f} ms")
    print(f"  lxml fast path              {f * 1000:7.3f} ms   ({s / f:4.1f}x less CPU)")
    print(f"  fast path, 1 new of {n:<3}     {k * 1000:7.3f} ms   ({s / k:4.1f}x less CPU)")

    # the same stories as an Atom feed (an entry's fields are found by name)
    atom = atom_xml(fastfeed.parse(body, url))

    atom_fast, atom_slow = reader(atom, url, True), reader(atom, url, False)
    assert [i.link for i in atom_fast()] == [i.link for i in atom_slow()]
    s = cpu_per_call(atom_slow, max(args.rounds // 10, 10))
    f = cpu_per_call(atom_fast, args.rounds)
    print(f"Atom feed of the same items, {len(atom)} bytes:")
    print(f"  feedparser                  {s * 1000:7.3f} ms")
    print(f"  lxml fast path              {f * 1000:7.3f} ms   ({s / f:4.1f}x less CPU)")
    return 0


def reader(body: bytes, url: str, fast: bool):
    """One parse of `body` by the fast path or by feedparser."""

    def parse():
        rss.FAST_PATH = fast
        return rss.parse_xml_feed(body, url)

    return parse


def atom_xml(items) -> bytes:
    entries = "".join(
        f"<entry><title>{html.escape(i.title)}</title><link href='{i.link}'/><id>{i.guid}</id>"
        f"<updated>{i.published.strftime('%Y-%m-%dT%H:%M:%SZ')}</updated>"
        f"<summary type='html'>{html.escape('<p>' + i.summary + '</p>')}</summary></entry>"
        for i in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Outlet</title><id>https://outlet7.example/</id>{entries}</feed>"
    ).encode()


if __name__ == "__main__":
    sys.exit(main())
