"""Score the shipped rules against a labelled news set, next to a keyword baseline.

    python bench/score_rules.py ITEMS.jsonl [--rules DIR] [--show-errors]

The scoring itself is the product's (`monitor rules score`, in
monitor/scoring.py): the same reading of the file, the same predictions and
the same counts. This script adds what a benchmark wants beside them: a
plain any-of keyword list scored the same way (the baseline), and the
figures over all items and over the items not marked `borderline: true`,
per tag and language. Labels such as `facial_recognition` are read as the
tag `facial-recognition`. Nothing is timed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from monitor import scoring  # noqa: E402
from monitor.engine import load_rules  # noqa: E402

# The baseline: what one would type into a news alert box. Any term = a hit.
BASELINE_TERMS = {
    "facial-recognition": ["facial recognition", "face recognition", "人脸识别", "人臉識別"],
    "data-leak": ["data breach", "data leak", "leaked", "泄露", "洩露"],
}


def load(paths: list[Path], what: str):
    ruleset, problems = load_rules(paths)
    for problem in problems:
        print(f"{what}: {problem}", file=sys.stderr)
    return ruleset


def baseline_ruleset(tmp: Path):
    """The keyword list as a rule file, so it is matched exactly like the rules."""
    rules = [
        {"id": f"baseline-{tag}", "title": f"baseline {tag}", "tags": [tag], "match": terms}
        for tag, terms in BASELINE_TERMS.items()
    ]
    # JSON is YAML, and keeps this script on the standard library.
    (tmp / "baseline.yaml").write_text(
        json.dumps({"rules": rules}, ensure_ascii=False), encoding="utf-8"
    )
    return load([tmp], "baseline")


def table(items, verdicts, tags) -> dict[tuple[str, str, str], dict]:
    """(tag, subset, lang) -> counts, for all items and the not-borderline ones."""
    out = {}
    for subset in ("not borderline", "all"):
        keep = [
            (i, v)
            for i, v in zip(items, verdicts)
            if subset == "all" or not i.raw.get("borderline")
        ]
        rep = scoring.score([i for i, _ in keep], [v for _, v in keep], tags, "lang")
        for tag in tags:
            for lang, cells in rep["groups"].items():
                out[(tag, subset, lang)] = cells[tag]
            out[(tag, subset, "all")] = rep["tags"][tag]
    return dict(
        sorted(
            out.items(), key=lambda kv: (kv[0][0], kv[0][1] == "all", kv[0][2] == "all", kv[0][2])
        )
    )


def print_table(name: str, rows: dict) -> None:
    print(f"\n== {name}")
    head = f"{'tag':<19} {'items':<15} {'lang':<4} {'P':>6} {'R':>6} {'F1':>6} {'TP':>4} {'FP':>4} {'FN':>4} {'n':>4}"
    print(head)
    print("-" * len(head))
    last = None
    for (tag, subset, lang), c in rows.items():
        if last is not None and (tag, subset) != last:
            print()
        last = (tag, subset)
        print(
            f"{tag:<19} {subset:<15} {lang:<4} {c['precision']:6.3f} {c['recall']:6.3f} {c['f1']:6.3f}"
            f" {c['tp']:4d} {c['fp']:4d} {c['fn']:4d} {c['items']:4d}"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("items", type=Path, help="labelled JSON Lines set")
    ap.add_argument("--rules", type=Path, default=ROOT / "rules", help="rule directory")
    ap.add_argument("--show-errors", action="store_true", help="list false positives and negatives")
    args = ap.parse_args(argv)

    rules = load([args.rules], "rules")
    items, errors = scoring.read_labelled(args.items, set(BASELINE_TERMS))
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        return 2
    tags = sorted(BASELINE_TERMS)
    with tempfile.TemporaryDirectory() as tmp:
        base = baseline_ruleset(Path(tmp))
        base_rows = table(items, [scoring.predict(base, i) for i in items], tags)
    verdicts = [scoring.predict(rules, i) for i in items]
    rule_rows = table(items, verdicts, tags)

    langs = sorted({i.lang for i in items})
    n_border = sum(1 for i in items if i.raw.get("borderline"))
    print(f"{args.items.name}: {len(items)} items ({', '.join(langs)}), {n_border} borderline")
    print_table("baseline: any-of keyword list", base_rows)
    print_table(f"rules: {args.rules.name}/", rule_rows)
    print("\n== F1, items not marked borderline: baseline -> rules")
    for tag in tags:
        cells = [
            f"{lang} {base_rows[k]['f1']:.3f} -> {rule_rows[k]['f1']:.3f}"
            for k in rule_rows
            if k[0] == tag and k[1] == "not borderline"
            for lang in [k[2]]
        ]
        print(f"{tag:<19} " + "   ".join(cells))
    if args.show_errors:
        fps, fns = scoring.mistakes(rules, items, verdicts, tags)
        for name, rows in (("false positives", fps), ("false negatives", fns)):
            print(f"\n== {name} ({len(rows)})")
            by_line = {i.line: i for i in items}
            for row in rows:
                flag = " [borderline]" if by_line[row["line"]].raw.get("borderline") else ""
                print(f"{row['id']} {row['tag']}{flag}  {row['title'][:110]}")
                for f in row.get("fired", []):
                    print(f"    fired {f['rule']}: {', '.join(f['terms'])}")
                near = row.get("nearest")
                if near:
                    print(f"    nearest miss {near['rule']}: {near['reason']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
