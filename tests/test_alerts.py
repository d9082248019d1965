"""Rendering, defusing hostile story text, routing, and the outbox worker."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

from monitor.alerts.deliver import SendResult, mask_url, send
from monitor.alerts.outbox import backoff, deliver_due
from monitor.alerts.render import _INVISIBLE, clean, render_text
from monitor.alerts.route import destinations, plan_deliveries, route
from monitor.config import DeliverySettings
from monitor.models import Alert, Match, Story
from monitor.store import Planned, Store, destination_id


def story(
    title="Police buy facial recognition",
    summary="Officers will scan faces.",
    link="https://e.org/a?utm_source=x",
):
    return Story(
        source="wire",
        key=f"url:{link}",
        title=title,
        link=link,
        summary=summary,
        published=datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
    )


def match(rule="fr", channels=(), terms=("facial recognition",), snippet="…will scan faces…"):
    return Match(
        rule_id=rule,
        rule_title=f"Rule {rule}",
        severity="high",
        tags=("facial-recognition",),
        channels=tuple(channels),
        terms=tuple(terms),
        snippet=snippet,
    )


HOSTILE = [
    ("<!channel> breaking", "<!channel>"),
    ("<!here|here> now", "<!here"),
    ("<@U024BE7LH> look", "<@U"),
    ("<https://evil.example|Your bank> update", "<https://evil"),
    ("@everyone read this", "@everyone"),
    ("@here urgent", "@here"),
    ("bidi \u202egnp.exe", "\u202e"),
    ("zero\u200bwidth", "\u200b"),
    ("bell\x07 and escape \x1b[31m", "\x1b"),
    ("Subject\r\nBcc: victim@example.org", "\r\n"),
]


def test_hostile_story_text_is_defused():
    for raw, forbidden in HOSTILE:
        out = clean(raw)
        assert forbidden not in out, (raw, out)
        assert "\n" not in out and "\r" not in out
    # readable for a person
    assert clean("<!channel> breaking") == "\u2039!channel\u203a breaking"
    assert clean("@everyone read") == "@\u2060everyone read"


def test_every_control_and_line_separator_becomes_a_space():
    # Unicode's categories Cc, Zl and Zp, whole: a character becomes a space
    # exactly when it is one of them (all lie in the first plane); a message
    # body keeps its newlines
    every = "".join(map(chr, range(0x10000)))

    def expected(c: str, keep_newline: bool) -> str:
        if _INVISIBLE.match(c):
            return ""
        if unicodedata.category(c) in ("Cc", "Zl", "Zp") and not (keep_newline and c == "\n"):
            return " "
        return {"<": "\u2039", ">": "\u203a"}.get(c, c)

    body = "".join(expected(c, True) for c in every)
    assert clean(every, single_line=False) == body
    assert clean(every) == " ".join("".join(expected(c, False) for c in every).split())


def test_long_fields_are_cut_at_a_character_boundary():
    out = clean("人脸识别" * 100, limit=10)
    assert len(out) == 10 and out.endswith("…") and out.startswith("人脸识别")


def test_message_names_story_source_link_time_rules_terms_snippet():
    title, body = render_text(
        Alert(
            "desk",
            story(title="<!channel> Police buy facial recognition"),
            (match("fr"), match("police", terms=("police", "cameras"))),
        )
    )
    assert "<!channel>" not in title + body
    assert title.startswith("[Rule fr, Rule police]")
    assert "Source:    wire" in body
    assert "Link:      https://e.org/a\n" in body  # tracking parameter removed
    assert "Published: 2026-11-26 10:00 UTC" in body
    assert "Rule:      fr [high] Rule fr" in body and "Rule:      police [high] Rule police" in body
    assert "Terms:     police, cameras" in body
    assert body.rstrip().endswith("…will scan faces…")


def test_routing_one_alert_per_channel_naming_every_rule():
    dests = destinations({"slack": ["json://a/x"], "email": ["mailto://b?to=c@d.e", "json://c/y"]})
    ms = [match("fr"), match("police", channels=["slack"])]
    routed = route(ms, list(dests))
    assert [m.rule_id for m in routed["slack"]] == ["fr", "police"]
    assert [m.rule_id for m in routed["email"]] == ["fr"]
    rows = plan_deliveries(story(), ms, dests)
    assert [(r.channel, r.destination) for r in rows] == [
        ("slack", destination_id("json://a/x")),
        ("email", destination_id("mailto://b?to=c@d.e")),
        ("email", destination_id("json://c/y")),
    ]
    assert "json://" not in repr(rows)  # the state file never holds a URL


def test_no_channels_or_empty_channel_prints_to_stdout(capsys):
    assert destinations({}) == {"stdout": ["stdout"]}
    assert destinations({"console": []}) == {"console": ["stdout"]}
    assert send("stdout", "T", "B").ok
    assert "=== ALERT: T\nB" in capsys.readouterr().out


def test_urls_are_masked_in_logs():
    masked = mask_url("mailtos://user:hunter2@smtp.example.org?to=a@b.org")
    assert "hunter2" not in masked and masked.startswith("mailtos://")
    assert "TIiajkdnlazkcOXrIdevi7FQ" not in mask_url(
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
    )


def test_invalid_apprise_url_is_a_permanent_failure():
    r = send("nonsense://x", "t", "b")
    assert not r.ok and r.permanent and "not a valid Apprise URL" in r.error


def _queue(tmp_path, dests):
    store = Store(tmp_path / "s.db")
    store.ensure_source("wire", "https://e.org/feed")
    s = story()
    store.record_poll(
        "wire",
        [Planned(s, (match(),), tuple(plan_deliveries(s, [match()], dests)))],
        etag=None,
        last_modified=None,
        next_check_at=0,
        now=1000.0,
    )
    return store


def test_failures_back_off_then_die_and_can_be_retried(tmp_path):
    dests = {"hook": ["json://a/x"]}
    store = _queue(tmp_path, dests)
    settings = DeliverySettings(max_attempts=3, retry_base=10, retry_max=15)
    clock = [1000.0]
    calls = []

    def failing(url, title, body, **kw):
        calls.append(url)
        return SendResult(False, "HTTP 500")

    deliver_due(store, dests, settings, sender=failing, now=lambda: clock[0])
    assert len(calls) == 1
    deliver_due(store, dests, settings, sender=failing, now=lambda: clock[0] + 5)  # not due yet
    assert len(calls) == 1
    clock[0] += 10
    deliver_due(store, dests, settings, sender=failing, now=lambda: clock[0])
    clock[0] += 15  # 10 * 2 capped at 15
    stats = deliver_due(store, dests, settings, sender=failing, now=lambda: clock[0])
    assert len(calls) == 3 and stats.dead == 1
    assert store.outbox_counts() == {"pending": 0, "sent": 0, "dead": 1}
    assert store.failing_deliveries()[0]["last_error"] == "HTTP 500"
    assert [backoff(n, settings) for n in (1, 2, 3)] == [10, 15, 15]

    assert store.retry_dead(now=clock[0]) == 1
    stats = deliver_due(
        store, dests, settings, sender=lambda *a, **kw: SendResult(True), now=lambda: clock[0]
    )
    assert stats.sent == 1 and store.outbox_counts()["sent"] == 1


def test_a_destination_removed_from_config_becomes_a_visible_dead_letter(tmp_path):
    store = _queue(tmp_path, {"hook": ["json://a/x"]})
    stats = deliver_due(
        store,
        {"hook": ["json://other/y"]},
        DeliverySettings(),
        sender=lambda *a, **kw: SendResult(True),
    )
    assert stats.dead == 1 and stats.sent == 0
    assert "no longer configured" in store.failing_deliveries()[0]["last_error"]
