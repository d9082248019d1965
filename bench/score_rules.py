"""Score the shipped rules against a labelled news set, next to a keyword baseline.

    python bench/score_rules.py ITEMS.jsonl [--rules DIR] [--show-errors]

ITEMS.jsonl holds one JSON object per line with at least ``id``, ``title``,
``summary``, ``lang`` and ``labels`` (a list drawn from the labels below);
``body`` is used when present and ``borderline: true`` marks items that a
reasonable annotator could label either way.

Each item's title, summary and body go through ``ruleset.match_fields``. A
label is predicted when any matching rule carries the tag for that label.
Precision, recall and F1 are printed per label and language, over all items
and over the items not marked borderline, first for a plain any-of keyword
list (the baseline) and then for the rules. Only the standard library and
the engine are used; nothing is timed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from monitor.engine import load_rules  # noqa: E402

# Rule tag -> label in the data set.
TAG_TO_LABEL = {
    "facial-recognition": "facial_recognition",
    "data-leak": "data_leak",
}
LABELS = list(TAG_TO_LABEL.values())

# The baseline: what one would type into a news alert box. Any term = a hit.
BASELINE_TERMS = {
    "facial-recognition": ["facial recognition", "face recognition", "人脸识别", "人臉識別"],
    "data-leak": ["data breach", "data leak", "leaked", "泄露", "洩露"],
}

FIELDS = ("title", "summary", "body")


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    n: int = 0

    def add(self, gold: bool, pred: bool) -> None:
        self.n += 1
        if gold and pred:
            self.tp += 1
        elif pred:
            self.fp += 1
        elif gold:
            self.fn += 1

    def prf(self) -> tuple[float, float, float]:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return p, r, f


@dataclass
class Prediction:
    labels: set[str] = field(default_factory=set)
    # label -> ["rule-id: term, term", ...]
    evidence: dict[str, list[str]] = field(default_factory=dict)


def read_items(path: Path) -> list[dict]:
    items = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                sys.exit(f"{path}:{lineno}: not JSON: {exc}")
            missing = [k for k in ("id", "title", "lang", "labels") if k not in item]
            if missing:
                sys.exit(f"{path}:{lineno}: missing field(s) {', '.join(missing)}")
            items.append(item)
    return items


def load(paths: list[Path], what: str):
    ruleset, problems = load_rules(paths)
    for problem in problems:
        print(f"{what}: {problem}", file=sys.stderr)
    return ruleset


def baseline_ruleset(tmp: Path):
    """The keyword list as a rule file, so it is matched exactly like the rules."""
    rules = [
        {
            "id": f"baseline-{tag}",
            "title": f"baseline keywords for {tag}",
            "severity": "info",
            "tags": [tag],
            "match": terms,
        }
        for tag, terms in BASELINE_TERMS.items()
    ]
    # JSON is YAML, and keeps this script on the standard library.
    (tmp / "baseline.yaml").write_text(
        json.dumps({"rules": rules}, ensure_ascii=False), encoding="utf-8"
    )
    return load([tmp], "baseline")


def predict(ruleset, item: dict) -> Prediction:
    fields = {name: item.get(name) or "" for name in FIELDS}
    pred = Prediction()
    for match in ruleset.match_fields(fields):
        for tag in match.tags:
            label = TAG_TO_LABEL.get(tag)
            if label is None:
                continue
            pred.labels.add(label)
            pred.evidence.setdefault(label, []).append(f"{match.rule_id}: {', '.join(match.terms)}")
    return pred


def score(items: list[dict], preds: list[Prediction]) -> dict[tuple[str, str, str], Counts]:
    langs = sorted({item["lang"] for item in items})
    table: dict[tuple[str, str, str], Counts] = {}
    for item, pred in zip(items, preds):
        subsets = ["all"]
        if not item.get("borderline"):
            subsets.append("not borderline")
        for label in LABELS:
            gold = label in item["labels"]
            hit = label in pred.labels
            for subset in subsets:
                for lang in (item["lang"], "all"):
                    table.setdefault((label, subset, lang), Counts()).add(gold, hit)
    # Keep a stable row order even for empty cells.
    ordered = {}
    for label in LABELS:
        for subset in ("not borderline", "all"):
            for lang in [*langs, "all"]:
                ordered[(label, subset, lang)] = table.get((label, subset, lang), Counts())
    return ordered


def print_table(name: str, table: dict[tuple[str, str, str], Counts]) -> None:
    print(f"\n== {name}")
    head = f"{'label':<19} {'items':<15} {'lang':<4} {'P':>6} {'R':>6} {'F1':>6} {'TP':>4} {'FP':>4} {'FN':>4} {'n':>4}"
    print(head)
    print("-" * len(head))
    last = None
    for (label, subset, lang), c in table.items():
        if last is not None and (label, subset) != last:
            print()
        last = (label, subset)
        p, r, f = c.prf()
        print(
            f"{label:<19} {subset:<15} {lang:<4} {p:6.3f} {r:6.3f} {f:6.3f} {c.tp:4d} {c.fp:4d} {c.fn:4d} {c.n:4d}"
        )


def print_summary(base: dict, rules: dict) -> None:
    print("\n== F1, items not marked borderline: baseline -> rules")
    for label in LABELS:
        cells = []
        for lang in sorted({k[2] for k in rules if k[0] == label}, key=lambda x: (x == "all", x)):
            key = (label, "not borderline", lang)
            cells.append(f"{lang} {base[key].prf()[2]:.3f} -> {rules[key].prf()[2]:.3f}")
        print(f"{label:<19} " + "   ".join(cells))


def print_errors(items: list[dict], preds: list[Prediction]) -> None:
    for label in LABELS:
        for kind in ("false positives", "false negatives"):
            rows = []
            for item, pred in zip(items, preds):
                gold = label in item["labels"]
                hit = label in pred.labels
                if (kind == "false positives" and hit and not gold) or (
                    kind == "false negatives" and gold and not hit
                ):
                    rows.append((item, pred))
            print(f"\n== {label}: {kind} ({len(rows)})")
            for item, pred in rows:
                flag = " [borderline]" if item.get("borderline") else ""
                print(f"{item['id']} {item['lang']}{flag}  {item['title'][:110]}")
                for ev in pred.evidence.get(label, []):
                    print(f"    fired {ev}")
                other = [ev for lab, evs in pred.evidence.items() if lab != label for ev in evs]
                for ev in other:
                    print(f"    (other label) {ev}")


def print_rule_hits(items: list[dict], preds: list[Prediction]) -> None:
    """How often each rule fired, and how often on an item carrying its label."""
    fired: dict[str, list[int]] = {}
    for item, pred in zip(items, preds):
        for label, evs in pred.evidence.items():
            for ev in evs:
                rule_id = ev.split(":", 1)[0]
                cell = fired.setdefault(f"{rule_id} ({label})", [0, 0])
                cell[0] += 1
                cell[1] += label in item["labels"]
    print("\n== rules: items matched, of which carry the rule's label")
    for name, (n, ok) in sorted(fired.items()):
        print(f"{name:<55} {n:4d} {ok:4d}")


def print_rule_table(items: list[dict], preds: list[Prediction]) -> None:
    """Each rule on its own, per language, over the items not marked
    borderline: precision of what it matched, and the share of its label's
    positives it caught (a rule is one of several for a label, so its
    recall alone is expected to be partial)."""
    rows: dict[tuple[str, str, str], Counts] = {}
    rule_label: dict[str, str] = {}
    for item, pred in zip(items, preds):  # noqa: B007
        for label, evs in pred.evidence.items():
            for ev in evs:
                rule_label.setdefault(ev.split(":", 1)[0], label)
    for item, pred in zip(items, preds):
        if item.get("borderline"):
            continue
        fired = {ev.split(":", 1)[0] for evs in pred.evidence.values() for ev in evs}
        for rule_id, label in rule_label.items():
            gold = label in item["labels"]
            for lang in (item["lang"], "all"):
                rows.setdefault((rule_id, label, lang), Counts()).add(gold, rule_id in fired)
    print(
        "\n== each rule, items not marked borderline (recall: share of the label's positives it caught)"
    )
    head = f"{'rule':<32} {'lang':<4} {'P':>6} {'R':>6} {'F1':>6} {'TP':>4} {'FP':>4}"
    print(head)
    print("-" * len(head))
    for (rule_id, label, lang), c in sorted(  # noqa: B007
        rows.items(), key=lambda x: (x[0][1], x[0][0], x[0][2] == "all", x[0][2])
    ):
        if c.tp + c.fp == 0 and lang != "all":
            continue
        p, r, f = c.prf()
        print(f"{rule_id:<32} {lang:<4} {p:6.3f} {r:6.3f} {f:6.3f} {c.tp:4d} {c.fp:4d}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("items", type=Path, help="labelled JSON Lines set")
    ap.add_argument(
        "--rules", type=Path, default=ROOT / "rules", help="rule directory (default: rules/)"
    )
    ap.add_argument("--show-errors", action="store_true", help="list false positives and negatives")
    args = ap.parse_args(argv)

    items = read_items(args.items)
    rules = load([args.rules], "rules")
    with tempfile.TemporaryDirectory() as tmp:
        base = baseline_ruleset(Path(tmp))
        base_preds = [predict(base, item) for item in items]
    rule_preds = [predict(rules, item) for item in items]

    langs = sorted({item["lang"] for item in items})
    n_border = sum(1 for item in items if item.get("borderline"))
    print(f"{args.items.name}: {len(items)} items ({', '.join(langs)}), {n_border} borderline")
    base_table = score(items, base_preds)
    rule_table = score(items, rule_preds)
    print_table("baseline: any-of keyword list", base_table)
    print_table(f"rules: {args.rules.name}/", rule_table)
    print_rule_table(items, rule_preds)
    print_summary(base_table, rule_table)
    if args.show_errors:
        print_rule_hits(items, rule_preds)
        print_errors(items, rule_preds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
