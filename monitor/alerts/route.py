"""Which channels get which matches, and the outbox rows that follow.

Routing: a rule's `channels` name where its matches go; a rule naming none
goes to the channels marked `default: true`, or, when no channel is marked,
to every channel. A channel with `severities` or `tags` takes only the
matches that fit them.

Noise: silenced rules and rules in their quiet period for a story give no
delivery (the match is still stored); a channel with `burst` or `digest`
holds its rows until their release time (digest.py).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from .. import log
from ..models import Alert, Match, Story
from ..store import Delivery, destination_id
from .digest import schedule_of
from .formats import SEVERITY_ORDER, alert_to_json, highest_severity
from .render import render_text

if TYPE_CHECKING:
    from ..config import ChannelConfig, DeliverySettings
    from ..plan import Noise
    from ..store import Store

STDOUT_CHANNEL = "stdout"


def destinations(channels: dict[str, list[str]], disabled: int = 0) -> dict[str, list[str]]:
    """Channel name -> Apprise URLs; a channel with no URL, or no channel
    at all, prints to standard output so the monitor is useful at once.
    Channels left out for a missing secret (`disabled` of them) are no
    reason to print alerts instead: they would count as sent."""
    if not channels and not disabled:
        return {STDOUT_CHANNEL: ["stdout"]}
    return {name: (urls or ["stdout"]) for name, urls in channels.items()}


def _takes(cfg: ChannelConfig | None, m: Match) -> bool:
    if cfg is None:
        return True
    if cfg.severities is not None and m.severity not in cfg.severities:
        return False
    if cfg.tags is not None and not set(cfg.tags) & set(m.tags):
        return False
    return True


def route(
    matches: list[Match],
    channel_names: list[str],
    configs: dict[str, ChannelConfig] | None = None,
) -> OrderedDict[str, list[Match]]:
    """Channel -> the matches routed to it; one story gives one alert per
    channel naming every rule routed there."""
    configs = configs or {}
    defaults = [
        c for c in channel_names if configs.get(c) is not None and configs[c].default
    ] or channel_names
    routed: OrderedDict[str, list[Match]] = OrderedDict((c, []) for c in channel_names)
    for m in matches:
        for channel in m.channels or defaults:
            if channel in routed and _takes(configs.get(channel), m):
                routed[channel].append(m)
    return OrderedDict((c, ms) for c, ms in routed.items() if ms)


def fingerprint(story: Story) -> str:
    """The story's title reduced to letters and digits: the same story
    carried under another link or by another source has the same one."""
    text = unicodedata.normalize("NFKC", story.title or story.link).casefold()
    text = re.sub(r"[\W_]+", "", text)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def plan_deliveries(
    story: Story,
    matches: list[Match],
    dests: dict[str, list[str]],
    configs: dict[str, ChannelConfig] | None = None,
    now: float = 0.0,
    public_url: str | None = None,
) -> list[Delivery]:
    out: list[Delivery] = []
    configs = configs or {}
    page = story_page(public_url, story) if public_url else ""
    for channel, ms in route(matches, list(dests), configs).items():
        alert = Alert(channel, story, tuple(ms), page)
        title, body = render_text(alert)
        fold, release = "", None
        cfg = configs.get(channel)
        if cfg is not None and cfg.digest is not None:
            bypass = cfg.digest_bypass is not None and SEVERITY_ORDER.index(
                highest_severity(ms)
            ) >= SEVERITY_ORDER.index(cfg.digest_bypass)
            if not bypass:
                fold, release = "digest", schedule_of(cfg.digest)(now)
        elif cfg is not None and cfg.burst is not None:
            fold, release = "burst", now + cfg.burst
        data = alert_to_json(alert)
        for url in dests[channel]:
            out.append(Delivery(channel, destination_id(url), title, body, data, fold, release))
    return out


def story_page(public_url: str, story: Story) -> str:
    """The dashboard's page of a story not yet stored (its id is not known):
    found by source and key. Reading it changes nothing; its feedback
    buttons are forms, so a chat client's link preview cannot press them."""
    query = urlencode({"source": story.source, "key": story.key})
    return f"{public_url.rstrip('/')}/story/at?{query}"


@dataclass
class Router:
    """Routing with the noise controls that need the store: silences and
    quiet periods. One per service loop."""

    dests: dict[str, list[str]]
    configs: dict[str, ChannelConfig]
    settings: DeliverySettings
    store: Store
    public_url: str | None = None  # http.public_url: alerts link to the story's page
    _recent: dict[tuple[str, str], float] = field(default_factory=dict)

    def noise(self, pairs: Iterable[tuple[str, str]], now: float) -> Noise:
        """The silences in force, and which of these (rule, fingerprint)
        pairs are in their quiet period: alerted since `now - quiet`, as the
        store or this router remembers it."""
        from ..plan import Noise  # plan builds on this module

        silenced = frozenset(self.store.silenced_rules(now))
        quiet: set[tuple[str, str]] = set()
        if self.settings.quiet:
            since = now - self.settings.quiet
            for rule_id, fp in set(pairs):
                if rule_id in silenced:
                    continue
                seen = self._recent.get((rule_id, fp))
                if (seen is not None and seen >= since) or self.store.recently_alerted(
                    rule_id, fp, since
                ):
                    quiet.add((rule_id, fp))
        return Noise(silenced, frozenset(quiet))

    def remember(self, pairs: Iterable[tuple[str, str]], now: float) -> None:
        """Pairs that alerted: remembered here too, for the next poll that
        comes before the store has them."""
        for pair in pairs:
            self._recent[pair] = now

    def plan(self, story: Story, matches: list[Match], now: float) -> tuple[str, list[Delivery]]:
        """(fingerprint, deliveries) for a new story's matches."""
        from ..plan import routed_pairs, screen

        fp = fingerprint(story)
        kept, notes = screen(
            story,
            fp,
            matches,
            self.noise(((m.rule_id, fp) for m in matches), now),
            bool(self.settings.quiet),
        )
        for note in notes:
            log.event(note.event, **dict(note.fields))
        deliveries = plan_deliveries(story, kept, self.dests, self.configs, now, self.public_url)
        if self.settings.quiet:
            self.remember(routed_pairs(kept, fp, self.dests, self.configs), now)
        return fp, deliveries
