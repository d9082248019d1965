"""Plain-text alert messages, with story text defused.

Story text is hostile (DESIGN.md): a title can carry `<!channel>`, a
`<url|text>` link spoof, `@everyone`, control or bidi characters. Only
story fields are cleaned; the message's own layout is ours.
"""

from __future__ import annotations

import re

from ..identity import canonical_url
from ..models import Alert

# Zero-width and bidirectional formatting characters: invisible, and able
# to reorder or hide what a reader sees. So are the soft hyphen, the
# combining grapheme joiner, the Mongolian vowel separator, the Hangul
# fillers, the interlinear annotation marks and the tag characters (which
# can spell hidden text inside an innocent-looking title).
_INVISIBLE = re.compile(
    "[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u061c"
    "\u00ad\u034f\u180e\u115f\u1160\u3164\uffa0\ufff9-\ufffb"
    "\U000e0000-\U000e007f]"
)
# @everyone / @here / @channel ping a whole Discord or Slack room.
_MASS_MENTION = re.compile(r"@(?=(everyone|here|channel|all)\b)", re.IGNORECASE)
_ZWSP_AFTER_AT = "@\u2060"  # WORD JOINER after @: reads the same, pings nobody


# Control characters and line/paragraph separators (Unicode categories Cc,
# Zl, Zp, which stability rules fix to these code points) become spaces.
_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_BREAKS_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def clean(text: str, limit: int | None = None, single_line: bool = True) -> str:
    """Story text made safe to paste into any chat or e-mail message."""
    text = _INVISIBLE.sub("", text or "")
    text = (_BREAKS if single_line else _BREAKS_BUT_NEWLINE).sub(" ", text)
    if single_line:
        text = " ".join(text.split())
    # Slack reads <...> as a mention, command or link; angle quotes read the
    # same to a person and are never markup.
    text = text.replace("<", "\u2039").replace(">", "\u203a")
    text = _MASS_MENTION.sub(_ZWSP_AFTER_AT, text)
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)].rstrip() + "…"
    return text


def _published(alert: Alert) -> str:
    p = alert.story.published
    return p.strftime("%Y-%m-%d %H:%M UTC") if p else "unknown"


def render_text(alert: Alert) -> tuple[str, str]:
    """(title, body) of the message one channel receives about one story."""
    story = alert.story
    title = clean(story.title, 200) or "(untitled story)"
    rule_names = ", ".join(clean(m.rule_title, 80) for m in alert.matches)
    lines = [
        f"{title}",
        "",
        f"Source:    {clean(story.source, 80)}"
        + (f" (via {clean(story.outlet, 80)})" if story.outlet else ""),
        f"Link:      {clean(canonical_url(story.link) or story.link, 500) or '(none)'}",
        f"Published: {_published(alert)}",
    ]
    for m in alert.matches:
        terms = ", ".join(clean(t, 60) for t in m.terms)
        lines.append(
            f"Rule:      {clean(m.rule_id, 80)} [{clean(m.severity, 20)}] {clean(m.rule_title, 120)}"
        )
        lines.append(f"Terms:     {terms}")
    snippet = next((m.snippet for m in alert.matches if m.snippet), "")
    if clean(snippet) == clean(story.title) and story.summary:
        # The hit was in the title, shown above: the lede says more.
        snippet = story.summary if len(story.summary) <= 600 else story.summary[:599] + "…"
    if snippet:
        lines += ["", clean(snippet, 600)]
    subject = f"[{rule_names}] {title}" if rule_names else title
    return clean(subject, 250), "\n".join(lines)
