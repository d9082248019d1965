"""Mastodon: a hashtag timeline (``/api/v1/timelines/tag/NAME``) or a
status search (``/api/v2/search?type=statuses``) on one instance.

Each post is a story: its HTML content reduced to text (the content
warning, when there is one, first), its author as the outlet, its own
language. A boost (``reblog`` set) repeats someone else's post and is not a
new story; a post is identified by its ActivityPub ``uri``, the same on
every instance, so the post reached through two instances is one story.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from ..identity import RawItem
from .dates import parse_date
from .errors import SourceError
from .kind import Kind, Known, Search
from .search import rejected_or_refused
from .text import collapse, html_to_text, primary_lang

if TYPE_CHECKING:
    from ..config import SourceConfig
    from ..fetch import FetchResult

TITLE_CHARS = 120
_HASHTAG = re.compile(r"^[^\W][\w]*$")


def short_title(text: str, limit: int = TITLE_CHARS) -> str:
    """A post's first line or sentence, at most `limit` characters."""
    text = collapse(text)
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut) + "…"


def _post(raw: Any) -> RawItem | None:
    if not isinstance(raw, dict) or raw.get("reblog"):
        return None  # a boost: the post it repeats is the story
    content = raw.get("content") if isinstance(raw.get("content"), str) else ""
    text = html_to_text(content)
    warning = collapse(raw.get("spoiler_text") if isinstance(raw.get("spoiler_text"), str) else "")
    if warning:
        text = f"{warning}: {text}" if text else warning
    if not text:
        return None
    account: dict = raw["account"] if isinstance(raw.get("account"), dict) else {}
    author = str(account.get("acct") or account.get("username") or "").strip()
    link = str(raw.get("url") or raw.get("uri") or "").strip()
    guid = str(raw.get("uri") or raw.get("id") or "").strip()
    return RawItem(
        title=short_title(text),
        link=link,
        summary=text,
        published=parse_date(str(raw.get("created_at") or "")),
        guid=guid or None,
        lang=primary_lang(raw.get("language") if isinstance(raw.get("language"), str) else None),
        outlet=f"@{author}" if author else "",
    )


def _key(raw: Any) -> str | None:
    """make_stories' key of a post (its uri), None when it cannot be told here."""
    if not isinstance(raw, dict) or raw.get("reblog"):
        return None
    uri = str(raw.get("uri") or raw.get("id") or "").strip()
    return f"guid:{uri}" if uri else None


def parse_mastodon(body: bytes, known: Known = None) -> list[RawItem]:
    """Posts of a timeline or search; with `known`, the stored ones are
    left out before their HTML is read."""
    rejected_or_refused(body, "mastodon")
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as e:
        raise SourceError("not_a_feed", f"mastodon answer is not JSON: {e}") from None
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        message = collapse(doc["error"])[:200]
        if "too many" in message.lower() or "rate" in message.lower():
            raise SourceError("rate_limited", f"mastodon refused the request: {message}")
        raise SourceError("query_rejected", f"mastodon rejected the request: {message}")
    statuses = doc.get("statuses") if isinstance(doc, dict) else doc
    if not isinstance(statuses, list):
        raise SourceError("not_a_feed", "mastodon answer is not a list of posts")
    if known is not None:
        keys = [_key(raw) for raw in statuses]
        if len(set(k for k in keys if k)) == len([k for k in keys if k]):  # uris unique
            found = known([k for k in keys if k])
            statuses = [raw for raw, k in zip(statuses, keys) if k is None or k not in found]
    return [item for item in map(_post, statuses) if item is not None]


def _url(src: SourceConfig, base: str, query: str | None, lang: str | None) -> str:
    base = base.rstrip("/")
    if src.hashtag:
        tag = src.hashtag.lstrip("#")
        return f"{base}/api/v1/timelines/tag/{quote(tag)}?limit=40"
    return (
        f"{base}/api/v2/search?{urlencode({'q': query or '', 'type': 'statuses', 'limit': '40'})}"
    )


def _parse(source: SourceConfig, result: FetchResult, known: Known) -> list[RawItem]:
    return parse_mastodon(result.body, known)


def _check(src: SourceConfig) -> None:
    if src.queries is not None:
        raise ValueError("mastodon sources take no 'queries: from_rules' (use 'hashtag')")
    if src.hashtag is not None and src.query is not None:
        raise ValueError("a mastodon source takes 'hashtag' or 'query', not both")
    if src.hashtag is not None and not _HASHTAG.match(src.hashtag.lstrip("#")):
        raise ValueError(f"'{src.hashtag}' is not a hashtag (letters, digits and _ only)")
    if src.hashtag is None and src.query is None and not src.url:
        raise ValueError("a mastodon source needs 'hashtag' (a timeline) or 'query' (a search)")


KIND = Kind(
    "mastodon",
    _parse,
    options=("query", "api_base", "hashtag"),
    check=_check,
    search=Search("https://mastodon.social", _url),
)
