"""`monitor sources --queries`: the searches the search sources send, so
that a user can read them and paste them into the service's own page."""

from __future__ import annotations

import json

from monitor.config import load_config_or_exit


def cmd_queries(args) -> int:
    from monitor.engine import load_rules
    from monitor.sources.search import discover_terms, expand, search_of

    config = load_config_or_exit(args.config)
    ruleset, problems = load_rules(config.rule_paths)
    for p in problems:
        print(f"warning: {p}")
    searches = [s for s in config.sources if s.enabled and search_of(s) is not None]
    rows = []
    for src in searches:
        parts = expand([src], ruleset.rules)
        for part in parts:
            rows.append(
                {
                    "source": src.name,
                    "poll_as": part.name,
                    "kind": src.kind,
                    "lang": part.lang,
                    "query": part.query,
                    "url": part.url,
                }
            )
        if src.queries is not None and not parts:
            rows.append({"source": src.name, "kind": src.kind, "query": None, "url": None})
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not searches:
        print("no search sources in the config")
        return 0
    _, notes = discover_terms(ruleset.rules)
    for note in notes:
        print(f"note: {note}")
    for r in rows:
        if r["query"] is None and r["url"] is None:
            print(
                f"{r['source']} ({r['kind']}): queries: from_rules, but no rule has "
                "discover: true, so it sends nothing"
            )
            continue
        head = r["source"] if r["poll_as"] == r["source"] else f"{r['source']} as {r['poll_as']}"
        lang = f", {r['lang']}" if r["lang"] else ""
        print(f"{head} ({r['kind']}{lang})")
        if r["query"]:
            print(f"  query: {r['query']}")
        print(f"  url:   {r['url']}")
    return 0
