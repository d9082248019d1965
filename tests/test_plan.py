"""A poll's decisions on plain values: no database, no network, no clock."""

from monitor.alerts.route import fingerprint
from monitor.config import ChannelConfig
from monitor.models import Match, Story
from monitor.plan import Checked, Known, Noise, Routing, plan_poll, triage
from monitor.store import SourceState, destination_id

NOW = 1_700_000_000.0
SLACK = "slack://token-a/token-b/token-c"
MAIL = "mailto://user:secret@example.org"


def state(baseline_done: bool) -> SourceState:
    return SourceState("wire", None, None, baseline_done, None, 0)


def story(n: int, link: str | None = None, title: str | None = None) -> Story:
    return Story(
        source="wire",
        key=f"guid:{n}",
        title=title or f"Story number {n}",
        link=link if link is not None else f"https://news.example/{n}",
    )


def match(rule: str, channels: tuple[str, ...] = (), severity: str = "high") -> Match:
    return Match(rule, rule.title(), severity, (), channels, ("face",), "a face scan")


ROUTING = Routing(
    {"security": [SLACK], "legal": [MAIL]},
    {"security": ChannelConfig(urls=[SLACK]), "legal": ChannelConfig(urls=[MAIL])},
)


def test_a_first_poll_is_a_baseline_that_matches_nothing():
    stories = [story(1), story(2)]
    t = triage(None, stories, Known(frozenset(), frozenset()))
    assert t.baseline and t.new == tuple(stories) and t.to_match == ()
    also = triage(state(False), stories, Known(frozenset(), frozenset()))
    assert also.baseline and also.to_match == ()
    poll = plan_poll("wire", t, [], Noise(), ROUTING, NOW)
    assert [p.story.key for p in poll.stories] == ["guid:1", "guid:2"]
    assert all(not p.matches and not p.deliveries for p in poll.stories)
    assert poll.matched == 0 and poll.baseline


def test_stories_already_stored_are_not_new():
    stories = [story(1), story(2), story(3)]
    t = triage(state(True), stories, Known(frozenset({"guid:1", "guid:3"}), frozenset()))
    assert not t.baseline
    assert [s.key for s in t.new] == ["guid:2"] and [s.key for s in t.to_match] == ["guid:2"]


def test_a_copy_by_canonical_url_is_stored_without_matching():
    # stored from another source, with tracking parameters that do not count
    stored = "https://news.example/7"
    stories = [story(7, link=stored + "?utm_source=feed"), story(8), story(9, link=story(8).link)]
    t = triage(state(True), stories, Known(frozenset(), frozenset({stored})))
    assert [s.key for s in t.new] == ["guid:7", "guid:8", "guid:9"]
    # guid:9 has the same link as guid:8, earlier in this document: a copy too
    assert [s.key for s in t.to_match] == ["guid:8"]


def test_a_story_with_no_link_is_never_a_copy():
    stories = [story(1, link=""), story(2, link="")]
    t = triage(state(True), stories, Known(frozenset(), frozenset()))
    assert [s.key for s in t.to_match] == ["guid:1", "guid:2"]


def test_matches_are_routed_to_their_channels_one_row_per_destination():
    stories = [story(1), story(2), story(3)]
    t = triage(state(True), stories, Known(frozenset(), frozenset()))
    checked = [
        Checked(stories[0], (match("faces", ("security",)),), signature=(1, 2)),
        Checked(stories[1]),
        Checked(stories[2], (match("leaks", ("legal",)), match("faces", ("security",)))),
    ]
    poll = plan_poll("wire", t, checked, Noise(), ROUTING, NOW)
    assert poll.matched == 2
    first, second, third = poll.stories
    assert [(d.channel, d.destination) for d in first.deliveries] == [
        ("security", destination_id(SLACK))
    ]
    assert first.signature == (1, 2) and first.fingerprint == fingerprint(stories[0])
    assert second.matches == () and second.deliveries == ()
    assert sorted((d.channel, d.destination) for d in third.deliveries) == [
        ("legal", destination_id(MAIL)),
        ("security", destination_id(SLACK)),
    ]
    assert SLACK not in repr(poll) and MAIL not in repr(poll)  # destinations are hashed
    assert [n.event for n in poll.notes] == ["rule.matched"] * 3


def test_a_rule_naming_no_channel_goes_to_every_channel():
    s = story(1)
    t = triage(state(True), [s], Known(frozenset(), frozenset()))
    poll = plan_poll("wire", t, [Checked(s, (match("faces"),))], Noise(), ROUTING, NOW)
    assert sorted(d.channel for d in poll.stories[0].deliveries) == ["legal", "security"]


