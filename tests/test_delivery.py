"""Delivery beyond the basics: per-service messages, templates, routing by
severity and tags, bursts, digests, quiet periods, silences, the outbox
command, schema migration, and an outage played by a loopback receiver."""

from __future__ import annotations

import io
import json
import sqlite3
import textwrap
from datetime import UTC, datetime

import pytest

from monitor.alerts.admin import outbox_report, silence_add, silence_list
from monitor.alerts.deliver import SendResult, send
from monitor.alerts.formats import (
    TemplateError,
    alert_from_json,
    alert_to_json,
    check_template,
    render,
    render_group,
    safe_link,
)
from monitor.alerts.outbox import deliver_due
from monitor.alerts.route import Router, destinations, fingerprint, route
from monitor.config import ChannelConfig, Config, ConfigError, DeliverySettings, load_config
from monitor.models import Alert, Match, Story
from monitor.store import SCHEMA_VERSION, Planned, Store, destination_id

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC).timestamp()  # on the hour


def story(n=1, title=None, summary="Officers will scan faces at stations.", link=None):
    return Story(
        source="wire",
        key=f"guid:{n}",
        title=title or f"Police buy facial recognition {n}",
        link=link or f"https://news.example.org/{n}?utm_source=x",
        summary=summary,
        published=datetime(2026, 11, 26, 9, 0, tzinfo=UTC),
    )


def match(
    rule="fr",
    severity="high",
    tags=("facial-recognition",),
    channels=(),
    terms=("facial recognition",),
    snippet="…police use facial recognition at stations…",
):
    return Match(
        rule_id=rule,
        rule_title=f"Rule {rule}",
        severity=severity,
        tags=tuple(tags),
        channels=tuple(channels),
        terms=tuple(terms),
        snippet=snippet,
    )


class Clock:
    def __init__(self, t: float = T0):
        self.t = t

    def __call__(self) -> float:
        return self.t


class Recorder:
    """A sender that records (url, title, body, format) and answers ok."""

    def __init__(self):
        self.sent: list[tuple[str, str, str, str]] = []

    def __call__(self, url, title, body, body_format="text"):
        self.sent.append((url, title, body, body_format))
        return SendResult(True)


# -- per-service messages ---------------------------------------------------
def test_each_service_gets_its_own_markup():
    a = Alert("desk", story(), (match(),))
    slack, discord, tg, teams, email, js = (
        render(a, k) for k in ("slack", "discord", "telegram", "teams", "email", "json")
    )
    assert slack.format == "text" and "Link:      https://news.example.org/1\n" in slack.body
    assert (
        discord.format == "markdown"
        and "**[Police buy facial recognition 1](https://news.example.org/1)**" in discord.body
        and "**facial recognition**" in discord.body
    )
    assert tg.title == ""  # Telegram has no title field; the body opens with the linked title
    assert (
        tg.format == "html"
        and '<a href="https://news.example.org/1">' in tg.body
        and "<b>facial recognition</b>" in tg.body
    )
    assert teams.format == "markdown" and "Rule: **Rule fr** \\[high\\] `fr`" in teams.body
    assert email.format == "html" and email.body.startswith(
        "<h3>Police buy facial recognition 1</h3>"
    )
    assert js.format == "text" and js.title == "[Rule fr] Police buy facial recognition 1"
    for m in (slack, discord, tg, teams, email, js):  # why it matched, every time
        assert "Rule fr" in m.body and "facial recognition" in m.body and "wire" in m.body


def test_links_are_http_or_https_only_and_cannot_close_markup():
    assert safe_link("javascript:alert(1)") == ""
    assert safe_link("data:text/html,<script>") == ""
    assert (
        safe_link('https://e.org/a"><script>x</script>')
        == "https://e.org/a%22%3E%3Cscript%3Ex%3C/script%3E"
    )
    assert safe_link("https://e.org/a b|c)") == "https://e.org/a%20b%7Cc%29"
    email = render(Alert("d", story(link="javascript:alert(document.cookie)"), (match(),)), "email")
    assert "javascript" not in email.body and "Link: (none)" in email.body


