"""Matches: newest first, by keyset, with filters and a text search."""

from __future__ import annotations

from flask import Flask, render_template, request

from ...engine import SEVERITIES
from ...store import web as store_web
from .common import dash, int_arg, parse_day, rule_tags, store

FILTERS = ("rule", "tag", "severity", "source", "lang", "since", "until", "q")


def matches():
    ruleset = dash().rules()
    args = {k: (request.args.get(k) or "").strip() for k in FILTERS}
    errors = []
    since, err = parse_day(args["since"], "from")
    errors += [err] if err else []
    until, err = parse_day(args["until"], "to")
    errors += [err] if err else []
    if until is not None:
        until += 86400  # the whole day named
    rule_ids = None
    if args["rule"] or args["tag"] or args["severity"]:
        rule_ids = [
            r.id
            for r in ruleset.rules
            if (not args["rule"] or r.id == args["rule"])
            and (not args["tag"] or args["tag"] in r.tags)
            and (not args["severity"] or r.severity == args["severity"])
        ]
        if args["rule"] and not ruleset.get(args["rule"]):
            rule_ids = [args["rule"]]  # a rule removed since: its stored matches still show
    f = store_web.MatchFilter(
        rule_ids=rule_ids,
        source=args["source"] or None,
        lang=args["lang"] or None,
        since=since,
        until=until,
        text=args["q"] or None,
    )
    s = store()
    page = s.match_page(f, int_arg("before"), dash().page_size)
    severities = {r.id: r.severity for r in ruleset.rules}
    return render_template(
        "matches.html",
        rows=page.rows,
        next_key=page.next_key,
        partial=page.partial,
        args=args,
        errors=errors,
        rules=ruleset.rules,
        tags=rule_tags(ruleset),
        severities=SEVERITIES,
        rule_severity=severities,
        sources=s.source_names(),
        page_args={k: v for k, v in args.items() if v},
    )


def register(app: Flask) -> None:
    app.add_url_rule("/", "matches", matches)
