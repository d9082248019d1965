"""A story's page: what it is, where it went, and why each rule decided
as it did (the same explanation as `monitor rules explain`)."""

from __future__ import annotations

from flask import Flask, abort, redirect, render_template, request, url_for

from ...engine import Context
from ..app import where
from .common import dash, rule_tags, store


def explanations(ruleset, row, wanted: list[str], tags_of_source=()):
    fields = {"title": row.title, "summary": row.summary, "url": row.link, "source": row.source}
    context = Context(source=row.source, lang=row.lang, source_tags=frozenset(tags_of_source))
    return explain_all(ruleset, fields, context, wanted)


def explain_all(ruleset, fields: dict, context: Context, wanted: list[str]) -> list[dict]:
    """Each wanted rule's explanation, as the templates show it."""
    out: list[dict] = []
    for rule_id in wanted:
        if ruleset.get(rule_id) is None:
            out.append({"rule_id": rule_id, "missing": True})
            continue
        e = ruleset.explain(rule_id, fields, context)
        out.append(
            {
                "rule_id": rule_id,
                "rule": e.rule,
                "missing": False,
                "matched": e.matched,
                "text": e.render().replace(f"file {e.rule.path}", f"file {where(e.rule.path)}", 1),
                "snippet": e.marked_snippet(240),
                "reason": e.reason(),
                "terms": sorted(e.evidence, key=lambda ev: ev[0].order),
                "score": e.score,
                "threshold": e.rule.threshold,
                "filters": e.filter_problems(),
            }
        )
    return out


def story(story_id: int):
    row = store().story_row(story_id)
    if row is None:
        abort(404, "no such story")
    d = dash()
    ruleset = d.rules()
    matched = [m["rule_id"] for m in row.matches]
    extra = request.args.get("rule", "").strip()
    wanted = matched + ([extra] if extra and extra not in matched else [])
    source_tags = next((tuple(s.tags) for s in d.config().sources if s.name == row.source), ())
    return render_template(
        "story.html",
        row=row,
        explained=explanations(ruleset, row, wanted, source_tags),
        rules=ruleset.rules,
        tags=rule_tags(ruleset),
        extra=extra,
    )


def story_at():
    """An alert's link: the story by source and key, sent on to its page."""
    found = store().story_id_by_key(request.args.get("source", ""), request.args.get("key", ""))
    if found is None:
        abort(404, "no such story")
    return redirect(url_for("story", story_id=found), code=303)


def register(app: Flask) -> None:
    app.add_url_rule("/story/<int:story_id>", "story", story)
    app.add_url_rule("/story/at", "story_at", story_at)
