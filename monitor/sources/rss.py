"""RSS 0.9x/1.0/2.0, Atom and JSON Feed: fetched bytes -> RawItems.

feedparser reads XML feeds (it is forgiving of broken ones). It is given a
BytesIO of the fetched body, never a URL or a string: given a string or bytes
it may fetch a URL or open a local file of that name. feedparser 6.0 does not
read JSON Feed, so JSON Feed is parsed here with json.
"""

from __future__ import annotations

import calendar
import io
import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..identity import MAX_STORIES, RawItem, join_url
from ..textdecode import charset_from_content_type, normalize_charset
from .budget import Budget
from .dates import parse_feed_date
from .errors import SourceError
from .kind import Kind, Known, content_type
from .text import collapse, html_to_text, primary_lang
from .xmlprep import prepare

if TYPE_CHECKING:
    from ..config import SourceConfig
    from ..fetch import FetchResult

_XML_DECL = re.compile(
    rb"""^(\s*<\?xml[^>]*?\bencoding\s*=\s*["'])([A-Za-z0-9_.:+-]+)(["'])""", re.I
)
_JSON_TYPES = ("application/feed+json", "application/json", "text/json")
# Charsets whose labels understate what real feeds contain (see textdecode):
# a feed labelled ISO-8859-1 carries cp1252 quotes and dashes.
_WIDENED = {"gb18030", "big5hkscs", "cp1252"}
_TITLE_FROM_TEXT = 120


def _drop_wp_footer(text: str, title: str) -> str:
    """WordPress ends summaries with "The post <title> appeared first on <site>."."""
    if not title or "appeared first on" not in text:
        return text
    return re.sub(
        r"\s*The post " + re.escape(title) + r" appeared first on [^.]{1,200}\.?\s*$", "", text
    )


def parse_feed(body: bytes, url: str, content_type: str | None = None, known=None) -> list[RawItem]:
    """Items of an RSS, Atom or JSON feed. Raises SourceError("not_a_feed")
    when the bytes hold no feed at all."""
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise SourceError("not_a_feed", "empty document")
    ctype = (content_type or "").split(";")[0].strip().lower()
    if stripped[:1] in (b"{", b"[") or ctype in _JSON_TYPES:
        return parse_json_feed(body, url)
    return parse_xml_feed(body, url, content_type, known)


# -- XML feeds ---------------------------------------------------------------


def _widen_encoding(body: bytes, content_type: str | None) -> tuple[bytes, str | None]:
    """Re-encode a gb2312/gbk/big5/latin-1-labelled feed as UTF-8 through the
    wider codec, so GBK-only characters and cp1252 punctuation survive
    feedparser's strict decoding and reach the fast path as characters."""
    m = _XML_DECL.match(body)
    labels = [charset_from_content_type(content_type), m.group(2).decode("ascii") if m else None]
    codec = next((c for c in map(normalize_charset, labels) if c), None)
    if codec not in _WIDENED:
        return body, content_type
    text = body.decode(codec, errors="replace").encode("utf-8")
    if m:
        text = _XML_DECL.sub(lambda mm: mm.group(1) + b"utf-8" + mm.group(3), text, count=1)
    mime = (content_type or "application/xml").split(";")[0].strip()
    return text, f"{mime}; charset=utf-8"


