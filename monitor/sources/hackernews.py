"""Hacker News through Algolia's search API (``/api/v1/search_by_date``,
``tags=story``), newest first.

    {"hits": [{"objectID": "43512345", "title": ..., "url": ...,
               "author": ..., "created_at": "2026-12-01T17:45:00Z",
               "story_text": null}], "nbHits": ..., "page": 0}

A story links to its article (the discussion page for Ask HN and other
text posts); the article's canonical URL makes the story reached through
the outlet's own feed the same one. Algolia's query language has no OR:
a query built from the rules is sent as words of which any may match
(``optionalWords``), and the rules decide as always.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from ..identity import RawItem
from .dates import parse_date
from .errors import SourceError
from .kind import Kind, Known, Search
from .search import OPTIONS, check_search
from .text import collapse, html_to_text

if TYPE_CHECKING:
    from ..config import SourceConfig
    from ..fetch import FetchResult

ITEM = "https://news.ycombinator.com/item?id="


def parse_hackernews(body: bytes) -> list[RawItem]:
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as e:
        raise SourceError("not_a_feed", f"hacker news answer is not JSON: {e}") from None
    if isinstance(doc, dict) and "hits" not in doc and isinstance(doc.get("message"), str):
        raise SourceError(
            "query_rejected",
            f"hacker news search rejected the query: {collapse(doc['message'])[:200]}",
        )
    hits = doc.get("hits") if isinstance(doc, dict) else None
    if not isinstance(hits, list):
        raise SourceError("not_a_feed", "hacker news answer has no 'hits' list")
    out = []
    for hit in hits:
        if not isinstance(hit, dict) or not hit.get("objectID"):
            continue
        oid = str(hit["objectID"]).strip()
        url = str(hit.get("url") or "").strip()
        try:
            host = (urlsplit(url).hostname or "") if url else ""
        except ValueError:
            host, url = "", ""
        out.append(
            RawItem(
                title=collapse(str(hit.get("title") or "")),
                link=url or ITEM + oid,
                summary=html_to_text(
                    hit.get("story_text") if isinstance(hit.get("story_text"), str) else ""
                ),
                published=parse_date(str(hit.get("created_at") or "")),
                guid=f"hn:{oid}",
                lang="en",
                outlet=host or "news.ycombinator.com",
            )
        )
    return out


def _url(src: SourceConfig, base: str, query: str | None, lang: str | None) -> str:
    params = {"tags": "story", "hitsPerPage": "100", "query": query or ""}
    if src.queries is not None and query:
        params["optionalWords"] = ",".join(query.split())
    return f"{base.rstrip('/')}/api/v1/search_by_date?{urlencode(params)}"


def _parse(source: SourceConfig, result: FetchResult, known: Known) -> list[RawItem]:
    return parse_hackernews(result.body)


KIND = Kind(
    "hackernews",
    _parse,
    options=OPTIONS,
    check=check_search,
    search=Search("https://hn.algolia.com", _url, limit=200, syntax="words", chinese=False),
)
