"""A poll's decisions, with no I/O: what is new, what is a silent baseline
or a copy of a story already stored, what matched, and which destinations
get an alert. The service reads what these need from the store first
(`Known`, `Noise`, the near-duplicate of each matched story), fetches full
text where a source asks for it, and hands the resulting plan to
`Store.record_poll`, which writes it in one transaction.

Nothing here reads the clock, the network or the database, so every
decision can be tested on plain values (tests/test_plan.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .alerts.route import fingerprint, plan_deliveries, route
from .identity import story_url
from .models import Match, Story
from .store import Planned, SourceState

if TYPE_CHECKING:
    from .config import ChannelConfig


@dataclass(frozen=True, slots=True)
class Known:
    """What the store already holds of a parsed document."""

    keys: frozenset[str]  # this source's stored story keys
    urls: frozenset[str]  # canonical URLs stored from any source
    # story key -> canonical URL, for the stories the caller computed it for
    # (once per story: it is the costliest step of a poll's bookkeeping)
    canonical: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Triage:
    """A parsed document sorted: the new stories, and which of them are
    to be matched (neither part of a baseline nor a copy)."""

    baseline: bool
    new: tuple[Story, ...]
    to_match: tuple[Story, ...]
    canonical: Mapping[str, str] | None = None  # story key -> canonical URL, of the new


def triage(state: SourceState | None, stories: Iterable[Story], known: Known) -> Triage:
    """A source's first poll is a baseline: its stories are stored, none
    alerts. A story whose canonical URL is stored already (from any source,
    or earlier in this same document) is a copy and does not alert again."""
    baseline = state is None or not state.baseline_done
    new = tuple(s for s in stories if s.key not in known.keys)
    seen_urls = set(known.urls)
    given = known.canonical or {}
    canonical: dict[str, str] = {}
    to_match: list[Story] = []
    for story in new:
        canon = given.get(story.key)
        if canon is None:
            canon = story_url(story)  # the link, with its #fragment when that alone tells it apart
        canonical[story.key] = canon
        duplicate = bool(canon) and canon in seen_urls
        if canon:
            seen_urls.add(canon)  # a second copy in this same document is a duplicate too
        if not (baseline or duplicate):
            to_match.append(story)
    return Triage(baseline, new, tuple(to_match), canonical)


@dataclass(frozen=True, slots=True)
class Checked:
    """A story to be matched, after matching: `story` carries its full text
    when the source asks for it; `original` is the stored story it nearly
    duplicates (id, source, similarity), looked up for matched stories only."""

    story: Story
    matches: tuple[Match, ...] = ()
    signature: tuple[int, ...] | None = None
    original: tuple[int, str, float] | None = None
    vector: tuple[str, bytes] | None = None  # (encoder id, embedding) to store with it


@dataclass(frozen=True, slots=True)
class Noise:
    """The store's side of the noise controls, read before deciding."""

    silenced: frozenset[str] = frozenset()  # rules silenced now
    quiet: frozenset[tuple[str, str]] = frozenset()  # (rule, fingerprint) in its quiet period


@dataclass(frozen=True, slots=True)
class Routing:
    """Where alerts go: channel -> Apprise URLs, the channels' settings, the
    quiet period (None or 0: off), and the dashboard's address the alerts
    link to (http.public_url, or None)."""

    dests: Mapping[str, list[str]]
    configs: Mapping[str, ChannelConfig]
    quiet: float | None = None
    # Alerting stories per poll; beyond it, one summary alert (None: no cap)
    max_alerts: int | None = None
    public_url: str | None = None


@dataclass(frozen=True, slots=True)
class Note:
    """A decision worth a log line (the service logs them in order)."""

    event: str
    fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class PollPlan:
    """Everything a poll writes: one Planned per new story, in document order."""

    baseline: bool
    stories: tuple[Planned, ...]
    matched: int  # new stories with at least one match
    notes: tuple[Note, ...] = ()
    routed: tuple[tuple[str, str], ...] = ()  # (rule, fingerprint) that alerted


def screen(
    story: Story,
    fp: str,
    matches: Iterable[Match],
    noise: Noise,
    quiet: bool,
    alerted: set[tuple[str, str]] | None = None,
) -> tuple[list[Match], list[Note]]:
    """The matches that may alert: not silenced, and not in their quiet
    period for this fingerprint (from the store, or from `alerted`, the
    pairs that alerted earlier in the same poll)."""
    kept: list[Match] = []
    notes: list[Note] = []
    for m in matches:
        if m.rule_id in noise.silenced:
            notes.append(
                Note("alert.silenced", (("rule", m.rule_id), ("story", story.title[:120])))
            )
            continue
        if quiet and ((m.rule_id, fp) in noise.quiet or (m.rule_id, fp) in (alerted or ())):
            notes.append(Note("alert.quiet", (("rule", m.rule_id), ("story", story.title[:120]))))
            continue
        kept.append(m)
    return kept, notes


