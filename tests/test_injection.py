"""Hostile story text, checked on what real receivers got: Slack-shaped and
Discord-shaped webhook endpoints and a Telegram-shaped bot API fed by
Apprise's own plugins, and an SMTP server (aiosmtpd) fed by Apprise's e-mail
plugin. No live mention, link, tag, script or header may survive."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import apprise

from monitor.alerts.formats import kind_of_plugin
from monitor.alerts.outbox import deliver_due
from monitor.alerts.route import Router
from monitor.config import DeliverySettings
from monitor.models import Match, Story
from monitor.store import Planned, Store

PAYLOADS = [
    "<!channel> alert",
    "<!here|here> now",
    "<!everyone>",
    "<@U024BE7LH> look",
    "<#C024BE7LR> channel link",
    "<https://evil.example/login|Your bank>",
    "<mailto:ceo@evil.example|CEO>",
    "@everyone read this",
    "@here now",
    "@channel ping",
    "<@&123456789012345678> role",
    "<@123456789012345678> user",
    "[click me](https://evil.example/phish)",
    "https://evil.example/bare and www.evil.example",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '"><svg onload=alert(1)>',
    "Subject\r\nBcc: victim@example.org",
    "line\nTo: another@example.org\n\nbody",
    "bidi \u202egnp.exe \u2066isolate\u2069",
    "zero\u200bwidth\u200djoiner\ufeffmark",
    "bell\x07 esc \x1b[31m nul\x00 del\x7f",
    "&lt;!channel&gt; entity &#60;script&#62;",
    "*bold* _it_ ~strike~ `code` ||spoiler||",
    "> quote\n# heading",
    "人脸识别" * 400,
]
assert len(PAYLOADS) >= 20

SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
DISCORD = "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js"
TELEGRAM = "tgram://123456789:abcdefg_hijklmnopqrstuvwxyz-ABCDEF/12345"
INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
MENTION = re.compile(r"@(everyone|here|channel)\b", re.IGNORECASE)  # no word joiner after the @
RAW_URL = re.compile(r"(https?|mailto|javascript):/?/?evil", re.IGNORECASE)


def _hostile_stories():
    for i, p in enumerate(PAYLOADS):
        story = Story(
            source="wire",
            key=f"guid:{i}",
            title=f"{p} facial recognition {i}",
            link=f"https://news.example.org/{i}",
            summary=f"Officers {p} use facial recognition.",
            published=datetime(2026, 11, 26, 9, 0, tzinfo=UTC),
        )
        m = Match(
            rule_id="fr",
            rule_title="Facial recognition",
            severity="high",
            tags=("fr",),
            channels=(),
            terms=("facial recognition",),
            snippet=f"…{p} use facial recognition…",
        )
        yield story, m


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def handed_to_apprise(monkeypatch) -> list[tuple[str, str, str]]:
    """(kind of service, title, body) of every message the project gives
    Apprise, recorded on the way in; the real send then goes ahead. Apprise
    escapes Slack's `<` and `>` itself, so only this layer shows whether the
    project's own defusing ran."""
    handed: list[tuple[str, str, str]] = []
    notify = apprise.Apprise.notify

    def recording(self, body, title="", *args, **kw):
        kinds = {kind_of_plugin(plugin) for plugin in self}
        handed.append((",".join(sorted(kinds)), str(title), str(body)))
        return notify(self, body, title, *args, **kw)

    monkeypatch.setattr(apprise.Apprise, "notify", recording)
    return handed


