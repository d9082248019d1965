"""`monitor rules score`: how well rules find the stories a person labelled.

A labelled file is JSON Lines: `title`, `summary`, `labels` (a list of
tags), and optionally `id`, `body`, `lang` and `source` (a string, or a
mapping whose `repo`, `corpus` or `url` names it). A label is a rule tag;
`facial_recognition` is read as `facial-recognition`. A tag is predicted
when any matching rule carries it. The command prints precision, recall
and F1 per tag, an optional breakdown, every false positive with the rules
and terms that fired and every false negative with the rule that came
nearest, and with `--compare` the items whose verdict differs between two
rule folders.

Size: reading the file, counting and the report share the item records;
the command's printing is the larger half.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.yamlfile import FileError

if TYPE_CHECKING:  # the engine is imported on use: the parser imports this module
    from monitor.engine import RuleSet

FIELDS = ("title", "summary", "body")
REQUIRED = ("title", "summary", "labels")


@dataclass
class Item:
    line: int
    id: str
    fields: dict[str, str]
    lang: str
    source: str
    labels: frozenset[str]
    raw: dict = field(default_factory=dict, repr=False)  # the line as read


@dataclass
class Verdict:
    """What one rule folder predicts for one item: tag -> [(rule, terms)]."""

    fired: dict[str, list[tuple[str, list[str]]]] = field(default_factory=dict)

    @property
    def tags(self) -> frozenset[str]:
        return frozenset(self.fired)


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    n: int = 0

    def add(self, gold: bool, pred: bool) -> None:
        self.n += 1
        self.tp += gold and pred
        self.fp += pred and not gold
        self.fn += gold and not pred

    def as_dict(self) -> dict:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return {
            "precision": round(p, 3),
            "recall": round(r, 3),
            "f1": round(f, 3),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "items": self.n,
        }


def tag_of(label: str) -> str:
    return label.strip().lower().replace("_", "-")


def source_name(value) -> str:
    if isinstance(value, dict):
        for key in ("repo", "corpus", "url", "name"):
            if value.get(key):
                return str(value[key])
        return ""
    return str(value or "")


def read_labelled(path: Path, known_tags: set[str]) -> tuple[list[Item], list[FileError]]:
    """Every item of the file, and one error per bad line (all of them, so a
    file is fixed in one pass)."""
    items: list[Item] = []
    errors: list[FileError] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return [], [FileError(path, None, None, f"cannot read: {e}")]
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(FileError(path, n, e.colno, f"not JSON: {e.msg}"))
            continue
        if not isinstance(obj, dict):
            errors.append(FileError(path, n, None, "expected a JSON object"))
            continue
        missing = [k for k in REQUIRED if k not in obj]
        if missing:
            errors.append(FileError(path, n, None, f"missing field {', '.join(missing)}"))
            continue
        labels = obj["labels"]
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            errors.append(FileError(path, n, None, "'labels' must be a list of tags"))
            continue
        unknown = [x for x in labels if tag_of(x) not in known_tags]
        if unknown:
            known = ", ".join(sorted(known_tags)) or "none"
            errors.append(
                FileError(path, n, None, f"unknown tag {unknown[0]!r} (the rules' tags: {known})")
            )
            continue
        fields = {k: str(obj.get(k) or "") for k in FIELDS}
        items.append(
            Item(
                line=n,
                id=str(obj.get("id") or f"line {n}"),
                fields=fields,
                lang=str(obj.get("lang") or ""),
                source=source_name(obj.get("source")),
                labels=frozenset(tag_of(x) for x in labels),
                raw=obj,
            )
        )
    return items, errors


def predict(ruleset: RuleSet, item: Item) -> Verdict:
    from monitor.engine import Context

    context = Context(source=item.source or None, lang=item.lang or None)
    verdict = Verdict()
    for m in ruleset.match_fields(item.fields, context=context):
        for tag in m.tags:
            verdict.fired.setdefault(tag, []).append((m.rule_id, list(m.terms)))
    return verdict


def closeness(steps: list) -> float:
    """How near a rule's condition tree came to holding, 0 to 1: a term
    counts 1 when found, `all` is the mean of its parts, `any` its best
    part, `at least N` the share of N found. A `not` is left out: a story
    a rule excluded was otherwise a match, the nearest miss of all."""
    steps = [s for s in steps if not s.scoring]

    def walk(k: int) -> tuple[float, int]:
        """(closeness of step k, index after its subtree)"""
        step, j, kids = steps[k], k + 1, []
        while j < len(steps) and steps[j].depth > step.depth:
            value, nxt = walk(j)
            kids.append((steps[j], value))
            j = nxt
        label = step.label
        if step.held or not kids:
            return float(step.held), j
        if label.startswith("all of"):
            parts = [v for st, v in kids if st.label != "not"]
            return (sum(parts) / len(parts) if parts else 1.0), j
        if label.startswith("at least"):
            n = int(label.split()[2])
            return min(1.0, sum(v for _, v in kids) / n), j
        if label == "not":
            return 0.0, j
        return max(v for _, v in kids), j

    return walk(0)[0] if steps else 0.0


def nearest_miss(ruleset: RuleSet, item: Item, tag: str) -> dict | None:
    """The rule carrying `tag` that came nearest to matching, why it did not,
    and the terms of it that the story holds."""
    from monitor.engine import Context

    context = Context(source=item.source or None, lang=item.lang or None)
    best = None
    for rule in ruleset.rules:
        if tag not in rule.tags or not rule.enabled:
            continue
        e = ruleset.explain(rule.id, item.fields, context)
        found = sorted({t for st in e.steps for _, t, _ in st.hits})
        # ties go to the rule that found more of its terms
        key = (0.0 if e.filter_problems() else closeness(e.steps), len(found))
        if best is None or key > best[0]:
            best = (key, {"rule": rule.id, "reason": e.reason(), "found": found})
    return best[1] if best else None


def score(items: list[Item], verdicts: list[Verdict], tags: list[str], by: str | None) -> dict:
    totals = {t: Counts() for t in tags}
    groups: dict[str, dict[str, Counts]] = {}
    for item, v in zip(items, verdicts):
        for t in tags:
            totals[t].add(t in item.labels, t in v.tags)
            if by in ("lang", "source"):
                name = (item.lang if by == "lang" else item.source) or "(none)"
                groups.setdefault(name, {x: Counts() for x in tags})[t].add(
                    t in item.labels, t in v.tags
                )
    out: dict = {"tags": {t: c.as_dict() for t, c in totals.items()}}
    if by in ("lang", "source"):
        out["by"] = by
        out["groups"] = {
            g: {t: c.as_dict() for t, c in cs.items()} for g, cs in sorted(groups.items())
        }
    return out


def rule_table(ruleset: RuleSet, items: list[Item], verdicts: list[Verdict]) -> dict:
    """Each rule on its own: the items it matched, how many carry one of its
    tags, and the share of those tags' positives it caught."""
    rows = {}
    for rule in ruleset.rules:
        tags = set(rule.tags)
        hits = [
            (item, v)
            for item, v in zip(items, verdicts)
            if any(r == rule.id for fired in v.fired.values() for r, _ in fired)
        ]
        tp = sum(1 for item, _ in hits if tags & item.labels)
        positives = sum(1 for item in items if tags & item.labels)
        rows[rule.id] = {
            "matched": len(hits),
            "tp": tp,
            "fp": len(hits) - tp,
            "precision": round(tp / len(hits), 3) if hits else 0.0,
            "caught": round(tp / positives, 3) if positives else 0.0,
        }
    return rows


