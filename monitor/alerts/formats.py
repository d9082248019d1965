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

Size: one function per service, kept together because they share the
defusing (`clean`) and the fitting of a body to a service's limit; a
change to either is then read in one place. Splitting by service is the
seam to take if another service is added.
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
    "page": "the story's page on the dashboard, when http.public_url is set (else empty)",
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
            "page": alert.page,
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
    return Alert(d["channel"], story, matches, d.get("page") or "")


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
        "page": safe_link(alert.page),
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

    def make(v: dict[str, str]) -> str:
        if template and template.get("body"):
            return fill(template["body"], {k: x for k, x in v.items() if not k.startswith("_")})
        return _default_body(alert, kind, v)

    for text_limit in (600, 300, 120, 0):
        v = fields_for(alert, kind, text_limit)
        body = make(v)
        if limit is None or len(body) <= limit:
            break
    if limit is not None and len(body) > limit:
        # Still too long: a long link. Shorten what shows of it, then the link
        # itself (its query and fragment), then leave it out; a body over the
        # service's limit is refused for good and the alert would be lost.
        link = v["link"]
        short = _short_link(link)
        for changes in (
            {"_link_text": _link_label(link)},
            {"link": short, "_link_text": _link_label(short)},
            {"link": "", "_link_text": ""},
        ):
            body = make({**v, **changes})
            if len(body) <= limit:
                break
        body = cut_markup(body, limit, fmt)
    return Message(subject, body, fmt)


def _link_label(link: str) -> str:
    """What a reader sees of a long link: its host and the start of its path."""
    if len(link) <= 80:
        return link
    return link[:77] + "…"


def _short_link(link: str) -> str:
    """The link without its query and fragment, which carry most of a
    long link's length and seldom the article's address."""
    try:
        parts = urlsplit(link)
    except ValueError:
        return ""
    return f"{parts.scheme}://{parts.netloc}{parts.path}"[:1000] if parts.netloc else ""


_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)[^<>]*>")
_VOID = {"br", "hr", "img"}


def cut_markup(text: str, limit: int, fmt: str) -> str:
    """`text` cut to at most `limit` characters, never inside a tag, an
    entity or a Markdown link, with the HTML tags left open closed again."""
    if len(text) <= limit:
        return text
    if fmt == HTML:
        room = limit
        while room > 0:
            cut = text[: max(0, room - 1)]
            lt, gt = cut.rfind("<"), cut.rfind(">")
            if lt > gt:
                cut = cut[:lt]
            amp, semi = cut.rfind("&"), cut.rfind(";")
            if amp > semi:
                cut = cut[:amp]
            opened: list[str] = []
            for m in _TAG.finditer(cut):
                name = m.group(2).lower()
                if name in _VOID or m.group(0).endswith("/>"):
                    continue
                if m.group(1):
                    if name in opened:
                        del opened[len(opened) - 1 - opened[::-1].index(name) :]
                else:
                    opened.append(name)
            out = cut + "…" + "".join(f"</{n}>" for n in reversed(opened))
            if len(out) <= limit:
                return out
            room -= len(out) - limit
        return ""
    cut = text[: max(0, limit - 1)]
    if fmt == MARKDOWN:
        start, end = cut.rfind("["), cut.rfind(")")
        if start > end:  # inside [text](link): cut before it
            cut = cut[:start]
        cut = cut.rstrip("\\")
        if cut.count("**") % 2 and len(cut) + 3 <= limit:
            cut += "**"
    return cut + "…"


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
            f'<a href="{html.escape(v["link"])}">{html.escape(v.get("_link_text") or v["link"])}</a>'
            if v["link"]
            else "(none)"
        )
        rows = "".join(
            f"<p>Rule: <b>{t}</b> [{sev}] {rid}<br>Terms: {terms}</p>"
            for rid, sev, t, terms in rules
        )
        page = (
            f'<p><a href="{html.escape(v["page"])}">Why it matched, and feedback</a></p>'
            if v["page"]
            else ""
        )
        return (
            f"<h3>{v['title']}</h3><p>Source: {v['source']}<br>Link: {link}<br>"
            f"Published: {v['published']}</p>{rows}<p>{v['snippet']}</p>{page}"
        )
    if fmt == HTML:  # Telegram: its small subset of HTML, no lists or headings
        link = f'<a href="{html.escape(v["link"])}">{v["title"]}</a>' if v["link"] else v["title"]
        lines = [f"<b>{link}</b>", f"Source: {v['source']} · {v['published']}"]
        lines += [f"Rule: <b>{t}</b> [{sev}] — {terms}" for rid, sev, t, terms in rules]
        if v["page"]:
            lines.append(f'<a href="{html.escape(v["page"])}">Why it matched, and feedback</a>')
        return "\n".join(lines + ["", v["snippet"]])
    if fmt == MARKDOWN:
        head = f"**[{v['title']}]({v['link']})**" if v["link"] else f"**{v['title']}**"
        lines = [head, f"Source: {v['source']} · {v['published']}"]
        lines += [
            f"Rule: **{t}** \\[{sev}\\] `{rid}` — terms: {terms}" for rid, sev, t, terms in rules
        ]
        if v["page"]:
            lines.append(f"[Why it matched, and feedback]({v['page']})")
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
    if v["page"]:
        lines.append(f"Triage:    {v['page']}")
    if v["snippet"]:
        lines += ["", v["snippet"]]
    return "\n".join(lines)


# -- several alerts in one message: a burst or a digest ----------------------
def _fit_line(alert: Alert, kind: str, budget: int) -> str:
    """A story's line in a digest, within `budget` characters: shorter
    text, then without its link, then cut on a markup boundary."""
    line = ""
    for text_limit, with_link in ((600, True), (120, True), (120, False)):
        line = _group_line(alert, kind, text_limit, with_link)
        if len(line) <= budget:
            return line
    return cut_markup(line, budget, FORMAT[kind])


def _group_line(alert: Alert, kind: str, text_limit: int = 600, with_link: bool = True) -> str:
    v = fields_for(alert, kind, text_limit)
    if not with_link:
        v["link"] = ""
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
    budget = max(200, limit - 200)  # room for the part's title line and markup
    for first_match, items in by_rule.values():
        head = cut_markup(_group_heading(first_match, len(items), kind), budget // 4, fmt)
        blocks.append((None, head))
        blocks += [
            (row_id, _fit_line(alert, kind, budget - len(head) - 1)) for row_id, alert in items
        ]
    parts: list[tuple[list[int], list[str]]] = [([], [])]
    size, heading = 0, ""
    for block_id, text in blocks:
        if block_id is None:
            heading = text
        if size + len(text) + 1 > budget and parts[-1][0]:
            if block_id is not None and parts[-1][1][-1] == heading:
                parts[-1][1].pop()  # no heading left at the end of a part without its stories
            parts.append(([], []))
            size = 0
            if block_id is not None:  # a story continued in a new part keeps its rule's heading
                parts[-1][1].append(heading)
                size += len(heading) + 1
        if block_id is not None:
            parts[-1][0].append(block_id)
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