def test_alert_round_trips_through_the_outbox_as_json():
    a = Alert("desk", story(title="人脸识别 <b>"), (match(), match("leak", severity="low")))
    assert alert_from_json(alert_to_json(a)) == a


# -- templates ---------------------------------------------------------------
def test_operator_template_is_kept_and_only_story_fields_are_escaped():
    tpl = {
        "title": "FR <{severity}>: {title}",
        "body": '<p><i>Desk alert</i> {rules}</p><p><a href="{link}">{title}</a></p><p>{snippet}</p>',
    }
    a = Alert("desk", story(title="<script>alert(1)</script> & co"), (match(),))
    m = render(a, "email", tpl)
    assert m.body.startswith("<p><i>Desk alert</i> Rule fr</p>")  # the operator's HTML, as written
    assert "<script>" not in m.body and "&amp; co" in m.body  # the story's text, escaped
    assert "<b>facial recognition</b>" in m.body
    assert m.title == "FR <high>: ‹script›alert(1)‹/script› & co"


@pytest.mark.parametrize(
    "tpl, problem",
    [
        ("{title", "broken template"),
        ("{story.__class__}", "unknown template field"),
        ("{nonsense}", "unknown template field '{nonsense}'"),
        ("{title!r}", "takes no format spec"),
    ],
)
def test_broken_templates_are_refused(tpl, problem):
    with pytest.raises(TemplateError, match=problem.replace("{", r"\{").replace("(", r"\(")):
        check_template(tpl)


