"""The nouns that flow through the monitor: Story, Match, Alert.

Plain frozen values: parsing and deciding code takes and returns these, and
only fetch/, store/ and the alerts package touch the outside world.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Story:
    """One news item, normalised by a watcher.

    `key` is the story's identity inside its source (see identity.py):
    ``guid:<guid>``, ``url:<canonical url>`` or ``hash:<sha256>``.
    """

    source: str
    key: str
    title: str
    link: str = ""
    summary: str = ""
    published: datetime | None = None
    body: str = ""
    lang: str | None = None
    guid: str | None = None
    # the publisher named by a search service ("The Outlet", "@user@host"),
    # shown with the source in alerts; not stored
    outlet: str = ""

    def field(self, name: str) -> str:
        """Text of a field a rule can read (title, summary, body, url, source)."""
        if name == "url":
            return self.link
        if name == "source":
            return self.source
        return getattr(self, name) or ""


@dataclass(frozen=True, slots=True)
class Match:
    """One rule that matched one story, with the evidence."""

    rule_id: str
    rule_title: str
    severity: str
    tags: tuple[str, ...]
    channels: tuple[str, ...]  # empty: every channel
    terms: tuple[str, ...]  # the rule's terms that were found, first hit first
    snippet: str  # a short window of the story's text around the first hit


@dataclass(frozen=True, slots=True)
class Alert:
    """What one channel receives about one story: every rule routed to it."""

    channel: str
    story: Story
    matches: tuple[Match, ...] = field(default_factory=tuple)
    page: str = ""  # the story's page on the dashboard (http.public_url), or