def mistakes(ruleset: RuleSet, items: list[Item], verdicts: list[Verdict], tags: list[str]):
    fps, fns = [], []
    for item, v in zip(items, verdicts):
        for t in tags:
            row = {"line": item.line, "id": item.id, "tag": t, "title": item.fields["title"]}
            if t in v.tags and t not in item.labels:
                fps.append(row | {"fired": [{"rule": r, "terms": ts} for r, ts in v.fired[t]]})
            elif t in item.labels and t not in v.tags:
                fns.append(row | {"nearest": nearest_miss(ruleset, item, t)})
    return fps, fns


def flips(items: list[Item], before: list[Verdict], after: list[Verdict], tags: list[str]):
    out = []
    for item, a, b in zip(items, before, after):
        for t in tags:
            if (t in a.tags) == (t in b.tags):
                continue
            gold = t in item.labels
            now = t in b.tags
            out.append(
                {
                    "line": item.line,
                    "id": item.id,
                    "tag": t,
                    "title": item.fields["title"],
                    "labelled": gold,
                    "before": not now,
                    "after": now,
                    "change": "fixed" if now == gold else "broken",
                    "fired": [{"rule": r, "terms": ts} for r, ts in (b if now else a).fired[t]],
                }
            )
    return out


def _load(paths: list[Path]) -> tuple[RuleSet | None, list[str]]:
    from monitor.engine import load_rules

    ruleset, problems = load_rules(paths)
    return (ruleset if not problems else None), [str(p) for p in problems]


