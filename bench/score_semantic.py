"""Keyword rules, a semantic classifier, and the two combined, on labelled news.

    python bench/score_semantic.py ITEMS.jsonl [MORE.jsonl ...] [--rules DIR]
        [--check CHECK.jsonl] [--l2 1.0]

Needs the semantic extra. Items are read as in score_rules.py; each item's
``source`` (a string, or a mapping with ``repo`` / ``corpus``) names where it
came from. For each tag, three predictions are scored over every item, by
leave-one-source-out cross-validation (the classifier never sees the held-out
source while it is fitted):

- **rules**: any enabled rule with the tag matches (the rules are not refitted);
- **classifier**: the linear head's held-out score is at least `min` (0.5,
  and the `min` among 0.20 .. 0.90 with the best F1 on these same scores,
  which flatters it);
- **rules + classifier**: either, which is how a rule with only a
  `classifier:` condition and the same tag combines with the other rules.

`min` for the combined line is the value, among 0.50 .. 0.95, that gives the
best cross-validated F1 with precision at least 0.95 (or the best F1 when
none reaches 0.95). With ``--check``, the items of CHECK.jsonl are then kept
out of everything above, the head is fitted on all the rest, and the three
predictions are scored once on the check items at that `min`: the figure
that decides whether a semantic rule ships enabled.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from monitor.engine import load_rules  # noqa: E402
from monitor.semantic import encoder, head  # noqa: E402
from monitor.semantic.train import _group, prf  # noqa: E402

TAG_TO_LABEL = {"facial-recognition": "facial_recognition", "data-leak": "data_leak"}
MINS = [round(0.5 + 0.05 * k, 2) for k in range(10)]
MINS_ALONE = [round(0.2 + 0.05 * k, 2) for k in range(15)]


def read(paths: list[Path]) -> list[dict]:
    items = []
    for path in paths:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as exc:
                    sys.exit(f"{path}:{n}:{exc.colno}: not JSON: {exc.msg}")
                item["_group"] = f"{path.stem}:{_group(item.get('source'))}"
                items.append(item)
    return items


def rule_hits(ruleset, items: list[dict], tag: str) -> np.ndarray:
    out = np.zeros(len(items), dtype=bool)
    for k, item in enumerate(items):
        fields = {f: item.get(f) or "" for f in ("title", "summary", "body")}
        out[k] = any(tag in m.tags for m in ruleset.match_fields(fields))
    return out


def held_out(X, y, groups, l2) -> np.ndarray:
    scores = np.zeros(len(y))
    for g in sorted(set(groups)):
        test = groups == g
        w, b = head.fit(X[~test], y[~test], l2)
        scores[test] = head.Head(w, b, "").score(X[test])
    return scores


def line(name: str, gold, pred) -> str:
    p, r, f = prf(gold, pred)
    return f"  {name:<34} P {p:.3f}  R {r:.3f}  F1 {f:.3f}  (n={len(gold)})"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("items", type=Path, nargs="+")
    ap.add_argument("--rules", type=Path, default=ROOT / "rules")
    ap.add_argument("--check", type=Path)
    ap.add_argument("--l2", type=float, default=head.DEFAULT_L2)
    args = ap.parse_args(argv)
    items = read(args.items)
    check_ids = set()
    if args.check:
        check_ids = {
            json.loads(ln)["id"] for ln in args.check.read_text().splitlines() if ln.strip()
        }
    ruleset, problems = load_rules([args.rules])
    for problem in problems:
        print(problem, file=sys.stderr)
    X = encoder.embed([encoder.story_text(i) for i in items])
    groups = np.array([i["_group"] for i in items])
    is_check = np.array([i.get("id") in check_ids for i in items])
    tune = ~is_check
    print(f"{len(items)} items from {len(set(groups))} sources; encoder {encoder.encoder_id()}")
    for tag, label in TAG_TO_LABEL.items():
        y = np.array([label in i.get("labels", []) for i in items])
        rules = rule_hits(ruleset, items, tag)
        scores = held_out(X[tune], y[tune], groups[tune], args.l2)
        gold, r = y[tune], rules[tune]
        cands = [(prf(gold, r | (scores >= m)), m) for m in MINS]
        ok = [c for c in cands if c[0][0] >= 0.95] or cands
        (_, _, _), best = max(ok, key=lambda c: c[0][2])
        print(f"\n{tag}: leave-one-source-out over {int(tune.sum())} items")
        print(line("rules", gold, r))
        print(line("classifier (min 0.5)", gold, scores >= 0.5))
        alone = max(MINS_ALONE, key=lambda m: prf(gold, scores >= m)[2])
        print(line(f"classifier (best min {alone})", gold, scores >= alone))
        print(line(f"classifier (min {best})", gold, scores >= best))
        print(line(f"rules + classifier (min {best})", gold, r | (scores >= best)))
        if is_check.any():
            w, b = head.fit(X[tune], y[tune], args.l2)
            s = head.Head(w, b, "").score(X[is_check])
            gold, r = y[is_check], rules[is_check]
            print(f"{tag}: check items, fitted on the others, min {best}")
            print(line("rules", gold, r))
            print(line(f"classifier (min {best})", gold, s >= best))
            print(line(f"rules + classifier (min {best})", gold, r | (s >= best)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
