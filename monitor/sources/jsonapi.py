"""JSON APIs: fetched bytes -> RawItems, by dot paths from the config.

    json:
      items: data.articles      # the list of stories ("" for a top-level list)
      title: headline
      link: links.web           # resolved against the API's URL
      summary: standfirst
      published: meta.published_at
      guid: id

A path is keys joined by dots; a number picks from a list (``media.0.url``).
A path that leads nowhere gives an empty field, not an error; an ``items``
path that does not lead to a list is "not_a_feed".
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from ..identity import RawItem
from .budget import Budget
from .dates import parse_date
from .errors import SourceError
from .kind import Kind, Known
from .text import html_to_text

if TYPE_CHECKING:
    from ..config import SourceConfig
    from ..fetch import FetchResult


_MISSING = object()


def lookup(doc: Any, path: str) -> Any:
    """The value at a dot path, or _MISSING."""
    cur = doc
    if not path:
        return cur
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif (
            isinstance(cur, list)
            and part.lstrip("-").isdigit()
            and -len(cur) <= int(part) < len(cur)
        ):
            cur = cur[int(part)]
        else:
            return _MISSING
    return cur


def _str(value: Any) -> str:
    if value is _MISSING or value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)


def parse_json_api(body: bytes, url: str, paths) -> list[RawItem]:
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as e:
        raise SourceError(
            "not_a_feed", f"document is not JSON: {' '.join(str(e).split())[:160]}"
        ) from None
    items = lookup(doc, paths.items)
    if not isinstance(items, list):
        where = f"'{paths.items}'" if paths.items else "the top level"
        raise SourceError("not_a_feed", f"no list of items at {where} of the JSON document")
    out: list[RawItem] = []
    budget = Budget()
    for raw in items:
        budget.check(len(out))
        if not isinstance(raw, dict):
            continue
        field = lambda p: _str(lookup(raw, p)) if p else ""  # noqa: B023, E731
        link = field(paths.link).strip()
        published = lookup(raw, paths.published) if paths.published else _MISSING
        if isinstance(published, (int, float)) and not isinstance(published, bool):
            from datetime import datetime

            stamp = published / 1000 if published > 1e11 else published  # milliseconds or seconds
            try:
                when = datetime.fromtimestamp(stamp, tz=UTC)
            except (OverflowError, OSError, ValueError):
                when = None
        else:
            when = parse_date(_str(published))
        out.append(
            RawItem(
                title=html_to_text(field(paths.title)),
                link=urljoin(url, link) if link else "",
                summary=html_to_text(field(paths.summary)),
                published=when,
                guid=field(paths.guid).strip() or None,
            )
        )
    return out


def _parse(source: SourceConfig, result: FetchResult, known: Known) -> list[RawItem]:
    if source.json_paths is None:
        raise SourceError("parse_error", f"json source '{source.name}' has no 'json' paths")
    return parse_json_api(result.body, result.url, source.json_paths)


def _check(source: SourceConfig) -> None:
    if source.json_paths is None:
        raise ValueError(
            "a json source needs 'json' with at least 'title' (and 'items' unless the answer is a list)"
        )


KIND = Kind("json", _parse, options=("json_paths",), check=_check)