def build_report(args) -> tuple[dict | None, list[str]]:
    """The whole result as plain data, or the one-line errors that stop it."""
    rules_paths = [Path(p) for p in args.rules] if args.rules else [default_rules()]
    ruleset, problems = _load(rules_paths)
    if ruleset is None:
        return None, problems
    other = None
    if args.compare:
        other, problems = _load([Path(args.compare)])
        if other is None:
            return None, problems
    known = {t for r in ruleset.rules for t in r.tags}
    if other is not None:
        known |= {t for r in other.rules for t in r.tags}
    path = Path(args.labelled)
    items, errors = read_labelled(path, known)
    if errors:
        return None, [str(e) for e in errors]
    labelled_tags = {t for item in items for t in item.labels}
    tags = sorted(labelled_tags) or sorted(known)
    verdicts = [predict(ruleset, item) for item in items]
    report = {
        "file": str(path),
        "items": len(items),
        "rules": [str(p) for p in rules_paths],
        **score(items, verdicts, tags, args.by),
    }
    if args.by == "rule":
        report["by"] = "rule"
        report["rules_alone"] = rule_table(ruleset, items, verdicts)
    fps, fns = mistakes(ruleset, items, verdicts, tags)
    report["false_positives"] = fps
    report["false_negatives"] = fns
    if other is not None:
        after = [predict(other, item) for item in items]
        report["compare"] = {
            "rules": args.compare,
            "tags": score(items, after, tags, None)["tags"],
            "flips": flips(items, verdicts, after, tags),
        }
    return report, []


def _table(rows: dict[str, dict], first: str) -> list[str]:
    width = max([len(first), *map(len, rows)])
    lines = [f"{first:<{width}}      P      R     F1    TP    FP    FN  items"]
    for name, c in rows.items():
        lines.append(
            f"{name:<{width}}  {c['precision']:5.3f}  {c['recall']:5.3f}  {c['f1']:5.3f}"
            f"  {c['tp']:4d}  {c['fp']:4d}  {c['fn']:4d}  {c['items']:5d}"
        )
    return lines


def render(report: dict) -> str:
    out = [f"{report['file']}: {report['items']} items, rules {', '.join(report['rules'])}", ""]
    out += _table(report["tags"], "tag")
    if "groups" in report:
        for group, tags in report["groups"].items():
            out += ["", f"{report['by']} {group}"]
            out += _table(tags, "tag")
    if "rules_alone" in report:
        out += ["", "each rule alone (caught: share of its tags' positives)"]
        width = max(map(len, report["rules_alone"]), default=4)
        out.append(f"{'rule':<{width}}  matched    TP    FP      P  caught")
        for rule_id, r in report["rules_alone"].items():
            out.append(
                f"{rule_id:<{width}}  {r['matched']:7d}  {r['tp']:4d}  {r['fp']:4d}"
                f"  {r['precision']:5.3f}  {r['caught']:6.3f}"
            )
    name = Path(report["file"]).name
    out += ["", f"false positives ({len(report['false_positives'])})"]
    for row in report["false_positives"]:
        out.append(f"  {name}:{row['line']} [{row['tag']}] {row['id']}: {row['title'][:100]}")
        for f in row["fired"]:
            out.append(f"      fired {f['rule']}: {', '.join(f['terms'])}")
    out += ["", f"false negatives ({len(report['false_negatives'])})"]
    for row in report["false_negatives"]:
        out.append(f"  {name}:{row['line']} [{row['tag']}] {row['id']}: {row['title'][:100]}")
        near = row["nearest"]
        if near:
            found = f" (found {', '.join(near['found'])})" if near["found"] else ""
            out.append(f"      nearest miss {near['rule']}: {near['reason']}{found}")
    if "compare" in report:
        cmp = report["compare"]
        out += ["", f"compared with {cmp['rules']}"]
        for tag, after in cmp["tags"].items():
            before = report["tags"][tag]
            out.append(
                f"  {tag}: F1 {before['f1']:.3f} -> {after['f1']:.3f}"
                f"  (P {before['precision']:.3f} -> {after['precision']:.3f},"
                f" R {before['recall']:.3f} -> {after['recall']:.3f})"
            )
        out.append(f"flips ({len(cmp['flips'])})")
        for row in cmp["flips"]:
            was = "match" if row["before"] else "no match"
            now = "match" if row["after"] else "no match"
            out.append(
                f"  {name}:{row['line']} [{row['tag']}] {row['change']}: {was} -> {now}"
                f" {row['id']}: {row['title'][:90]}"
            )
            for f in row["fired"]:
                out.append(f"      fired {f['rule']}: {', '.join(f['terms'])}")
    return "\n".join(out)


def default_rules() -> Path:
    from monitor.cli.common import bundled_rules_dir

    return bundled_rules_dir()


def run(args) -> int:
    """0 when the file was scored, 2 when the labelled file or the rules have
    problems (one line each on stderr)."""
    report, problems = build_report(args)
    if report is None:
        for p in problems:
            print(p, file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        print(render(report))
    return 0