def routed_pairs(
    kept: list[Match], fp: str, dests: Mapping[str, list[str]], configs: Mapping
) -> list[tuple[str, str]]:
    """The (rule, fingerprint) pairs that reach a channel: they start a quiet period."""
    return [(m.rule_id, fp) for ms in route(kept, list(dests), dict(configs)).values() for m in ms]


def plan_poll(
    source: str,
    triage: Triage,
    checked: Sequence[Checked],
    noise: Noise,
    routing: Routing,
    now: float,
) -> PollPlan:
    """The plan of a poll: every new story stored; a matched story routed
    to its channels, unless it nearly duplicates a story already alerted
    (then it is stored as that story's copy, with no alert of its own)."""
    checked = list(checked)
    if len(checked) != len(triage.to_match):
        raise ValueError("one Checked per story to match, in order")
    known_canon = triage.canonical or {}

    def canon(story: Story) -> str | None:
        return known_canon.get(story.key)

    pending = iter(zip(triage.to_match, checked, strict=True))
    nxt = next(pending, None)
    planned: list[Planned] = []
    notes: list[Note] = []
    alerted: set[tuple[str, str]] = set()
    routed: list[tuple[str, str]] = []
    matched = alerting = 0
    withheld: list[tuple[Story, list[Match]]] = []
    for story in triage.new:
        c = None
        if nxt is not None and nxt[0] is story:
            c, nxt = nxt[1], next(pending, None)
        if c is None or not c.matches:
            planned.append(
                Planned(c.story, vector=c.vector, canonical=canon(story))
                if c is not None
                else Planned(story, canonical=canon(story))
            )
            continue
        story = c.story
        matched += 1
        for m in c.matches:
            notes.append(
                Note(
                    "rule.matched",
                    (
                        ("source", source),
                        ("rule", m.rule_id),
                        ("story", story.title[:120]),
                        ("terms", "|".join(m.terms)),
                    ),
                )
            )
        if c.original is not None:  # another outlet's copy of a story already alerted: one alert
            notes.append(
                Note(
                    "story.duplicate",
                    (
                        ("source", source),
                        ("story", story.title[:120]),
                        ("of_source", c.original[1]),
                        ("similarity", f"{c.original[2]:.2f}"),
                    ),
                )
            )
            planned.append(
                Planned(
                    story,
                    c.matches,
                    (),
                    fingerprint(story),
                    duplicate_of=(c.original[0], c.original[2]),
                    vector=c.vector,
                    canonical=canon(story),
                )
            )
            continue
        fp = fingerprint(story)
        kept, why = screen(story, fp, c.matches, noise, bool(routing.quiet), alerted)
        notes.extend(why)
        if kept and routing.max_alerts is not None and alerting >= routing.max_alerts:
            # Over the cap: stored with its matches; the summary below tells of it.
            withheld.append((story, kept))
            planned.append(
                Planned(
                    story,
                    c.matches,
                    (),
                    fp,
                    signature=c.signature,
                    vector=c.vector,
                    canonical=canon(story),
                )
            )
            continue
        deliveries = plan_deliveries(
            story, kept, dict(routing.dests), dict(routing.configs), now, routing.public_url
        )
        alerting += 1 if deliveries else 0
        if routing.quiet:
            pairs = routed_pairs(kept, fp, routing.dests, routing.configs)
            alerted.update(pairs)
            routed.extend(pairs)
        planned.append(
            Planned(
                story,
                c.matches,
                tuple(deliveries),
                fp,
                signature=c.signature,
                vector=c.vector,
                canonical=canon(story),
            )
        )
    if withheld:
        summary = summary_of(source, withheld, now)
        notes.append(Note("alert.capped", (("source", source), ("withheld", str(len(withheld))))))
        deliveries = plan_deliveries(
            summary.story, list(summary.matches), dict(routing.dests), dict(routing.configs), now
        )
        # stored without matches of its own: the counts per rule stay the stories'
        planned.append(Planned(summary.story, (), tuple(deliveries)))
    return PollPlan(triage.baseline, tuple(planned), matched, tuple(notes), tuple(routed))


SUMMARY_TITLES = 20  # withheld stories named in a summary alert


def summary_of(source: str, withheld: Sequence[tuple[Story, list[Match]]], now: float) -> Checked:
    """One story standing for the matching stories a poll did not alert on
    (over delivery.max_alerts_per_poll): their titles, routed as the union
    of their matches (one per rule) would be."""
    n = len(withheld)
    lines = [f"- {story.title}" for story, _ in withheld[:SUMMARY_TITLES]]
    if n > SUMMARY_TITLES:
        lines.append(f"... and {n - SUMMARY_TITLES} more")
    text = "\n".join(lines)
    story = Story(
        source=source,
        key=f"summary:{now:.6f}",
        title=f"{n} more matching {'story' if n == 1 else 'stories'} from {source} in one poll",
        summary=text,
    )
    by_rule: dict[str, Match] = {}
    for _, matches in withheld:
        for m in matches:
            by_rule.setdefault(m.rule_id, m)
    merged = tuple(
        Match(m.rule_id, m.rule_title, m.severity, m.tags, m.channels, (), text)
        for m in by_rule.values()
    )
    return Checked(story, merged)
