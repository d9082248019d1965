"""Which channels get which matches, and the outbox rows that follow."""
from __future__ import annotations

from collections import OrderedDict

from ..models import Alert, Match, Story
from ..store import Delivery, destination_id
from .render import render_text

STDOUT_CHANNEL = "stdout"


def destinations(channels: dict[str, list[str]]) -> dict[str, list[str]]:
    """Channel name -> Apprise URLs; a channel with no URL, or no channel
    at all, prints to standard output so the monitor is useful at once."""
    if not channels:
        return {STDOUT_CHANNEL: ["stdout"]}
    return {name: (urls or ["stdout"]) for name, urls in channels.items()}


def route(matches: list[Match], channel_names: list[str]) -> "OrderedDict[str, list[Match]]":
    """Channel -> the matches routed to it. A rule naming no channels goes to
    every channel; one story gives one alert per channel naming every rule."""
    routed: OrderedDict[str, list[Match]] = OrderedDict((c, []) for c in channel_names)
    for m in matches:
        for channel in (m.channels or channel_names):
            if channel in routed:
                routed[channel].append(m)
    return OrderedDict((c, ms) for c, ms in routed.items() if ms)


def plan_deliveries(story: Story, matches: list[Match], dests: dict[str, list[str]]) -> list[Delivery]:
    out: list[Delivery] = []
    for channel, ms in route(matches, list(dests)).items():
        title, body = render_text(Alert(channel, story, tuple(ms)))
        for url in dests[channel]:
            out.append(Delivery(channel, destination_id(url), title, body))
    return out