def test_a_near_duplicate_of_an_alerted_story_is_stored_as_its_copy():
    s = story(1)
    t = triage(state(True), [s], Known(frozenset(), frozenset()))
    checked = [Checked(s, (match("faces"),), signature=(5,), original=(42, "other-wire", 0.91))]
    poll = plan_poll("wire", t, checked, Noise(), ROUTING, NOW)
    (p,) = poll.stories
    assert p.deliveries == () and p.duplicate_of == (42, 0.91) and p.signature is None
    assert p.matches == checked[0].matches  # the match is still stored
    assert [n.event for n in poll.notes] == ["rule.matched", "story.duplicate"]


def test_a_silenced_rule_alerts_nowhere_but_its_match_is_kept():
    s = story(1)
    t = triage(state(True), [s], Known(frozenset(), frozenset()))
    checked = [Checked(s, (match("faces"), match("leaks", ("legal",))))]
    poll = plan_poll("wire", t, checked, Noise(silenced=frozenset({"faces"})), ROUTING, NOW)
    (p,) = poll.stories
    assert len(p.matches) == 2
    assert [d.channel for d in p.deliveries] == ["legal"]
    assert ("alert.silenced", (("rule", "faces"), ("story", s.title))) in [
        (n.event, n.fields) for n in poll.notes
    ]


def test_quiet_period_holds_a_story_alerted_before_and_a_second_copy_in_the_same_poll():
    a = story(1, title="Police buy face scanners")
    b = story(2, title="Police buy face scanners!")  # same fingerprint, another link
    c = story(3, title="A leak of passport scans")
    t = triage(state(True), [a, b, c], Known(frozenset(), frozenset()))
    quiet = Routing(ROUTING.dests, ROUTING.configs, quiet=3600.0)
    checked = [
        Checked(a, (match("faces"),)),
        Checked(b, (match("faces"),)),
        Checked(c, (match("leaks"),)),
    ]
    poll = plan_poll("wire", t, checked, Noise(), quiet, NOW)
    pa, pb, pc = poll.stories
    assert pa.deliveries and not pb.deliveries and pc.deliveries
    assert set(poll.routed) == {("faces", fingerprint(a)), ("leaks", fingerprint(c))}
    # alerted in an earlier poll (the store says so): held from the start
    held = Noise(quiet=frozenset({("leaks", fingerprint(c))}))
    again = plan_poll("wire", t, checked, held, quiet, NOW)
    assert again.stories[0].deliveries and not again.stories[2].deliveries
    # with no quiet period, the same pairs alert every time
    loud = plan_poll("wire", t, checked, held, ROUTING, NOW)
    assert all(p.deliveries for p in loud.stories) and loud.routed == ()


def test_full_text_found_before_matching_is_what_gets_stored():
    s = story(1)
    longer = Story(source=s.source, key=s.key, title=s.title, link=s.link, body="the whole article")
    t = triage(state(True), [s], Known(frozenset(), frozenset()))
    poll = plan_poll("wire", t, [Checked(longer)], Noise(), ROUTING, NOW)
    assert poll.stories[0].story.body == "the whole article"


def test_alerts_beyond_the_cap_per_poll_become_one_summary_alert():
    stories = [story(n) for n in range(30)]
    t = triage(state(True), stories, Known(frozenset(), frozenset()))
    checked = [Checked(s, (match("face", ("security",)),)) for s in t.to_match]
    capped = Routing(ROUTING.dests, ROUTING.configs, max_alerts=5)
    poll = plan_poll("wire", t, checked, Noise(), capped, NOW)
    alerted = [p for p in poll.stories if p.deliveries and p.story.key.startswith("guid:")]
    assert [p.story.key for p in alerted] == [f"guid:{n}" for n in range(5)]
    # every story is stored with its matches, the withheld ones without deliveries
    assert len([p for p in poll.stories if p.story.key.startswith("guid:")]) == 30
    assert all(p.matches for p in poll.stories if p.story.key.startswith("guid:"))
    summary = poll.stories[-1]
    assert summary.story.title == "25 more matching stories from wire in one poll"
    assert "Story number 5" in summary.story.summary and "... and 5 more" in summary.story.summary
    assert [d.channel for d in summary.deliveries] == ["security"] and not summary.matches
    assert any(n.event == "alert.capped" for n in poll.notes)
    uncapped = plan_poll("wire", t, checked, Noise(), ROUTING, NOW)
    assert all(p.deliveries for p in uncapped.stories) and len(uncapped.stories) == 30
