"""GDELT DOC 2.0 article lists (``mode=ArtList&format=json``): worldwide news
in 65 languages, searched by keyword with ``sourcelang:``,
``sourcecountry:`` and ``domain:`` filters written into the query.

    {"articles": [{"url": ..., "title": ..., "seendate": "20261201T174500Z",
                   "domain": ..., "language": "English", "sourcecountry": ...}]}

An empty result is ``{}``. GDELT answers a rejected query, and a client
that asks more often than once every five seconds, with a line of plain
text and status 200: the first is "query_rejected", the second
"rate_limited". The five seconds hold for every gdelt source together
(Search.min_gap, kept by the scheduler).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from ..identity import RawItem
from .errors import SourceError
from .kind import Kind, Known, Search
from .options import GdeltOptions
from .search import OPTIONS, check_search, rejected_or_refused
from .text import collapse

if TYPE_CHECKING:
    from ..config import SourceConfig
    from ..fetch import FetchResult

MIN_GAP = 5.0
# GDELT's language names, as `language` gives them, for the ones rules read
_LANGS = {
    "english": "en",
    "chinese": "zh",
    "french": "fr",
    "german": "de",
    "spanish": "es",
    "japanese": "ja",
    "korean": "ko",
    "russian": "ru",
    "portuguese": "pt",
    "italian": "it",
    "arabic": "ar",
}


def seen_time(value: object) -> datetime | None:
    """GDELT's seendate, 20261201T174500Z."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip(), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def parse_gdelt(body: bytes) -> list[RawItem]:
    rejected_or_refused(body, "gdelt")
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as e:
        raise SourceError("not_a_feed", f"gdelt answer is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise SourceError("not_a_feed", "gdelt answer is not an article list")
    articles = doc.get("articles", [])
    if not isinstance(articles, list):
        raise SourceError("not_a_feed", "gdelt answer's 'articles' is not a list")
    out = []
    for a in articles:
        if not isinstance(a, dict) or not isinstance(a.get("url"), str):
            continue
        lang = a.get("language")
        out.append(
            RawItem(
                title=collapse(str(a.get("title") or "")),
                link=a["url"].strip(),
                published=seen_time(a.get("seendate")),
                lang=_LANGS.get(lang.lower()) if isinstance(lang, str) else None,
                outlet=collapse(str(a.get("domain") or "")),
            )
        )
    return out


def _url(src: SourceConfig, base: str, query: str | None, lang: str | None) -> str:
    opts = src.gdelt or GdeltOptions()
    if src.queries is None and src.query is not None:
        from .search import filters_suffix

        query = src.query + filters_suffix(src, lang)
    params = {
        "query": query or "",
        "mode": "ArtList",
        "format": "json",
        "sort": "DateDesc",
        "maxrecords": str(opts.maxrecords),
        "timespan": opts.timespan,
    }
    return f"{base.rstrip('/')}/api/v2/doc/doc?{urlencode(params)}"


def _parse(source: SourceConfig, result: FetchResult, known: Known) -> list[RawItem]:
    return parse_gdelt(result.body)


def _check(src: SourceConfig) -> None:
    check_search(src)
    opts = src.gdelt
    if opts is not None:
        span = opts.timespan.strip().lower()
        for unit in ("min", "h", "d", "w", "m"):
            if span.endswith(unit) and span[: -len(unit)].isdigit():
                break
        else:
            raise ValueError(
                f"'{opts.timespan}' is not a GDELT timespan (expected e.g. 15min, 24h, 1d, 1w)"
            )
        if not 1 <= opts.maxrecords <= 250:
            raise ValueError("gdelt 'maxrecords' is between 1 and 250")


KIND = Kind(
    "gdelt",
    _parse,
    options=OPTIONS + ("gdelt",),
    check=_check,
    search=Search("https://api.gdeltproject.org", _url, limit=250, syntax="gdelt", min_gap=MIN_GAP),
)
