"""`monitor rules match` and `rules test` (`explain` lives in monitor.ruletools)."""

from __future__ import annotations

import json
import sys

from monitor.cli.common import _rules_arg


def cmd_rules_match(args) -> int:
    from monitor.engine import Context, load_rules

    ruleset, problems = load_rules(_rules_arg(args))
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 1
    stream = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")
    bad = 0
    with stream:
        for n, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                if not isinstance(item, dict):
                    raise ValueError("expected a JSON object")
            except ValueError as e:
                print(f"{args.input}:{n}: not a JSON object: {e}", file=sys.stderr)
                bad += 1
                continue
            fields = {
                k: str(item.get(k) or "") for k in ("title", "summary", "body", "url", "source")
            }
            lang = item.get("lang")
            matches = ruleset.match_fields(
                fields,
                context=Context(source=fields["source"] or None, lang=str(lang) if lang else None),
            )
            out = {
                "id": item.get("id"),
                "matches": [
                    {"rule": m.rule_id, "tags": list(m.tags), "terms": list(m.terms)}
                    for m in matches
                ],
            }
            print(json.dumps(out, ensure_ascii=False))
    return 1 if bad else 0


def cmd_rules_test(args) -> int:
    from monitor.engine import load_rules

    ruleset, problems = load_rules(_rules_arg(args))
    for p in problems:
        print(p)
    failures = ruleset.run_tests()
    for f in failures:
        print(f)
    n_tests = sum(
        len(r.tests.match) + len(r.tests.no_match) if r.tests else 0 for r in ruleset.rules
    )
    print(
        f"{len(ruleset.rules)} rules, {n_tests} tests, {len(failures)} failed, {len(problems)} problems"
    )
    return 1 if failures or problems else 0
