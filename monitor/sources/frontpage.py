"""Automatic mode for a news front page: article links found without
selectors. An html source with ``auto: true`` instead of ``select``.

A link is taken for an article when it stays on the site, sits outside the
page's navigation, header, footer and asides, has the text of a headline
(at least four words, or eight Chinese or Japanese characters) and an
address shaped like an article's (a date, a number or a hyphenated slug in
its path; not a tag, category, author, search or account page). Each
article address counts once, titled by a heading where a link has one
(inside a teaser card's link, or around the link), else by its longest
link text. Chrome is judged by tag, role and whole class/id tokens of the
link's ancestors below <body>; an article's own <header> is not chrome.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from lxml import etree
from lxml import html as lhtml

from ..identity import RawItem, canonical_url
from ..textdecode import decode_html
from .budget import MAX_HTML_CHARS, Budget
from .errors import SourceError
from .text import collapse, primary_lang

_SKIP_ANCESTORS = {"nav", "header", "footer", "aside", "form", "menu"}
_SKIP_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search"}
# Class and id tokens of page chrome, matched as whole tokens: "nav" and
# "site-footer" are chrome, "nav-col" (a main column) and "entry-header"
# (a post's own heading) are not.
_SKIP_TOKENS = {
    "nav", "navbar", "navigation", "nav-menu", "site-nav", "site-navigation", "main-nav",
    "main-navigation", "primary-nav", "primary-navigation", "global-nav", "top-nav",
    "menu", "main-menu", "primary-menu", "sub-menu", "submenu", "mega-menu", "menu-bar",
    "footer", "site-footer", "page-footer", "global-footer", "colophon",
    "header", "site-header", "page-header", "global-header", "masthead", "topbar", "top-bar",
    "breadcrumb", "breadcrumbs", "sidebar", "side-bar", "social", "social-links", "share",
    "sharing", "share-tools", "share-buttons", "login", "signup", "sign-up", "account",
    "cookie-banner", "cookie-notice", "skip-link", "skip-links",
    "ad", "ads", "advert", "advertisement", "sponsored", "promo", "promoted",
}  # fmt: skip
_SECTIONING = {"article", "section", "main"}
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_NOT_ARTICLE = re.compile(
    r"/(?:tags?|topics?|category|categories|section|author|authors|people|search|login|signin|signup|register|"
    r"subscribe|subscription|account|about|contact|privacy|terms|newsletter|podcasts?|video|videos|page|feed|rss)"
    r"(?:/|$)",
    re.I,
)
_ARTICLE_PATH = re.compile(
    r"(?:/\d{4}[/-]\d{1,2}[/-]\d{1,2}/|/\d{4}/\d{2}/|\d{5,}|/[^/]*[a-z0-9]+-[a-z0-9]+-[a-z0-9]+[^/]*"
    r"|\.s?html?$|/a/|/article)",
    re.I,
)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")


def _site(host: str) -> str:
    parts = host.lower().split(".")
    return (
        ".".join(parts[-3:])
        if len(parts) > 2 and len(parts[-1]) == 2 and len(parts[-2]) <= 3
        else ".".join(parts[-2:])
    )


def _chrome_tokens(el) -> bool:
    for attr in ("class", "id"):
        value = el.get(attr)
        if value and any(t in _SKIP_TOKENS for t in value.lower().split()):
            return True
    return False


def _own_part(el) -> bool:
    """A <header>/<footer> of an article or section (a post's own title
    block), not of the page."""
    for up in el.iterancestors():
        tag = up.tag if isinstance(up.tag, str) else ""
        if tag in _SECTIONING:
            return True
        if tag in ("body", "html"):
            return False
    return False


def _skipped(a) -> bool:
    for el in a.iterancestors():
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in ("body", "html"):  # a page's own classes say nothing about one link
            return False
        if tag in ("header", "footer") and _own_part(el):
            continue
        if tag in _SKIP_ANCESTORS or (el.get("role") or "").lower() in _SKIP_ROLES:
            return True
        if _chrome_tokens(el):
            return True
    return False


def _title(a) -> tuple[str, bool]:
    """The link's headline and whether a heading gave it: a heading inside
    the link (a teaser card) or around it; else the link's text."""
    for h in a.iter(*_HEADINGS):
        text = collapse(h.text_content())
        if text:
            return text, True
    parent = a.getparent()
    heading = parent is not None and parent.tag in _HEADINGS
    text = collapse(a.text_content())
    first = a[0] if len(a) and not (a.text or "").strip() else None
    if first is not None and first.text_content().strip().isdigit():  # a "most read" rank
        text = collapse(text[len(first.text_content().strip()) :])
    return text, heading


def _headline(text: str) -> bool:
    if len(_CJK.findall(text)) >= 8:
        return True
    return len(text.split()) >= 4 and len(text) >= 20


def find_articles(body: bytes, url: str, content_type: str | None = None) -> list[RawItem]:
    text = decode_html(body, content_type)[:MAX_HTML_CHARS]
    if not text.strip():
        raise SourceError("selector_empty", "automatic mode found no article links (empty page)")
    try:
        doc = lhtml.document_fromstring(text)
    except (etree.ParserError, ValueError) as e:
        raise SourceError("parse_error", f"page could not be parsed: {e}") from None
    base = url
    for b in doc.iter("base"):
        if b.get("href"):
            base = urljoin(url, b.get("href"))
            break
    site = _site(urlsplit(url).hostname or "")
    lang = primary_lang(doc.get("lang"))
    found: dict[str, RawItem] = {}
    ranks: dict[str, tuple[bool, int]] = {}
    order: list[str] = []
    budget = Budget()
    for n, a in enumerate(doc.iter("a")):
        if n % 200 == 0:
            budget.check(len(found))
        href = (a.get("href") or "").strip()
        if not href or href.startswith(("#", "mailto:", "javascript:", "tel:")):
            continue
        link = urljoin(base, href)
        parts = urlsplit(link)
        if parts.scheme not in ("http", "https") or _site(parts.hostname or "") != site:
            continue
        path = parts.path or "/"
        if path in ("", "/") or _NOT_ARTICLE.search(path) or not _ARTICLE_PATH.search(path):
            continue
        title, from_heading = _title(a)
        if not _headline(title) or _skipped(a):
            continue
        key = canonical_url(link)
        rank = (from_heading, len(title))
        if key not in found:
            order.append(key)
        if key not in found or rank > ranks[key]:
            found[key] = RawItem(title=title, link=link, lang=lang)
            ranks[key] = rank
    if not found:
        raise SourceError("selector_empty", "automatic mode found no article links on the page")
    return [found[k] for k in order]
