"""Watchers: one module per source kind, each turning fetched bytes into
Stories with no I/O of its own.

    parse(source, result) -> list[Story]

raises SourceError(reason, message) with reason "not_a_feed", "parse_error"
or "selector_empty" and a one-line message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..identity import make_stories
from ..models import Story
from .errors import SourceError

if TYPE_CHECKING:
    from ..config import SourceConfig
    from ..fetch import FetchResult

__all__ = ["SourceError", "parse", "KINDS"]

KINDS = ("rss", "html", "sitemap", "json")


def parse(
    source: SourceConfig,
    result: FetchResult,
    known: Callable[[list[str]], set[str]] | None = None,
) -> list[Story]:
    """Stories of one fetched document of `source` (empty for a 304).

    `known` (optional) returns which of the given story keys are stored
    already; a watcher may then leave those stories out without reading
    them. Callers must still treat every returned story as possibly known."""
    if result.not_modified:
        return []
    content_type = result.headers.get("content-type") if result.headers else None
    try:
        if source.kind == "rss":
            from .rss import parse_feed

            items = parse_feed(result.body, result.url, content_type, known)
        elif source.kind == "html" and source.auto:
            from .frontpage import find_articles

            items = find_articles(result.body, result.url, content_type)
        elif source.kind == "html":
            from .html import parse_listing

            if source.select is None:
                raise SourceError("parse_error", f"html source '{source.name}' has no 'select'")
            items = parse_listing(
                result.body, result.url, source.select, content_type, source.tzinfo
            )
        elif source.kind == "sitemap":
            from .sitemap import parse_sitemap

            items = parse_sitemap(result.body, result.url)
        elif source.kind == "json":
            from .jsonapi import parse_json_api

            if source.json_paths is None:
                raise SourceError("parse_error", f"json source '{source.name}' has no 'json' paths")
            items = parse_json_api(result.body, result.url, source.json_paths)
        else:
            raise SourceError("parse_error", f"unknown source kind '{source.kind}'")
    except SourceError:
        raise
    except RecursionError:
        raise SourceError("parse_error", "document is nested too deeply to parse") from None
    except Exception as e:  # a parser bug must not stop the service; say what happened in one line
        detail = " ".join(str(e).split())[:160]
        raise SourceError("parse_error", f"{type(e).__name__}: {detail}") from None
    return make_stories(source.name, items, lang=source.lang)
