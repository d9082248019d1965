"""The option models of the source kinds that have nested options (html's
`select`, json's `json`, gdelt's `gdelt`). They are fields of SourceConfig,
so they live apart from their kinds' modules, which the registry imports
only for the kinds a config uses."""

from __future__ import annotations

from ..configbase import Strict


class Select(Strict):
    """CSS selectors for an html source: `item` finds each story's element;
    the others are searched inside it."""

    item: str
    title: str | None = None  # default: the text of the link element, else of the item
    link: str | None = None  # the href of what it finds; default: first a[href]
    summary: str | None = None
    published: str | None = None  # text (or a datetime attribute) of what it finds


class JsonPaths(Strict):
    """Dot paths into a JSON API's answer: `items` leads to the list of
    stories, the others are read inside each story."""

    items: str = ""  # "" when the document itself is the list
    title: str
    link: str | None = None
    summary: str | None = None
    published: str | None = None  # an ISO/RFC date string or a Unix time
    guid: str | None = None


class GdeltOptions(Strict):
    """Filters written into the query, and how far back to search."""

    sourcelang: str | None = None  # english, chinese, ... (GDELT's names)
    sourcecountry: str | None = None  # a FIPS country code or name: us, ch, unitedkingdom
    domain: str | None = None  # only this site: example.com
    timespan: str = "1d"  # 15min, 24h, 1d, 1w (GDELT's units)
    maxrecords: int = 100  # GDELT returns at most 250
