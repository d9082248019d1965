"""What a source kind registers: its name, its one entry point, and the
source options it owns (with the check of them that only it can make).

    parse(source, result, known) -> list[RawItem]

The options stay fields of SourceConfig, so a config file reads the same;
a kind only says which of them are its own. Another kind's option on a
source is refused with "'select' is only for html sources, not rss".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.config import SourceConfig
    from monitor.fetch import FetchResult
    from monitor.identity import RawItem

Known = Callable[[list[str]], set[str]] | None


@dataclass(frozen=True)
class Kind:
    name: str
    parse: Callable[[SourceConfig, FetchResult, Known], list[RawItem]]
    # SourceConfig fields only this kind may set
    options: tuple[str, ...] = ()
    # raises ValueError (one line) when the kind's own options do not fit
    check: Callable[[SourceConfig], None] | None = None
    # a kind that searches a service: how its URLs and queries are built
    search: Search | None = None
    # a scraped web page: robots.txt is asked first
    robots: bool = False


@dataclass(frozen=True)
class Search:
    """A search service. `url(source, base, query, lang)` is the URL of one
    search (query None: the source's own hashtag or channel); `base` is the
    source's api_base or `endpoint`. Queries built from the rules are cut to
    at most `limit` characters (0: the service takes no queries from rules);
    `syntax` says how terms are combined ("or": "a b" OR c; "gdelt": the
    same in parentheses; "words": plain words, any of which may match)."""

    endpoint: str
    url: Callable[[SourceConfig, str, str | None, str | None], str]
    limit: int = 0
    syntax: str = "or"
    chinese: bool = True  # Chinese terms get a Chinese-language search of their own
    # at most one request every `min_gap` seconds to the service, all its sources together
    min_gap: float = 0.0


def content_type(result: FetchResult) -> str | None:
    return result.headers.get("content-type") if result.headers else None
