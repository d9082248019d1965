"""Leave-one-source-out figures for a rule edit: before and after, per source.

    python bench/loso.py LABELLED.jsonl [...] --before OLD_RULES --after NEW_RULES [--json]

Hand-written rules are not fitted by a program, so "leave one source out"
is a way of working, and this script gives the numbers it needs. The items
of all the files are pooled and grouped by their `source` (read as
`monitor rules score` reads it). For each source S the table shows, per
tag, F1 on S before and after the edit, and F1 on every other source
pooled (the part one looks at while editing). An edit made from the other
sources' mistakes that generalises raises, or keeps, the held-out column;
one that learned those stories leaves it flat or lowers it. The last rows
pool every held-out source, and the items are counted once each.

`--errors S` lists the mistakes of the "after" rules on every source but S:
what one reads while S is held out. Nothing is timed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from monitor import scoring  # noqa: E402
from monitor.engine import load_rules  # noqa: E402


def load(path: Path):
    ruleset, problems = load_rules([path])
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    return ruleset


def f1_of(items, verdicts, tag) -> dict:
    c = scoring.Counts()
    for item, v in zip(items, verdicts):
        c.add(tag in item.labels, tag in v.tags)
    return c.as_dict()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("labelled", nargs="+", type=Path)
    ap.add_argument("--before", type=Path, required=True)
    ap.add_argument("--after", type=Path, required=True)
    ap.add_argument("--errors", metavar="SOURCE", help="list 'after' mistakes outside SOURCE")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    before, after = load(args.before), load(args.after)
    tags = sorted(
        {t for r in after.rules for t in r.tags} | {t for r in before.rules for t in r.tags}
    )
    items = []
    for path in args.labelled:
        got, errors = scoring.read_labelled(path, set(tags))
        for e in errors:
            print(e, file=sys.stderr)
        items += got
    vb = [scoring.predict(before, i) for i in items]
    va = [scoring.predict(after, i) for i in items]

    if args.errors:
        keep = [k for k, i in enumerate(items) if i.source != args.errors]
        sub = [items[k] for k in keep]
        fps, fns = scoring.mistakes(after, sub, [va[k] for k in keep], tags)
        for kind, rows in (("FP", fps), ("FN", fns)):
            for r in rows:
                print(f"{kind} {r['tag']:<19} {r['id']:<10} {r['title'][:90]}")
        return 0

    sources = sorted({i.source or "(none)" for i in items})
    rows = []
    for s in sources:
        inside = [k for k, i in enumerate(items) if (i.source or "(none)") == s]
        outside = [k for k in range(len(items)) if k not in set(inside)]
        row: dict = {"source": s, "items": len(inside)}
        for tag in tags:
            pick = lambda ks, vs: ([items[k] for k in ks], [vs[k] for k in ks])  # noqa: E731
            row[tag] = {
                "positives": sum(tag in items[k].labels for k in inside),
                "held_out_before": f1_of(*pick(inside, vb), tag),
                "held_out_after": f1_of(*pick(inside, va), tag),
                "rest_before": f1_of(*pick(outside, vb), tag)["f1"],
                "rest_after": f1_of(*pick(outside, va), tag)["f1"],
            }
        rows.append(row)
    pooled = {
        tag: {"before": f1_of(items, vb, tag), "after": f1_of(items, va, tag)} for tag in tags
    }
    if args.json:
        print(json.dumps({"rows": rows, "pooled": pooled}, indent=1))
        return 0
    for tag in tags:
        print(f"\n{tag}: F1 on the held-out source (before -> after), F1 on the rest")
        print(f"{'held-out source':<52} {'items':>5} {'pos':>4} {'held-out':>15} {'rest':>13}")
        for row in rows:
            r = row[tag]
            hb, ha = r["held_out_before"], r["held_out_after"]
            mark = "" if r["positives"] or hb["fp"] or ha["fp"] else "  (no positives)"
            held = f"{hb['f1']:.3f} -> {ha['f1']:.3f}"
            if not r["positives"]:
                held = f"fp {hb['fp']} -> {ha['fp']}"
            print(
                f"{row['source'][:52]:<52} {row['items']:>5} {r['positives']:>4} "
                f"{held:>15} {r['rest_before']:.3f}->{r['rest_after']:.3f}{mark}"
            )
        b, a = pooled[tag]["before"], pooled[tag]["after"]
        print(
            f"{'all items':<52} {len(items):>5} {b['tp'] + b['fn']:>4} "
            f"{b['f1']:.3f} -> {a['f1']:.3f}   P {b['precision']:.3f}->{a['precision']:.3f}"
            f"  R {b['recall']:.3f}->{a['recall']:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
