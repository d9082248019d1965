"""Every source kind, by name: adding a kind is one module (its entry point
and options, see kind.py) and one line here. The order is the order in which
misplaced options are reported."""

from __future__ import annotations

from monitor.sources import (
    gdelt,
    hackernews,
    html,
    jsonapi,
    mastodon,
    newsrss,
    rss,
    sitemap,
    telegram,
)
from monitor.sources.kind import Kind

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        rss.KIND,
        html.KIND,
        sitemap.KIND,
        jsonapi.KIND,
        newsrss.GOOGLE,
        newsrss.BING,
        gdelt.KIND,
        mastodon.KIND,
        hackernews.KIND,
        telegram.KIND,
    )
}
