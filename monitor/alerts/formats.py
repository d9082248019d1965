"""Messages per kind of service: Slack, e-mail, Discord, Telegram, Teams,
JSON webhooks and plain text.

Story text is hostile (DESIGN.md). Every story field goes through `clean`
(control, zero-width and bidi characters, `<`/`>`, mass mentions) and then
through the escaping of the service's own markup: HTML for e-mail and
Telegram, Markdown for Discord and Teams, Slack's plain text (Apprise
escapes `&`, `<`, `>` there). Bare URLs inside story text are broken so no
chat client turns them into live links; the one link a message carries is
the story's own, and only when it is http or https.

The operator's template is not escaped: it is theirs. Only the values put
into its `{fields}` are.
"""

from __future__ import annotations

import html
import json
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlsplit

from ..identity import canonical_url
from ..models import Alert, Match, Story
from .render import clean

# How each kind of service reads the body we give it (an Apprise body_format).
TEXT, MARKDOWN, HTML = "text", "markdown", "html"

KINDS = ("slack", "discord", "telegram", "teams", "email", "json", "text")
FORMAT = {
    "slack": TEXT,
    "discord": MARKDOWN,
    "telegram": HTML,
    "teams": MARKDOWN,
    "email": HTML,
    "json": TEXT,
    "text": TEXT,
}

# Apprise plugin class -> kind. Anything else is sent as plain text.
_PLUGIN_KIND = {
    "NotifySlack": "slack",
    "NotifyDiscord": "discord",
    "NotifyTelegram": "telegram",
    "NotifyWorkflows": "teams",
    "NotifyMSTeams": "teams",
    "NotifyEmail": "email",
    "NotifyJSON": "json",
}

SEVERITY_ORDER = ("info", "low", "medium", "high", "critical")

# Fields an operator's template may use.
TEMPLATE_FIELDS = {
    "title": "the story's title",
    "link": "the story's link, tracking parameters removed (http and https only)",
    "source": "the source's name",
    "published": "publication time, UTC",
    "summary": "the story's summary",
    "snippet": "the text around the matched terms, terms marked",
    "rules": "titles of the rules that matched",
    "rule_ids": "ids of the rules that matched",
    "severity": "the highest severity among them",
    "terms": "the matched terms",
    "tags": "the rules' tags",
    "channel": "the channel's name",
}


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str
    format: str  # TEXT | MARKDOWN | HTML


def kind_of_plugin(plugin: object) -> str:
    return _PLUGIN_KIND.get(type(plugin).__name__, "text")


# -- alerts as data, for the outbox ----------------------------------------
def alert_to_json(alert: Alert) -> str:
    s = alert.story
    return json.dumps(
        {
            "channel": alert.channel,
            "story": {
                "source": s.source,
                "key": s.key,
                "title": s.title,
                "link": s.link,
                "summary": s.summary,
                "published": s.published.isoformat() if s.published else None,
                "lang": s.lang,
            },
            "matches": [
                {
                    "rule_id": m.rule_id,
                    "rule_title": m.rule_title,
                    "severity": m.severity,
                    "tags": list(m.tags),
                    "channels": list(m.channels),
                    "terms": list(m.terms),
                    "snippet": m.snippet,
                }
                for m in alert.matches
            ],
        },
        ensure_ascii=False,
    )


def alert_from_json(text: str) -> Alert:
    d = json.loads(text)
    s = d["story"]
    published = datetime.fromisoformat(s["published"]) if s.get("published") else None
    story = Story(
        source=s["source"],
        key=s["key"],
        title=s["title"],
        link=s.get("link") or "",
        summary=s.get("summary") or "",
        published=published,
        lang=s.get("lang"),
    )
    matches = tuple(
        Match(
            rule_id=m["rule_id"],
            rule_title=m["rule_title"],
            severity=m["severity"],
            tags=tuple(m["tags"]),
            channels=tuple(m["channels"]),
            terms=tuple(m["terms"]),
            snippet=m["snippet"],
        )
        for m in d["matches"]
    )
    return Alert(d["channel"], story, matches)


def highest_severity(matches: Iterable[Match]) -> str:
    ranks = [SEVERITY_ORDER.index(m.severity) for m in matches if m.severity in SEVERITY_ORDER]
    return SEVERITY_ORDER[max(ranks)] if ranks else "medium"


