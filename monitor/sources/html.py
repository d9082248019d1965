"""A listing page read with CSS selectors: fetched bytes -> RawItems.

`select.item` finds each story's element; the other selectors are searched
inside it (see Select). With `auto: true` instead, front-page links are
found without selectors (frontpage.py)."""

from __future__ import annotations

from datetime import UTC, tzinfo
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from ..identity import RawItem
from ..textdecode import decode_html
from .budget import MAX_HTML_CHARS, Budget
from .dates import parse_date
from .errors import SourceError
from .kind import Kind, Known, content_type
from .options import Select
from .text import HTML_PARSER, collapse, element_text, primary_lang

if TYPE_CHECKING:
    from ..config import SourceConfig
    from ..fetch import FetchResult


_DATE_ATTRS = ("datetime", "content", "data-time", "data-date", "title")


def _select_one(el, selector: str, what: str):
    from soupsieve import SelectorSyntaxError

    try:
        return el.select_one(selector)
    except (SelectorSyntaxError, ValueError, NotImplementedError) as e:
        raise SourceError(
            "parse_error",
            f"{what} selector '{selector}' is not valid CSS: {' '.join(str(e).split())[:120]}",
        ) from None


def _text(el) -> str:
    # element_text edits the tree in place (drops scripts, spaces out blocks),
    # which is harmless for any later reading of the same page.
    return element_text(el) if el is not None else ""


def _href(el) -> str:
    if el is None:
        return ""
    href = el.get("href") if el.name in ("a", "area", "link") else None
    if not href:
        inner = el.find("a", href=True)
        href = inner.get("href") if inner is not None else el.get("href")
    return (href or "").strip()


def _absolute(base: str, href: str) -> str:
    if not href or href.startswith("#"):
        return ""
    url = urljoin(base, href)
    return url if urlsplit(url).scheme in ("http", "https") else ""


def _published(el) -> str:
    if el is None:
        return ""
    for attr in _DATE_ATTRS:
        value = el.get(attr)
        if isinstance(value, str) and value.strip() and parse_date(value):
            return value
    inner = el.find(attrs={"datetime": True})
    if inner is not None:
        return inner["datetime"]
    return collapse(el.get_text(" "))


def parse_listing(
    body: bytes,
    url: str,
    select: Select,
    content_type: str | None = None,
    tz: tzinfo = UTC,
) -> list[RawItem]:
    """Items of a listing page. Raises SourceError("selector_empty") when
    select.item finds nothing."""
    # Imported here: the start-up of a config without html sources skips them.
    from bs4 import BeautifulSoup
    from soupsieve import SelectorSyntaxError

    text = decode_html(body, content_type)[:MAX_HTML_CHARS]
    try:
        soup = BeautifulSoup(text, HTML_PARSER)
    except Exception as e:  # pragma: no cover - parsers are very forgiving
        raise SourceError(
            "parse_error", f"page could not be parsed: {type(e).__name__}: {e}"
        ) from None
    base = url
    base_tag = soup.find("base", href=True)
    if base_tag is not None:
        base = urljoin(url, str(base_tag["href"]).strip())
    html_tag = soup.find("html")
    lang = html_tag.get("lang") if html_tag is not None else None
    page_lang = primary_lang(lang if isinstance(lang, str) else None)

    try:
        elements = soup.select(select.item)
    except (SelectorSyntaxError, ValueError, NotImplementedError) as e:
        raise SourceError(
            "parse_error",
            f"item selector '{select.item}' is not valid CSS: {' '.join(str(e).split())[:120]}",
        ) from None
    if not elements:
        raise SourceError("selector_empty", f"selector '{select.item}' found nothing")

    items: list[RawItem] = []
    budget = Budget()
    for el in elements:
        budget.check(len(items))
        if select.link:
            link_el = _select_one(el, select.link, "link")
        elif el.name == "a" and el.get("href"):
            link_el = el
        else:
            # The first link with visible text (a thumbnail link usually
            # comes first and has none), else the first link.
            anchors = el.find_all("a", href=True)
            link_el = next(
                (a for a in anchors if a.get_text(strip=True)), anchors[0] if anchors else None
            )
        link = _absolute(base, _href(link_el))

        if select.title:
            title = _text(_select_one(el, select.title, "title"))
        else:
            title = _text(link_el) if link_el is not None else ""
            if not title:
                title = _text(el)

        summary = _text(_select_one(el, select.summary, "summary")) if select.summary else ""
        published = None
        if select.published:
            published = parse_date(_published(_select_one(el, select.published, "published")), tz)
        items.append(
            RawItem(title=title, link=link, summary=summary, published=published, lang=page_lang)
        )
    return items


def _parse(source: SourceConfig, result: FetchResult, known: Known) -> list[RawItem]:
    if source.auto:
        from .frontpage import find_articles

        return find_articles(result.body, result.url, content_type(result))
    if source.select is None:
        raise SourceError("parse_error", f"html source '{source.name}' has no 'select'")
    return parse_listing(
        result.body, result.url, source.select, content_type(result), source.tzinfo
    )


def _check(source: SourceConfig) -> None:
    if source.select is None and not source.auto:
        raise ValueError("an html source needs 'select' with at least 'item', or 'auto: true'")
    if source.select is not None and source.auto:
        raise ValueError("an html source has either 'select' or 'auto: true', not both")


KIND = Kind("html", _parse, options=("auto", "select"), check=_check, robots=True)