def _struct_to_dt(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _entry_date(entry: Any) -> datetime | None:
    for key in ("published", "updated", "created"):
        parsed = entry.get(f"{key}_parsed")
        if parsed:
            dt = _struct_to_dt(parsed)
            if dt:
                return dt
        raw = entry.get(key)
        if raw:
            dt = parse_feed_date(raw)
            if dt:
                return dt
    return None


def _detail_text(value: str | None, detail: Any) -> str:
    """Text of a feedparser text construct (plain or HTML)."""
    kind = (detail or {}).get("type", "") if detail else ""
    if kind and "html" not in kind and "xml" not in kind:
        return collapse(value)
    return html_to_text(value)


def _entry_link(entry: Any, base: str) -> str:
    link = entry.get("link") or ""
    if not link:
        for l in entry.get("links", []) or []:
            if l.get("href") and l.get("rel", "alternate") == "alternate":
                link = l["href"]
                break
    if not link:
        guid = entry.get("id") or ""
        if re.match(r"^https?://", guid) and entry.get("guidislink", True):
            link = guid
    link = link.strip()
    return join_url(base, link) if link else ""


# The lxml fast path (fastfeed.py) first, feedparser when it gives up. Tests
# turn the fast path off to run the hostile-server suite through both.
FAST_PATH = True


def _declared_encoding(data: bytes) -> str | None:
    m = _XML_DECL.match(data.lstrip(b"\xef\xbb\xbf"))
    return normalize_charset(m.group(2).decode("ascii")) if m else None


def _fast_path_fits(data: bytes, ctype: str | None) -> bool:
    """lxml decodes by BOM and XML declaration only; when the HTTP header
    names another charset, feedparser's rules decide."""
    header = normalize_charset(charset_from_content_type(ctype))
    if header is None:
        return True
    declared = _declared_encoding(data) or "utf-8"
    return header == declared


def fast_items(data: bytes, url: str, ctype: str | None, known=None) -> list[RawItem] | None:
    """The fast path's items, or None when it gives the feed to feedparser."""
    if not _fast_path_fits(data, ctype):
        return None
    from . import fastfeed

    try:
        items = fastfeed.parse(data, url, known)
    except fastfeed.NotFast:
        return None
    return [_tidy(i) for i in items]


def parse_xml_feed(
    body: bytes, url: str, content_type: str | None = None, known=None
) -> list[RawItem]:
    """Items of an RSS or Atom feed. `known` (see sources.parse) lets the
    fast path skip stories already stored; feedparser reads them all."""
    body, content_type = prepare(body, content_type)
    data, ctype = _widen_encoding(body, content_type)
    if FAST_PATH:
        fast = fast_items(data, url, ctype, known)
        if fast is not None:
            return fast
    # No content-location: feedparser would resolve relative GUIDs against
    # it, changing a story's identity whenever the feed moves. Links are
    # resolved against the final feed URL here instead.
    headers = {}
    if ctype:
        headers["content-type"] = ctype
    import feedparser  # the fallback: most polls never import it

    try:
        parsed = feedparser.parse(io.BytesIO(data), response_headers=headers)
    except Exception as e:  # feedparser rarely raises; keep it one line if it does
        raise SourceError(
            "parse_error", f"feed could not be parsed: {type(e).__name__}: {e}"
        ) from None
    entries = parsed.get("entries") or []
    if not entries:
        exc = parsed.get("bozo_exception") if parsed.get("bozo") else None
        # bozo reasons that say nothing about the feed's structure
        benign = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
        broken = exc is not None and not isinstance(exc, benign)
        if parsed.get("version") and not broken:
            return []  # a well-formed feed with nothing in it
        detail = f" ({' '.join(str(exc).split())[:160]})" if exc is not None else ""
        head = data.lstrip()[:200].lower()
        if b"<html" in head or b"<!doctype html" in head:
            raise SourceError("not_a_feed", "document is an HTML page, not a feed")
        if parsed.get("version"):
            raise SourceError("not_a_feed", f"feed is malformed and no item could be read{detail}")
        raise SourceError("not_a_feed", f"document holds no RSS, Atom or JSON feed{detail}")
    feed = parsed.get("feed", {})
    feed_lang = primary_lang(feed.get("language"))
    items: list[RawItem] = []
    budget = Budget()
    for entry in entries[:MAX_STORIES]:
        budget.check(len(items))
        title = _detail_text(entry.get("title"), entry.get("title_detail"))
        summary_html = entry.get("summary") or ""
        content = entry.get("content") or []
        body_html = " ".join(c.get("value", "") for c in content if c.get("value"))
        summary = (
            _detail_text(summary_html, entry.get("summary_detail"))
            if summary_html
            else html_to_text(body_html)
        )
        body_text = html_to_text(body_html) if body_html else ""
        summary = _drop_wp_footer(summary, title)
        body_text = _drop_wp_footer(body_text, title)
        if body_text == summary:
            body_text = ""
        items.append(
            RawItem(
                title=title,
                link=_entry_link(entry, url),
                summary=summary,
                published=_entry_date(entry),
                guid=(entry.get("id") or "").strip() or None,
                body=body_text,
                lang=primary_lang(entry.get("language")) or feed_lang,
            )
        )
    return items


def _tidy(item: RawItem) -> RawItem:
    summary = _drop_wp_footer(item.summary, item.title)
    body = _drop_wp_footer(item.body, item.title)
    if body == summary:
        body = ""
    if summary == item.summary and body == item.body:
        return item
    return RawItem(
        title=item.title,
        link=item.link,
        summary=summary,
        published=item.published,
        guid=item.guid,
        body=body,
        lang=item.lang,
        key=item.key,
    )


# -- JSON Feed (https://www.jsonfeed.org/version/1.1/) ------------------------


def parse_json_feed(body: bytes, url: str) -> list[RawItem]:
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as e:
        raise SourceError(
            "not_a_feed", f"document is not JSON: {' '.join(str(e).split())[:160]}"
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        raise SourceError("not_a_feed", "JSON document is not a JSON Feed (no 'items' list)")
    version = str(doc.get("version") or "")
    if version and "jsonfeed.org" not in version:
        raise SourceError(
            "not_a_feed", f"JSON document has an unknown feed version '{version[:80]}'"
        )
    feed_lang = primary_lang(doc.get("language") if isinstance(doc.get("language"), str) else None)
    items: list[RawItem] = []
    budget = Budget()
    for raw in doc["items"]:
        budget.check(len(items))
        if not isinstance(raw, dict):
            continue
        text = lambda k: raw.get(k) if isinstance(raw.get(k), str) else ""  # noqa: B023, E731
        content = html_to_text(text("content_html")) or collapse(text("content_text"))
        summary = html_to_text(text("summary")) or content
        title = html_to_text(text("title"))
        if not title and summary:  # title is optional in JSON Feed (micro-posts)
            title = (
                summary
                if len(summary) <= _TITLE_FROM_TEXT
                else summary[:_TITLE_FROM_TEXT].rsplit(" ", 1)[0] + "…"
            )
        link = str(text("url") or text("external_url")).strip()
        guid = raw.get("id")
        items.append(
            RawItem(
                title=title,
                link=join_url(url, link) if link else "",
                summary=summary,
                published=parse_feed_date(text("date_published"))
                or parse_feed_date(text("date_modified")),
                guid=str(guid).strip() if guid not in (None, "") else None,
                body=content if content != summary else "",
                lang=primary_lang(text("language")) or feed_lang,
            )
        )
    return items


def _parse(source: SourceConfig, result: FetchResult, known: Known) -> list[RawItem]:
    return parse_feed(result.body, result.url, content_type(result), known)


KIND = Kind("rss", _parse)