# -- escaping ----------------------------------------------------------------
_URL_IN_TEXT = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{1,15}):(//)")
_MD_SPECIAL = re.compile(r"([\\`*_~|>#\[\]()!<-])")


_DOMAIN_DOT = re.compile(r"(?<=[A-Za-z0-9])\.(?=[A-Za-z])")


def _no_links(text: str, kind: str = "") -> str:
    """Break `scheme://` so no client auto-links a URL from story text; a
    word joiner is invisible to the reader. Slack links bare domain names
    too (`evil.example`), so there the dots between letters get one."""
    text = _URL_IN_TEXT.sub(lambda m: m.group(1) + ":/\u2060/", text)
    if kind == "slack":
        text = _DOMAIN_DOT.sub(".\u2060", text)
    return text


def escape(text: str, kind: str) -> str:
    """Already-cleaned story text made inert in the service's markup."""
    fmt = FORMAT[kind]
    if fmt == HTML:
        return html.escape(text, quote=True)
    if kind in ("slack", "discord", "teams"):
        text = _no_links(text, kind)
    if fmt == MARKDOWN:
        text = _MD_SPECIAL.sub(r"\\\1", text)
    return text


def story_text(value: str, kind: str, limit: int | None = None, single_line: bool = True) -> str:
    return escape(clean(value, limit, single_line), kind)


def safe_link(url: str) -> str:
    """The story's link if it is http or https, with every character that
    could close or break markup percent-encoded; else ''."""
    url = canonical_url(url) or (url or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return ""
    return quote(url, safe=":/?#@!$&'*+,;=%-._~")[:2000]


def mark_terms(snippet: str, terms: Iterable[str], kind: str, limit: int = 600) -> str:
    """The snippet, escaped, with the matched terms marked in the service's
    markup (bold in HTML and Markdown, *term* in plain text)."""
    text = clean(snippet, limit)
    found = sorted({t for t in terms if t}, key=len, reverse=True)
    if not found:
        return escape(text, kind)
    pattern = re.compile("|".join(re.escape(clean(t)) for t in found), re.IGNORECASE)
    out, pos = [], 0
    fmt = FORMAT[kind]
    for m in pattern.finditer(text):
        out.append(escape(text[pos : m.start()], kind))
        hit = escape(m.group(0), kind)
        out.append(
            f"<b>{hit}</b>" if fmt == HTML else f"**{hit}**" if fmt == MARKDOWN else f"*{hit}*"
        )
        pos = m.end()
    out.append(escape(text[pos:], kind))
    return "".join(out)


# -- the values a message is made of ---------------------------------------
def _snippet_of(alert: Alert) -> str:
    story = alert.story
    snippet = next((m.snippet for m in alert.matches if m.snippet), "")
    if clean(snippet) == clean(story.title) and story.summary:
        snippet = story.summary  # the hit was in the title, shown already: the lede says more
    return snippet


def fields_for(alert: Alert, kind: str, text_limit: int = 600) -> dict[str, str]:
    """Every template field, escaped for `kind`; the summary and snippet cut
    to `text_limit` characters."""
    story = alert.story
    terms: list[str] = []
    for m in alert.matches:
        terms += [t for t in m.terms if t not in terms]
    tags: list[str] = []
    for m in alert.matches:
        tags += [t for t in m.tags if t not in tags]
    published = story.published.strftime("%Y-%m-%d %H:%M UTC") if story.published else "unknown"
    return {
        "title": story_text(story.title, kind, 200) or "(untitled story)",
        "link": safe_link(story.link),
        "source": story_text(story.source, kind, 80),
        "published": published,
        "summary": story_text(story.summary, kind, text_limit) if text_limit else "",
        "snippet": mark_terms(_snippet_of(alert), terms, kind, text_limit) if text_limit else "",
        "rules": story_text(", ".join(m.rule_title for m in alert.matches), kind, 200),
        "rule_ids": story_text(", ".join(m.rule_id for m in alert.matches), kind, 200),
        "severity": highest_severity(alert.matches),
        "terms": story_text(", ".join(terms), kind, 200),
        "tags": story_text(", ".join(tags), kind, 200),
        "channel": story_text(alert.channel, kind, 80),
    }


def fit_subject(subject: str, max_encoded: int = 900) -> str:
    """An e-mail subject short enough that its encoded form stays one legal
    line. Apprise writes a non-ASCII subject as a single unfolded
    quoted-printable word, and SMTP refuses lines over 998 bytes (RFC 5321),
    so a long Chinese title would make the message undeliverable."""

    def encoded(text: str) -> int:
        return (
            sum(1 if c.isascii() and c.isalnum() else 3 * len(c.encode("utf-8")) for c in text) + 30
        )

    if encoded(subject) <= max_encoded:
        return subject
    while subject and encoded(subject + "…") > max_encoded:
        subject = subject[:-1]
    return subject.rstrip() + "…"


# -- operator templates ------------------------------------------------------
class TemplateError(ValueError):
    pass


def check_template(template: str) -> None:
    """Raise TemplateError naming the first problem of a `{field}` template."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:
        raise TemplateError(
            f"broken template: {e} (write {{{{ and }}}} for literal braces)"
        ) from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS:
            raise TemplateError(
                f"unknown template field '{{{name}}}' (known: {', '.join(TEMPLATE_FIELDS)})"
            )
        if spec or conversion:
            raise TemplateError(f"template field '{{{name}}}' takes no format spec or conversion")


def fill(template: str, values: dict[str, str]) -> str:
    """The template with its fields replaced; its own text is kept as is."""
    out = []
    for literal, name, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if name is not None:
            out.append(values[name])
    return "".join(out)


# -- one alert ---------------------------------------------------------------
def render(
    alert: Alert, kind: str, template: dict[str, str] | None = None, limit: int | None = None
) -> Message:
    """The message one destination of `kind` receives about one alert; with
    `limit`, the snippet and summary are shortened until the body fits."""
    fmt = FORMAT[kind]
    plain = fields_for(alert, "text")
    subject = clean(
        f"[{plain['rules']}] {plain['title']}" if plain["rules"] else plain["title"], 250
    )
    if template and template.get("title"):
        # The operator's own text is kept; a subject is still one line.
        subject = " ".join(fill(template["title"], plain).split())[:250]
    if kind in ("slack", "discord", "teams"):
        subject = _no_links(subject, kind)
    if kind == "email":
        subject = fit_subject(subject)
    if kind == "telegram":
        subject = ""  # Telegram has no title field: Apprise would repeat it above the body, which opens with it
    body = ""
    for text_limit in (600, 300, 120, 0):
        v = fields_for(alert, kind, text_limit)
        body = (
            fill(template["body"], v)
            if template and template.get("body")
            else _default_body(alert, kind, v)
        )
        if limit is None or len(body) <= limit:
            break
    return Message(subject, body, fmt)


def _rule_lines(alert: Alert, kind: str) -> list[tuple[str, str, str, str]]:
    out = []
    for m in alert.matches:
        out.append(
            (
                story_text(m.rule_id, kind, 80),
                story_text(m.severity, kind, 20),
                story_text(m.rule_title, kind, 120),
                story_text(", ".join(m.terms), kind, 200),
            )
        )
    return out


def _default_body(alert: Alert, kind: str, v: dict[str, str]) -> str:
    fmt = FORMAT[kind]
    rules = _rule_lines(alert, kind)
    if fmt == HTML and kind == "email":
        link = (
            f'<a href="{html.escape(v["link"])}">{html.escape(v["link"])}</a>'
            if v["link"]
            else "(none)"
        )
        rows = "".join(
            f"<p>Rule: <b>{t}</b> [{sev}] {rid}<br>Terms: {terms}</p>"
            for rid, sev, t, terms in rules
        )
        return (
            f"<h3>{v['title']}</h3><p>Source: {v['source']}<br>Link: {link}<br>"
            f"Published: {v['published']}</p>{rows}<p>{v['snippet']}</p>"
        )
    if fmt == HTML:  # Telegram: its small subset of HTML, no lists or headings
        link = f'<a href="{html.escape(v["link"])}">{v["title"]}</a>' if v["link"] else v["title"]
        lines = [f"<b>{link}</b>", f"Source: {v['source']} · {v['published']}"]
        lines += [f"Rule: <b>{t}</b> [{sev}] — {terms}" for rid, sev, t, terms in rules]
        return "\n".join(lines + ["", v["snippet"]])
    if fmt == MARKDOWN:
        head = f"**[{v['title']}]({v['link']})**" if v["link"] else f"**{v['title']}**"
        lines = [head, f"Source: {v['source']} · {v['published']}"]
        lines += [
            f"Rule: **{t}** \\[{sev}\\] `{rid}` — terms: {terms}" for rid, sev, t, terms in rules
        ]
        return "\n".join(lines + ["", v["snippet"]])
    lines = [
        v["title"],
        "",
        f"Source:    {v['source']}",
        f"Link:      {v['link'] or '(none)'}",
        f"Published: {v['published']}",
    ]
    for rid, sev, t, terms in rules:
        lines += [f"Rule:      {rid} [{sev}] {t}", f"Terms:     {terms}"]
    if v["snippet"]:
        lines += ["", v["snippet"]]
    return "\n".join(lines)


# -- several alerts in one message: a burst or a digest ----------------------
def _group_line(alert: Alert, kind: str) -> str:
    v = fields_for(alert, kind)
    fmt = FORMAT[kind]
    if fmt == HTML and kind == "email":
        link = (
            f' — <a href="{html.escape(v["link"])}">{html.escape(v["link"])}</a>'
            if v["link"]
            else ""
        )
        return f"<li>{v['title']} ({v['source']}){link}<br><small>{v['snippet']}</small></li>"
    if fmt == HTML:
        return (
            f'• <a href="{html.escape(v["link"])}">{v["title"]}</a> ({v["source"]})'
            if v["link"]
            else f"• {v['title']} ({v['source']})"
        )
    if fmt == MARKDOWN:
        return (
            f"- [{v['title']}]({v['link']}) ({v['source']})"
            if v["link"]
            else f"- {v['title']} ({v['source']})"
        )
    return f"- {v['title']} ({v['source']})\n  {v['link'] or '(no link)'}"


def _group_heading(match: Match, count: int, kind: str) -> str:
    t, sev, rid = (
        story_text(match.rule_title, kind, 120),
        story_text(match.severity, kind, 20),
        story_text(match.rule_id, kind, 80),
    )
    fmt = FORMAT[kind]
    if fmt == HTML and kind == "email":
        return f"<h3>{t} [{sev}] — {count}</h3>"
    if fmt == HTML:
        return f"<b>{t}</b> [{sev}] — {count}"
    if fmt == MARKDOWN:
        return f"**{t}** \\[{sev}\\] — {count}"
    return f"== {t} [{sev}] ({rid}) — {count}"


def render_group(
    alerts: list[tuple[int, Alert]], kind: str, label: str, limit: int
) -> list[tuple[list[int], Message]]:
    """Alerts folded into messages grouped by rule (each story under the
    first rule it matched), split into parts whose body stays under
    `limit` characters. Returns (outbox ids, message) per part; a part
    holds whole stories, so marking its ids sent is exact."""
    fmt = FORMAT[kind]
    by_rule: dict[str, tuple[Match, list[tuple[int, Alert]]]] = {}
    for row_id, alert in alerts:
        first = alert.matches[0]
        by_rule.setdefault(first.rule_id, (first, []))[1].append((row_id, alert))
    # The blocks of a message: a heading per rule, a line per story.
    blocks: list[tuple[int | None, str]] = []
    for match, items in by_rule.values():
        blocks.append((None, _group_heading(match, len(items), kind)))
        blocks += [(row_id, _group_line(alert, kind)) for row_id, alert in items]
    parts: list[tuple[list[int], list[str]]] = [([], [])]
    budget = max(200, limit - 200)  # room for the part's title line and markup
    size, heading = 0, ""
    for row_id, text in blocks:
        text = text[:budget]
        if row_id is None:
            heading = text
        if size + len(text) + 1 > budget and parts[-1][0]:
            if row_id is not None and parts[-1][1][-1] == heading:
                parts[-1][1].pop()  # no heading left at the end of a part without its stories
            parts.append(([], []))
            size = 0
            if row_id is not None:  # a story continued in a new part keeps its rule's heading
                parts[-1][1].append(heading)
                size += len(heading) + 1
        if row_id is not None:
            parts[-1][0].append(row_id)
        parts[-1][1].append(text)
        size += len(text) + 1
    parts = [p for p in parts if p[0]]
    total = len(alerts)
    out = []
    for i, (ids, lines) in enumerate(parts, 1):
        n = f" (part {i}/{len(parts)})" if len(parts) > 1 else ""
        title = clean(f"{label}: {total} {'story' if total == 1 else 'stories'}{n}", 250)
        if fmt == HTML and kind == "email":
            out_lines, in_list = [f"<h2>{html.escape(title)}</h2>"], False
            for line in lines:
                if line.startswith("<li>") != in_list:
                    out_lines.append("<ul>" if not in_list else "</ul>")
                    in_list = not in_list
                out_lines.append(line)
            body = "\n".join(out_lines + (["</ul>"] if in_list else []))
        elif kind in ("discord", "telegram"):
            # These services show no separate title: the body opens with it.
            head = f"<b>{html.escape(title)}</b>" if fmt == HTML else f"**{escape(title, kind)}**"
            body = "\n".join([head, *lines])
        else:
            body = "\n".join(lines)
        # Telegram has no title field (Apprise would put it above the body again).
        out.append((ids, Message("" if kind == "telegram" else title, body, fmt)))
    return out