def test_no_live_mention_link_tag_script_or_header_reaches_a_receiver(
    tmp_path, chat, smtp_sink, monkeypatch
):
    handed = handed_to_apprise(monkeypatch)
    mail = smtp_sink.url()
    dests = {"slack": [SLACK], "discord": [DISCORD], "telegram": [TELEGRAM], "mail": [mail]}
    store = Store(tmp_path / "s.db")
    store.ensure_source("wire", "https://news.example.org/feed")
    router = Router(dests, {}, DeliverySettings(), store)
    planned = []
    for story, m in _hostile_stories():
        fp, deliveries = router.plan(story, [m], 1000.0)
        planned.append(Planned(story, (m,), tuple(deliveries), fp))
    store.record_poll("wire", planned, etag=None, last_modified=None, next_check_at=0, now=1000.0)
    stats = deliver_due(store, dests, DeliverySettings(), now=lambda: 1000.0)
    n = len(PAYLOADS)
    assert stats.sent == 4 * n and stats.failed == 0

    # What the project gives Apprise for Slack is inert already: no `<` or
    # `>` at all (Apprise's escaping is not relied on), no mention, no link.
    to_slack = [(title, body) for kind, title, body in handed if kind == "slack"]
    assert len(to_slack) == n
    for title, body in to_slack:
        for text in (title, body):
            assert "<" not in text and ">" not in text, text
            assert not MENTION.search(text) and not RAW_URL.search(text), text
            assert not INVISIBLE.search(text.replace("\n", "")), text
            assert "evil.example" not in text, text
        assert "https://news.example.org/" in body

    slack = chat.of("/slack/")
    assert len(slack) == n
    for post in slack:
        a = post["attachments"][0]
        for text in (a["title"], a["text"]):
            assert "<" not in text and ">" not in text.replace("&gt;", ""), (
                text
            )  # no <!..>, <@..>, <url|..>
            assert (
                not MENTION.search(text) and not RAW_URL.search(text) and not INVISIBLE.search(text)
            ), text
            assert "evil.example" not in text  # Slack links bare domain names too
        assert "https://news.example.org/" in a["text"]  # the story's own link is still there

    discord = chat.of("/discord/")
    assert len(discord) == n
    for post in discord:
        assert post["allowed_mentions"] == {"parse": []}
        text = post["content"]
        assert len(text) <= 2000
        assert not re.search(r"(?<!\\)<[@#!]", text) and not MENTION.search(text), text
        assert not RAW_URL.search(text) and not INVISIBLE.search(text), text
        # the only markdown link is ours: every other bracket is escaped
        assert re.findall(r"(?<!\\)\]\((https?://[^)]*)\)", text) == [
            re.search(r"\]\((https://news[^)]*)\)", text)[1]
        ]

    telegram = chat.of("/telegram/")
    assert len(telegram) == n
    for post, (story, _) in zip(telegram, _hostile_stories()):
        assert post["parse_mode"] == "HTML" and len(post["text"]) <= 4096
        parser = Tags()
        parser.feed(post["text"])
        assert {t for t, _ in parser.tags} <= {"a", "b"}, parser.tags
        assert [attrs for t, attrs in parser.tags if t == "a"] == [{"href": story.link}]
        assert not MENTION.search(post["text"]) and not INVISIBLE.search(
            post["text"].replace("\r", "")
        )

    assert len(smtp_sink.messages) == n
    for msg, rcpt in zip(smtp_sink.messages, smtp_sink.recipients):
        assert rcpt == ["desk@example.org"]
        assert msg["Bcc"] is None and msg.get_all("To") == ["desk@example.org"]
        subject = str(msg["Subject"])
        assert "\n" not in subject and "\r" not in subject and not INVISIBLE.search(subject)
        html = msg.get_body(preferencelist=("html",)).get_content()
        text = msg.get_body(preferencelist=("plain",)).get_content()
        parser = Tags()
        parser.feed(html)
        assert {t for t, _ in parser.tags} <= {"h3", "p", "br", "a", "b"}, parser.tags
        hrefs = [attrs.get("href") for t, attrs in parser.tags if t == "a"]
        assert len(hrefs) == 1 and hrefs[0].startswith("https://news.example.org/")
        assert all(set(attrs) <= {"href"} for _, attrs in parser.tags)  # no onerror=, onload=
        assert not INVISIBLE.search(html) and not INVISIBLE.search(
            text.replace("\r", "").replace("\t", "")
        )
    store.close()


def test_the_same_payloads_are_inert_in_telegram_teams_and_json_messages():
    from monitor.alerts.formats import render
    from monitor.models import Alert

    for story, m in _hostile_stories():
        a = Alert("c", story, (m,))
        tg = render(a, "telegram").body
        parser = Tags()
        parser.feed(tg)
        assert {t for t, _ in parser.tags} <= {"a", "b"}, parser.tags
        assert [attrs for t, attrs in parser.tags if t == "a"] == [{"href": story.link}]
        teams = render(a, "teams").body
        assert re.findall(r"(?<!\\)\]\(", teams) == ["]("]  # our link only
        assert not MENTION.search(teams) and not RAW_URL.search(teams)
        slack = render(a, "slack")
        for text in (slack.title, slack.body):  # Apprise's own escaping comes later
            assert "<" not in text and ">" not in text and not MENTION.search(text), text
            assert not RAW_URL.search(text) and "evil.example" not in text, text
        for msg in (render(a, "json"), render(a, "telegram"), render(a, "teams"), slack):
            assert not INVISIBLE.search(msg.title + msg.body.replace("\n", ""))
            assert "<!" not in msg.body and "<@" not in msg.body and "<script" not in msg.body
