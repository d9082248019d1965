"""`monitor feedback export`: the readers' verdicts from the dashboard, as
labelled JSON Lines for scoring the rules or as `tests:` entries."""

from __future__ import annotations

import sys
import time

from monitor.config import parse_duration


def cmd_feedback_export(args) -> int:
    from monitor.config import load_config_or_exit
    from monitor.engine import load_rules
    from monitor.feedback import export
    from monitor.store import Store, state_exists

    since = None
    if args.since:
        try:
            since = time.time() - parse_duration(args.since)
        except ValueError as e:
            print(f"error: --since: {e}", file=sys.stderr)
            return 2
    config = load_config_or_exit(args.config)
    if not state_exists(config.state):
        print(f"no state yet at {config.state}: no feedback to export", file=sys.stderr)
        return 1
    ruleset, problems = load_rules(config.rule_paths)
    for p in problems:
        print(p, file=sys.stderr)
    store = Store(config.state)
    try:
        text = export(store, ruleset, args.format, since)
    finally:
        store.close()
    if args.output and args.output != "-":
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0
