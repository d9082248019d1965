"""Feedback: readers' verdicts on matches, misses found by searching every
stored story, and the export that rule scoring reads."""

from __future__ import annotations

from flask import Flask, Response, abort, render_template, request

from ...feedback import export
from ...store import web as store_web
from .common import back, dash, int_arg, rule_tags, store


def feedback_page():
    q = (request.args.get("q") or "").strip()
    s = store()
    page = store_web.MatchPage([], None)
    if q:
        page = s.search_stories(q, int_arg("before"), dash().page_size)
    return render_template(
        "feedback.html",
        q=q,
        found=page.rows,
        next_key=page.next_key,
        partial=page.partial,
        recent=s.recent_verdicts(50),
        tags=rule_tags(dash().rules()),
    )


def record():
    form = request.form
    story_id = form.get("story_id", "")
    verdict = form.get("verdict", "")
    if not story_id.isdigit() or verdict not in (*store_web.VERDICTS, "clear"):
        abort(400, "a verdict needs a story and one of relevant, not_relevant, missed")
    rule_id = form.get("rule_id", "").strip()[:200]
    topic = form.get("topic", "").strip()[:100]
    if topic and topic not in rule_tags(dash().rules()):
        abort(400, f"unknown topic '{topic}' (pick one of the rules' tags)")
    if verdict == "clear":
        store().remove_verdict(int(story_id), rule_id)
    elif not store().record_verdict(int(story_id), verdict, rule_id, topic):
        abort(404, "no such story")
    return back("feedback")


def export_file(fmt: str):
    text = export(store(), dash().rules(), "tests" if fmt == "yaml" else "jsonl")
    ctype = "application/x-ndjson" if fmt == "jsonl" else "text/yaml"
    name = "feedback.jsonl" if fmt == "jsonl" else "feedback-tests.yaml"
    return Response(
        text,
        content_type=f"{ctype}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def register(app: Flask) -> None:
    app.add_url_rule("/feedback", "feedback", feedback_page)
    app.add_url_rule("/feedback", "record_feedback", record, methods=["POST"])
    app.add_url_rule("/feedback/export.<any(jsonl, yaml):fmt>", "export_feedback", export_file)