def test_a_broken_template_in_config_is_one_line_with_file_and_line(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        textwrap.dedent("""\
        channels:
          desk:
            urls: ["json://127.0.0.1:9/x"]
            template:
              title: "{title}"
              body: "Alert: {titel}"
            digest: "every tuesday"
        """),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as e:
        load_config(cfg)
    lines = [str(x) for x in e.value.errors]
    assert any(
        ln.startswith(f"{cfg}:6:") and "unknown template field '{titel}'" in ln for ln in lines
    ), lines
    assert any(
        ln.startswith(f"{cfg}:7:") and "not hourly, daily or a five-field cron" in ln
        for ln in lines
    ), lines


def test_channel_mistakes_name_the_line(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        textwrap.dedent("""        channels:
          pager:
            urls: []
            severities: [high, urgent]
          folded:
            urls: []
            burst: 1m
            digest: hourly
          odd:
            urls: []
            digest_bypass: high
          slow:
            urls: []
            burst: soon
        """),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as e:
        load_config(cfg)
    lines = [str(x) for x in e.value.errors]
    assert len(lines) == 4, lines
    assert lines[0].startswith(f"{cfg}:4:") and "unknown severity 'urgent'" in lines[0]
    assert lines[1].startswith(f"{cfg}:5:") and "either 'burst' or 'digest'" in lines[1]
    assert lines[2].startswith(f"{cfg}:9:") and "'digest_bypass' needs 'digest'" in lines[2]
    assert lines[3].startswith(f"{cfg}:14:") and "'soon' is not a duration" in lines[3]


# -- routing -----------------------------------------------------------------
def test_routing_by_severity_and_tags_with_a_default_channel():
    configs = {
        "pager": ChannelConfig(severities=["critical"]),
        "leaks": ChannelConfig(tags=["data-leak"]),
        "desk": ChannelConfig(default=True),
    }
    names = list(configs)
    crit = match("crit", severity="critical")
    leak = match("leak", severity="medium", tags=("data-leak",))
    named = match("named", severity="low", channels=("leaks", "pager"))
    routed = route([crit, leak, named], names, configs)
    # rules naming no channel go to the default channel only
    assert [m.rule_id for m in routed["desk"]] == ["crit", "leak"]
    # a named channel still filters: pager takes critical only, leaks the data-leak tag only
    assert "pager" not in routed and "leaks" not in routed
    routed = route(
        [match("x", severity="critical", tags=("data-leak",), channels=("pager", "leaks"))],
        names,
        configs,
    )
    assert list(routed) == ["pager", "leaks"]
    # with no default channel marked, a rule naming none goes everywhere that takes it
    assert list(route([leak], ["a", "b"], {})) == ["a", "b"]


# -- store -------------------------------------------------------------------
V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sources (name TEXT PRIMARY KEY, url TEXT NOT NULL, etag TEXT, last_modified TEXT,
    baseline_done INTEGER NOT NULL DEFAULT 0, last_polled_at REAL, last_success_at REAL, last_error TEXT,
    last_error_reason TEXT, failures INTEGER NOT NULL DEFAULT 0, next_check_at REAL,
    stories_seen INTEGER NOT NULL DEFAULT 0);
CREATE TABLE stories (id INTEGER PRIMARY KEY, source TEXT NOT NULL, key TEXT NOT NULL, canonical_url TEXT,
    title TEXT NOT NULL, link TEXT NOT NULL, summary TEXT NOT NULL, published TEXT, lang TEXT,
    first_seen REAL NOT NULL, UNIQUE (source, key));
CREATE TABLE matches (id INTEGER PRIMARY KEY, story_id INTEGER NOT NULL REFERENCES stories (id),
    rule_id TEXT NOT NULL, terms TEXT NOT NULL, snippet TEXT NOT NULL, created_at REAL NOT NULL,
    UNIQUE (story_id, rule_id));
CREATE TABLE outbox (id INTEGER PRIMARY KEY, story_id INTEGER NOT NULL REFERENCES stories (id),
    channel TEXT NOT NULL, destination TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL,
    last_error TEXT, created_at REAL NOT NULL, sent_at REAL, UNIQUE (story_id, channel, destination));
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO sources (name, url, baseline_done) VALUES ('wire', 'https://e.org/feed', 1);
INSERT INTO stories VALUES (1, 'wire', 'guid:1', NULL, 'Old story', 'https://e.org/1', 's', NULL, NULL, 100);
INSERT INTO matches VALUES (1, 1, 'fr', '["face"]', 'snip', 100);
INSERT INTO outbox (story_id, channel, destination, title, body, next_attempt_at, created_at)
    VALUES (1, 'hook', 'DEST', '[FR] Old story', 'old body', 100, 100);
INSERT INTO outbox (story_id, channel, destination, title, body, next_attempt_at, created_at)
    VALUES (1, 'gone', 'sha256:0000000000000000', '[FR] Old story', 'old body', 100, 100);
"""


def test_a_schema_1_state_file_is_upgraded_in_place_and_its_pending_rows_still_go_out(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA.replace("DEST", destination_id("json://h/x")))
    db.close()
    store = Store(path)
    assert store.schema_version == SCHEMA_VERSION
    cols = {r["name"] for r in store.db.execute("PRAGMA table_info(outbox)")}
    assert {"alert", "fold", "due_at"} <= cols
    assert store.source_state("wire").baseline_done
    rec = Recorder()
    stats = deliver_due(
        store, {"hook": ["json://h/x"]}, DeliverySettings(), sender=rec, now=lambda: 200.0
    )
    # the old row goes out as it was rendered then; the one whose destination left the config is kept, dead
    assert rec.sent == [("json://h/x", "[FR] Old story", "old body", "text")]
    assert stats.sent == 1 and stats.dead == 1
    store.close()
    # opened again: nothing to migrate, nothing changes
    store = Store(path)
    assert store.schema_version == SCHEMA_VERSION and store.outbox_counts() == {
        "pending": 0,
        "sent": 1,
        "dead": 1,
    }
    store.close()


def _queue(store, story_, matches, dests, configs=None, now=T0, router=None):
    router = router or Router(dests, configs or {}, DeliverySettings(), store)
    fp, deliveries = router.plan(story_, matches, now)
    store.record_poll(
        "wire",
        [Planned(story_, tuple(matches), tuple(deliveries), fp)],
        etag=None,
        last_modified=None,
        next_check_at=0,
        now=now,
    )
    return deliveries


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """The outbox tests run on both backends: the same SQL, the same results."""
    s = Store(
        tmp_path / "state.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    )
    s.ensure_source("wire", "https://e.org/feed")
    yield s
    s.close()


def test_a_cycle_with_nothing_due_opens_no_write_transaction(store):
    """Most cycles have nothing to send: the outbox is read, not locked. A
    row that is due is still claimed and sent, in a transaction."""
    from test_poll_groups import Trace

    dests = {"desk": ["json://h/a"]}
    configs = {"desk": ChannelConfig(burst=60)}
    clock, rec = Clock(), Recorder()
    trace = Trace(store)
    assert (
        deliver_due(store, dests, DeliverySettings(), configs=configs, sender=rec, now=clock).sent
        == 0
    )
    assert trace.transactions == 0  # an empty outbox
    _queue(store, story(1), [match()], dests, configs, now=clock.t)
    trace.clear()
    assert (
        deliver_due(store, dests, DeliverySettings(), configs=configs, sender=rec, now=clock).sent
        == 0
    )
    assert trace.transactions == 0  # a row in its burst window: not due yet
    clock.t = T0 + 60
    stats = deliver_due(store, dests, DeliverySettings(), configs=configs, sender=rec, now=clock)
    assert stats.sent == 1 and len(rec.sent) == 1
    assert trace.transactions >= 1
    assert store.outbox_counts() == {"pending": 0, "sent": 1, "dead": 0}


# -- bursts and digests, on a controlled clock --------------------------------
def test_a_burst_folds_matches_within_the_window_into_one_message_per_destination(store):
    dests = {"desk": ["json://h/a", "json://h/b"]}
    configs = {"desk": ChannelConfig(burst=60)}
    clock, rec = Clock(), Recorder()
    for i in range(3):  # three matches within 20 seconds
        _queue(store, story(i), [match()], dests, configs, now=clock.t)
        clock.t += 10
    assert (
        deliver_due(store, dests, DeliverySettings(), configs=configs, sender=rec, now=clock).sent
        == 0
    )
    clock.t = T0 + 60  # the first one's window is over
    stats = deliver_due(store, dests, DeliverySettings(), configs=configs, sender=rec, now=clock)
    assert (
        stats.sent == 6 and stats.messages == 2
    )  # one message per destination, each naming all three
    assert all(body.count("Police buy facial recognition") == 3 for _, _, body, _ in rec.sent)
    assert rec.sent[0][1] == "Alerts for desk: 3 stories"
    # a match after the burst starts a new window
    _queue(store, story(9), [match()], dests, configs, now=clock.t)
    clock.t += 59
    assert (
        deliver_due(store, dests, DeliverySettings(), configs=configs, sender=rec, now=clock).sent
        == 0
    )
    clock.t += 1
    assert (
        deliver_due(store, dests, DeliverySettings(), configs=configs, sender=rec, now=clock).sent
        == 2
    )
    assert store.outbox_counts() == {"pending": 0, "sent": 8, "dead": 0}


def test_hourly_digest_groups_by_rule_and_a_severity_bypasses_it(store):
    dests = {"digest": ["json://h/d"]}
    configs = {"digest": ChannelConfig(digest="hourly", digest_bypass="critical")}
    clock, rec = Clock(T0 + 5), Recorder()
    _queue(store, story(1), [match("fr")], dests, configs, now=clock.t)
    _queue(store, story(2), [match("leak", severity="medium")], dests, configs, now=clock.t + 60)
    _queue(store, story(3), [match("fr")], dests, configs, now=clock.t + 120)
    _queue(store, story(4), [match("crit", severity="critical")], dests, configs, now=clock.t + 130)
    clock.t += 200
    deliver_due(store, dests, DeliverySettings(), configs=configs, sender=rec, now=clock)
    assert (
        len(rec.sent) == 1 and "Police buy facial recognition 4" in rec.sent[0][2]
    )  # critical: at once
    clock.t = T0 + 3599
    deliver_due(store, dests, DeliverySettings(), configs=configs, sender=rec, now=clock)
    assert len(rec.sent) == 1
    clock.t = T0 + 3600  # 11:00
    stats = deliver_due(store, dests, DeliverySettings(), configs=configs, sender=rec, now=clock)
    assert stats.messages == 1 and stats.sent == 3
    _, title, body, _ = rec.sent[1]
    assert title == "Digest for digest: 3 stories"
    lines = body.splitlines()
    assert (
        lines[0] == "== Rule fr [high] (fr) — 2" and lines[5] == "== Rule leak [medium] (leak) — 1"
    )


def test_a_digest_is_split_under_the_services_size_limit_and_every_row_is_sent_once(store, chat):
    url = "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js"  # Discord: 2000 characters a message
    dests = {"digest": [url]}
    configs = {"digest": ChannelConfig(digest="0 */6 * * *")}
    for i in range(40):
        _queue(
            store,
            story(i, title=f"Police buy facial recognition cameras for district number {i} " * 2),
            [match()],
            dests,
            configs,
            now=T0 + i,
        )
    stats = deliver_due(store, dests, DeliverySettings(), configs=configs, now=Clock(T0 + 6 * 3600))
    posts = chat.of("/discord/")
    assert stats.sent == 40 and stats.messages == len(posts) >= 3
    assert all(len(p["content"]) <= 2000 for p in posts)
    assert all(p["allowed_mentions"] == {"parse": []} for p in posts)
    text = "\n".join(p["content"] for p in posts)
    for i in range(40):
        assert text.count(f"(https://news.example.org/{i})") == 1, i  # each story once
    assert [p["content"].split("\n")[0] for p in posts] == [
        f"**Digest for digest: 40 stories \\(part {i}/{len(posts)}\\)**"
        for i in range(1, len(posts) + 1)
    ]
    assert all(
        p["content"].split("\n")[1].startswith("**Rule fr**") for p in posts
    )  # each part keeps the heading
    assert store.outbox_counts() == {"pending": 0, "sent": 40, "dead": 0}


def test_a_failed_digest_part_holds_back_the_later_parts_without_counting_them_as_tried(store):
    url = "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js"
    dests = {"digest": [url]}
    configs = {"digest": ChannelConfig(digest="hourly")}
    for i in range(40):
        _queue(
            store,
            story(i, title=f"Police buy facial recognition cameras for district {i} " * 3),
            [match()],
            dests,
            configs,
            now=T0 + i,
        )
    calls = []

    def first_fails(url, title, body, body_format="text"):
        calls.append(title)
        return SendResult(False, "http 503") if len(calls) == 1 else SendResult(True)

    settings = DeliverySettings(retry_base=60)
    stats = deliver_due(
        store, dests, settings, configs=configs, sender=first_fails, now=Clock(T0 + 3600)
    )
    assert len(calls) == 1 and stats.sent == 0 and stats.failed > 0
    rows = store.db.execute("SELECT attempts, next_attempt_at FROM outbox ORDER BY id").fetchall()
    assert {r["next_attempt_at"] for r in rows} == {T0 + 3660}  # all wait for the retry
    assert {r["attempts"] for r in rows} == {0, 1}  # only the part that was tried counts an attempt
    assert (
        deliver_due(
            store, dests, settings, configs=configs, sender=first_fails, now=Clock(T0 + 3659)
        ).sent
        == 0
    )
    stats = deliver_due(
        store, dests, settings, configs=configs, sender=first_fails, now=Clock(T0 + 3660)
    )
    assert stats.sent == 40 and store.outbox_counts()["sent"] == 40


@pytest.mark.parametrize("kind", ["json", "slack", "discord", "telegram", "teams", "email"])
def test_render_group_parts_hold_whole_stories_under_the_limit(kind):
    alerts = [(i, Alert("c", story(i), (match("fr" if i % 2 else "leak"),))) for i in range(30)]
    parts = render_group(alerts, kind, "Digest for c", 1000)
    assert len(parts) > 1
    assert sorted(i for ids, _ in parts for i in ids) == list(range(30))
    assert all(len(m.body) <= 1000 for _, m in parts)
    title = f"Digest for c: 30 stories (part 1/{len(parts)})"
    assert parts[0][1].title == ("" if kind == "telegram" else title)
    first = parts[0][1].body
    for _, m in parts:  # a part never ends on a rule heading without its stories
        assert "Rule" not in m.body.splitlines()[-1] or "Police" in m.body.splitlines()[-1]
    assert "Rule leak" in first and "Police buy facial recognition 0" in first
    if kind == "email":
        assert first.count("<ul>") == first.count("</ul>") >= 1


# -- quiet periods and silences -------------------------------------------------
def test_quiet_period_gives_one_alert_per_rule_and_story(store):
    dests = {"desk": ["json://h/a"]}
    router = Router(dests, {}, DeliverySettings(quiet=6 * 3600), store)
    first = _queue(
        store, story(1, title="Police buy facial recognition"), [match()], dests, router=router
    )
    # the same story under another link, an hour later: quiet
    again = _queue(
        store,
        story(2, title="Police buy facial recognition!", link="https://other.example/x"),
        [match()],
        dests,
        now=T0 + 3600,
        router=router,
    )
    # another rule on it still alerts
    other = _queue(
        store,
        story(3, title="POLICE buy facial recognition", link="https://third.example/x"),
        [match("leak")],
        dests,
        now=T0 + 3700,
        router=router,
    )
    # after the period, a new alert; a fresh router reads the store, not its memory
    later = _queue(
        store,
        story(4, title="Police buy facial recognition", link="https://fourth.example/x"),
        [match()],
        dests,
        now=T0 + 8 * 3600,
        router=Router(dests, {}, DeliverySettings(quiet=6 * 3600), store),
    )
    assert len(first) == 1 and again == [] and len(other) == 1 and len(later) == 1
    assert fingerprint(story(1, title="Police buy facial recognition")) == fingerprint(
        story(2, title="police  buy facial-recognition!")
    )


def test_silences_expire_and_are_listed(store):
    dests = {"desk": ["json://h/a"]}
    out = io.StringIO()
    assert silence_add(store, "fr", "2h", "known story", {"fr"}, out, now=T0) == 0
    assert silence_add(store, "nope", "2h", "", {"fr"}, out, now=T0) == 2
    assert silence_add(store, "fr", "soon", "", {"fr"}, out, now=T0) == 2
    assert "error: no rule 'nope'" in out.getvalue() and "error: --for:" in out.getvalue()
    silence_list(store, out, now=T0 + 60)
    assert (
        "fr" in out.getvalue()
        and "until 2026-11-26 12:00 UTC (in 119m)  known story" in out.getvalue()
    )
    assert _queue(store, story(1), [match("fr"), match("leak")], dests, now=T0 + 60)[
        0
    ].title.startswith("[Rule leak]")  # only the silenced rule is left out
    assert _queue(store, story(2), [match("fr")], dests, now=T0 + 120) == []
    assert len(_queue(store, story(3), [match("fr")], dests, now=T0 + 7201)) == 1  # expired
    out = io.StringIO()
    silence_list(store, out, now=T0 + 7201)
    assert out.getvalue() == "no active silences\n"


# -- the outbox command ----------------------------------------------------------
def test_outbox_report_shows_counts_last_errors_and_retries_dead_letters(tmp_path, store):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"state: {store.path}\nchannels:\n  hook: {{urls: ['json://127.0.0.1:9/x']}}\n"
        "  mail: {urls: ['mailtos://user:secret@smtp.example.org?to=a@b.org']}\n",
        encoding="utf-8",
    )
    config = load_config(cfg)
    dests = destinations({n: list(c.urls) for n, c in config.channels.items()})
    _queue(store, story(1), [match()], dests)
    _queue(store, story(2), [match()], dests)

    def sender(url, title, body, body_format="text"):
        if url.startswith("json"):
            return SendResult(False, "http 503 Service Unavailable")
        return SendResult(False, "permanent: http 401: unauthorised", permanent=True)

    deliver_due(store, dests, DeliverySettings(retry_base=60), sender=sender, now=Clock())
    _queue(
        store, story(3), [match()], {"hook": dests["hook"]}, {"hook": ChannelConfig(digest="daily")}
    )
    out = io.StringIO()
    outbox_report(config, store, out, config_arg="config.yaml", now=T0 + 1)
    text = out.getvalue()
    assert "OUTBOX  pending 3  sent 0  dead 2  (held for digest: 1)" in text
    assert (
        "pending  hook             json://127.0.0.1:9/x  rows 2  attempts 1  next try in 59s"
        in text
    )
    assert "last error: http 503 Service Unavailable" in text
    assert "dead     mail" in text and "secret" not in text and "permanent: http 401" in text
    assert "monitor outbox --config config.yaml --retry-dead" in text
    out = io.StringIO()
    outbox_report(config, store, out, as_json=True, retry_dead=True, now=T0 + 2)
    assert out.getvalue().startswith("2 dead deliveries queued again")
    data = json.loads(out.getvalue().split("\n", 1)[1])
    assert data["counts"] == {"pending": 5, "sent": 0, "dead": 0} and data["held"] == {"digest": 1}


def test_max_age_counts_from_the_digest_release_not_from_the_match(store):
    dests = {"d": ["json://h/a"]}
    configs = {"d": ChannelConfig(digest="daily")}
    _queue(
        store, story(1), [match()], dests, configs, now=T0
    )  # released at midnight, 14 hours later
    rec = Recorder()
    stats = deliver_due(
        store,
        dests,
        DeliverySettings(max_age=3600),
        configs=configs,
        sender=rec,
        now=Clock(T0 + 14 * 3600 + 60),
    )
    assert stats.sent == 1 and stats.dead == 0


def test_max_age_turns_an_old_undelivered_row_into_a_dead_letter(store):
    dests = {"hook": ["json://h/a"]}
    _queue(store, story(1), [match()], dests)
    settings = DeliverySettings(max_age=3600, retry_base=600)
    down = lambda *a, **k: SendResult(False, "http 503")  # noqa: E731
    deliver_due(store, dests, settings, sender=down, now=Clock(T0))
    stats = deliver_due(store, dests, settings, sender=down, now=Clock(T0 + 3601))
    assert stats.dead == 1
    assert "older than max_age" in store.failing_deliveries()[0]["last_error"]


# -- real services on loopback ----------------------------------------------------
def test_a_4xx_answer_is_a_permanent_failure_and_a_5xx_is_retried(chat):
    url = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
    chat.behaviour = "503"
    r = send(url, "t", "b")
    assert not r.ok and not r.permanent and "503" in r.error
    chat.behaviour = "404"  # e.g. a webhook that was deleted
    r = send(url, "t", "b")
    assert not r.ok and r.permanent and r.error.startswith("permanent: http 404")
    chat.behaviour = "429"  # rate limited: try again later
    r = send("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", "t", "b")
    assert not r.ok and not r.permanent


def test_outage_then_timeouts_then_recovery_every_alert_arrives_once_with_visible_backoff(
    store, chat
):
    # Slack's read timeout is cut to 0.3 seconds through Apprise's own URL option.
    url = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ?rto=0.3&cto=0.3"
    dests = {"team": [url]}
    settings = DeliverySettings(retry_base=60, retry_max=600, max_attempts=20)
    clock = Clock()
    for i in range(3):
        _queue(store, story(i), [match()], dests, now=clock.t)
    chat.behaviour = "503"
    delays = []
    for cycle in range(5):
        if cycle == 3:
            chat.behaviour, chat.slow_seconds = "slow", 0.8
        tried = chat.attempts
        stats = deliver_due(store, dests, settings, now=clock)
        # One try a cycle: the other rows of a failing destination wait with it, untried.
        assert (stats.sent, stats.failed, stats.deferred, chat.attempts - tried) == (0, 1, 2, 1)
        rows = store.db.execute(
            "SELECT attempts, next_attempt_at, last_error FROM outbox ORDER BY id"
        ).fetchall()
        assert [r["attempts"] for r in rows] == [cycle + 1, 0, 0]
        assert len({r["next_attempt_at"] for r in rows}) == 1
        assert rows[1]["last_error"].startswith("waiting: the destination failed this cycle")
        delays.append(rows[0]["next_attempt_at"] - clock.t)
        if cycle >= 3:
            assert rows[0]["last_error"].startswith("unknown")  # a timeout: retried, never dead
        if cycle == 2:  # the backoff as an operator sees it
            out = io.StringIO()
            outbox_report(
                Config(channels={"team": ChannelConfig(urls=[url])}), store, out, now=clock.t
            )
            assert (
                "pending  team" in out.getvalue()
                and "rows 3  attempts 3  next try in 4m" in out.getvalue()
            )
            assert "waiting" not in out.getvalue()  # the last error shown is the one a try got
            assert "error=503" in out.getvalue()
        # a cycle before the retry time sends nothing
        assert deliver_due(store, dests, settings, now=Clock(clock.t + delays[-1] - 1)).failed == 0
        clock.t += delays[-1]
    assert delays == [60, 120, 240, 480, 600]  # doubling, capped
    chat.behaviour = "ok"
    assert deliver_due(store, dests, settings, now=clock).sent == 3
    assert deliver_due(store, dests, settings, now=Clock(clock.t + 10**5)).sent == 0
    titles = sorted(p["attachments"][0]["title"] for p in chat.of("/slack/"))
    assert titles == [f"[Rule fr] Police buy facial recognition {i}" for i in range(3)]
    assert store.outbox_counts() == {"pending": 0, "sent": 3, "dead": 0}


def test_a_single_alert_is_shortened_to_fit_a_small_service():
    long = "Officers said facial recognition " + "and more words about the cameras " * 60
    a = Alert("c", story(1, summary=long), (match(snippet=long),))
    tpl = {"body": "**{rules}** [{title}]({link})\n\n{summary}\n\n{snippet}"}
    full = render(a, "teams", tpl)
    fitted = render(a, "teams", tpl, limit=1000)  # Teams workflows take 1000 characters
    assert len(full.body) > 1000 >= len(fitted.body)
    assert (
        "Rule fr" in fitted.body
        and "news.example.org/1" in fitted.body
        and "**facial recognition**" in fitted.body
    )


def test_a_reload_brings_new_channel_settings_to_routing_and_delivery(tmp_path):
    from monitor.service import Monitor, load_checked_rules

    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yaml").write_text(
        "rules:\n  - id: fr\n    title: FR\n    match:\n      any: [facial recognition]\n",
        encoding="utf-8",
    )
    cfg = tmp_path / "config.yaml"
    base = "state: ./state.db\nrules: ./rules\nchannels:\n  desk:\n    urls: ['json://127.0.0.1:9/x']\n"
    cfg.write_text(base, encoding="utf-8")
    config = load_config(cfg)
    ruleset, _ = load_checked_rules(config)
    mon = Monitor(config, ruleset)
    try:
        assert mon.router.configs["desk"].burst is None
        cfg.write_text(base + "    burst: 1m\n", encoding="utf-8")
        mon.reloader.request()
        assert mon.reloader.check() is True
        assert mon.router.configs["desk"].burst == 60
        _, deliveries = mon.router.plan(story(1), [match()], T0)
        assert deliveries[0].fold == "burst" and deliveries[0].release_at == T0 + 60
    finally:
        mon.close()


def test_a_digest_message_counts_every_alert_it_carries_in_the_metrics():
    from monitor.metrics import Metrics

    m = Metrics()
    m.on_event("alert.sent", {"channel": "digest", "alerts": 3})
    m.on_event("alert.sent", {"channel": "digest"})
    assert 'monitor_deliveries_total{channel="digest"} 4.0' in m.exposition().decode()
