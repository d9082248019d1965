"""The lxml fast path against feedparser, item by item, on a corpus of feeds.

    python bench/feed_parity.py CORPUS_DIR [--show N]

CORPUS_DIR is a directory of XML feeds, such as the `tests/` tree of
feedparser's own repository (fetched separately; it is not kept here). A
feed's HTTP Content-Type is read from a `Header: Content-type: ...` line of
its leading comment, the way that corpus states it.

For every feed the fast path accepts, its items are set beside the items of
the feedparser path (rss.py with the fast path off) on the same bytes:

- items lost: feedparser has the item with a title or a link (a story),
  the fast path has no such item or one with neither title nor link;
- per field (title, link, summary, published): missing (feedparser has a
  value, the fast path none), wrong (both have one and they differ, spaces
  aside), extra (only the fast path has one).

When CORPUS_DIR holds feedparser's `test_date_parsers.py`, its RFC 822 and
W3C-DTF date vectors are run through `parse_feed_date` as well.
`--show N` prints up to N examples of each disagreement.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from monitor.sources import rss, xmlprep  # noqa: E402
from monitor.sources.dates import parse_feed_date  # noqa: E402
from monitor.sources.errors import SourceError  # noqa: E402

URL = "http://127.0.0.1:8097/feed.xml"
FIELDS = ("title", "link", "summary", "published")
_HEADER = re.compile(rb"^\s*Header:\s*Content-type:\s*(.+?)\s*$", re.I | re.M)


def content_type(body: bytes) -> str | None:
    head = body[:2048]
    m = _HEADER.search(head)
    return m.group(1).decode("latin-1") if m else None


def norm(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return " ".join(str(value).split())


def slow_items(body: bytes, ctype: str | None):
    rss.FAST_PATH = False
    try:
        return rss.parse_xml_feed(body, URL, ctype)
    except SourceError:
        return []
    finally:
        rss.FAST_PATH = True


def compare_feeds(corpus: Path, show: int) -> None:
    files = sorted(p for p in corpus.rglob("*.xml") if p.is_file())
    accepted = refused = lost = items_seen = 0
    counts: dict[str, Counter] = defaultdict(Counter)
    examples: dict[str, list[str]] = defaultdict(list)

    def note(kind: str, text: str) -> None:
        if len(examples[kind]) < show:
            examples[kind].append(text)

    for path in files:
        body = path.read_bytes()
        ctype = content_type(body)
        try:
            data, ct = xmlprep.prepare(body, ctype)
        except SourceError:
            refused += 1
            continue
        data, ct = rss._widen_encoding(data, ct)
        try:
            fast = rss.fast_items(data, URL, ct)
        except SourceError:
            fast = None
        if fast is None:
            continue
        accepted += 1
        slow = slow_items(body, ctype)
        name = str(path.relative_to(corpus))
        for i, want in enumerate(slow):
            if not (want.title or want.link or want.summary):
                continue
            items_seen += 1
            got = fast[i] if i < len(fast) else None
            kept = want.title or want.link  # a story at all (identity.make_stories)
            if kept and (got is None or not (got.title or got.link)):
                lost += 1
                note("lost", f"{name} item {i}: {want.title[:60]!r} {want.link}")
                continue
            if got is None:
                continue
            for field in FIELDS:
                a, b = norm(getattr(want, field)), norm(getattr(got, field))
                if a == b:
                    continue
                kind = "missing" if not b else "extra" if not a else "wrong"
                counts[field][kind] += 1
                note(f"{field} {kind}", f"{name}: feedparser {a[:80]!r} fast {b[:80]!r}")
    print(f"feeds in corpus            {len(files)}")
    print(f"refused (entity DTD)       {refused}")
    print(f"accepted by the fast path  {accepted}")
    print(f"items feedparser finds     {items_seen}  (in accepted feeds)")
    print(f"items the fast path loses  {lost}")
    print(f"{'field':<10} {'missing':>8} {'wrong':>8} {'extra':>8}")
    for field in FIELDS:
        c = counts[field]
        print(f"{field:<10} {c['missing']:>8} {c['wrong']:>8} {c['extra']:>8}")
    for kind, lines in examples.items():
        print(f"-- {kind}")
        for line in lines:
            print("   " + line)


def date_vectors(corpus: Path) -> list[tuple[str, str, tuple | None]]:
    """(parser name, input, expected UTC tuple or None) from feedparser's tests."""
    found = list(corpus.rglob("test_date_parsers.py"))
    if not found:
        return []
    tree = ast.parse(found[0].read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Tuple) or len(node.elts) != 3:
            continue
        fn = node.elts[0]
        if not (isinstance(fn, ast.Name) and fn.id in ("_parse_date_rfc822", "_parse_date_w3dtf")):
            continue
        try:
            text = ast.literal_eval(node.elts[1])
            expected = ast.literal_eval(node.elts[2])
        except ValueError:
            continue
        out.append((fn.id, text, expected))
    return out


def compare_dates(corpus: Path, show: int) -> None:
    vectors = date_vectors(corpus)
    if not vectors:
        return
    agree: Counter = Counter()
    total: Counter = Counter()
    bad = []
    for name, text, expected in vectors:
        got = parse_feed_date(text)
        got_t = tuple(got.utctimetuple())[:6] if got is not None else None
        want_t = tuple(expected)[:6] if expected is not None else None
        total[name] += 1
        if got_t == want_t:
            agree[name] += 1
        else:
            bad.append(f"{name} {text!r}: expected {want_t} got {got_t}")
    for name in sorted(total):
        print(f"date vectors {name:<20} {agree[name]:>3} of {total[name]:>3} agree")
    for line in bad[:show]:
        print("   " + line)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--show", type=int, default=0)
    args = ap.parse_args()
    compare_feeds(args.corpus, args.show)
    compare_dates(args.corpus, args.show)
    return 0


if __name__ == "__main__":
    sys.exit(main())
