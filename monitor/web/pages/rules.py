"""Rules: each rule's place, state, routing, matches and precision from
feedback, a chart of matches per day per tag, and the playground."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from flask import Flask, render_template, request

from ...engine import Context, load_rules
from ...yamlfile import MAX_FILE_BYTES
from .. import charts
from .common import dash, day_start, store
from .story import explain_all

DAYS = 14


def rules_page():
    s = store()
    now = time.time()
    ruleset = dash().rules()
    day, week = s.matches_since(now - 86400), s.matches_since(now - 7 * 86400)
    p7, p30 = s.precision(now - 7 * 86400), s.precision(now - 30 * 86400)
    silenced = s.silenced_rules()
    start = day_start(DAYS - 1, now)
    per_day = s.matches_per_day(start)
    tags: dict[str, list[int]] = {}
    for rule in ruleset.rules:
        counts = per_day.get(rule.id, {})
        for tag in rule.tags or ("(no tag)",):
            series = tags.setdefault(tag, [0] * DAYS)
            for i in range(DAYS):
                series[i] += counts.get(i, 0)
    days = [time.strftime("%Y-%m-%d", time.gmtime(start + i * 86400)) for i in range(DAYS)]
    chart = charts.stacked_bars(days, dict(sorted(tags.items())), "matches per day per tag")
    return render_template(
        "rules.html",
        rules=ruleset.rules,
        day=day,
        week=week,
        p7=p7,
        p30=p30,
        silenced=silenced,
        chart=chart,
    )


def _pasted_rules(text: str):
    """Rule YAML from the page, read by the same loader and limits as a rule
    file (size, aliases, regex bounds); errors as `pasted rules:line:col`."""
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        return None, [f"pasted rules: more than {MAX_FILE_BYTES} bytes"]
    with tempfile.TemporaryDirectory(prefix="monitor-playground-") as tmp:
        path = Path(tmp) / "pasted.yaml"
        path.write_text(text, encoding="utf-8")
        ruleset, problems = load_rules([path], cached=False)
    errors = []
    for p in problems:
        where = "pasted rules"
        if p.line is not None:
            where += f":{p.line}" + (f":{p.col}" if p.col is not None else "")
        errors.append(f"{where}: {p.message}")
    return ruleset, errors


def playground():
    d = dash()
    running = d.rules()
    form = request.form if request.method == "POST" else {}
    text = form.get("text", "")
    url = form.get("url", "").strip()
    pasted = form.get("yaml", "")
    picked = request.form.getlist("rules") if request.method == "POST" else []
    lang = form.get("lang", "").strip() or None
    errors: list[str] = []
    results = []
    story = None
    if request.method == "POST":
        ruleset = running
        if pasted.strip():
            ruleset, errors = _pasted_rules(pasted)
        if url:
            from ...cli.rules import item_from_url

            try:
                item = item_from_url(url, d.config().fetch, content_link=True)
            except Exception as e:  # a FetchError names the reason
                errors.append(f"url: cannot fetch {url}: {e}")
                item = None
        else:
            title, _, body = text.strip().partition("\n")
            item = {"title": title.strip(), "body": body.strip()} if text.strip() else None
            if item is None:
                errors.append("text: paste a story (first line: the title) or give a URL")
        if item is not None and ruleset is not None:
            lang = lang or item.pop("lang", None)
            item.pop("lang", None)
            wanted = [r.id for r in ruleset.rules]
            if not pasted.strip() and picked:
                wanted = [r for r in picked if ruleset.get(r) is not None]
            story = item
            fields = {k: v for k, v in item.items() if v}
            results = _explain(ruleset, fields, wanted, lang)
    return render_template(
        "playground.html",
        rules=running.rules,
        picked=picked,
        text=text,
        url=url,
        pasted=pasted,
        lang=lang or "",
        errors=errors,
        results=results,
        story=story,
    )


def _explain(ruleset, fields: dict, wanted: list[str], lang: str | None):
    context = Context(source=fields.get("source") or None, lang=lang)
    out = explain_all(ruleset, fields, context, wanted)
    out.sort(key=lambda x: not x["matched"])
    return out


def register(app: Flask) -> None:
    app.add_url_rule("/rules", "rules", rules_page)
    app.add_url_rule("/rules/playground", "playground", playground, methods=["GET", "POST"])
