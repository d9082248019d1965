"""Google News and Bing News search, both RSS 2.0: fetched bytes -> RawItems.

Google News (``/rss/search?q=...&hl=en-US&gl=US&ceid=US:en``): each item
names its outlet twice, as ``<source url="https://outlet">Outlet</source>``
and as a " - Outlet" suffix on the title; the suffix is stripped and the
outlet kept. Its links are news.google.com redirects; when an item carries
the outlet's own article URL (a ``url=`` parameter, or a link to the outlet
in the description) that URL is stored instead, so the same article reached
through the outlet's feed is recognised by its canonical URL. Otherwise the
item's GUID identifies it, and a copy of a story stored from a feed is found
by the copy detector.

Bing News (``/news/search?q=...&format=rss``): the article URL is the
``url`` parameter of the ``apiclick.aspx`` redirect link; it is unwrapped.
"""

from __future__ import annotations

from collections import Counter
from html import unescape as _unescape
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit

from ..identity import RawItem, canonical_url
from .dates import parse_date
from .errors import SourceError
from .kind import Kind, Known, Search
from .search import OPTIONS, check_search, rejected_or_refused
from .text import collapse, html_to_text, primary_lang
from .xmlprep import prepare

if TYPE_CHECKING:
    from ..config import SourceConfig
    from ..fetch import FetchResult

_PARSER = dict(resolve_entities=False, no_network=True, huge_tree=False, recover=True)


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(item, name: str):
    """The child element `name` (as RSS spells it), in any namespace and case."""
    el = item.find(name)
    if el is not None:
        return el
    low = name.lower()
    for el in item:
        if _local(el.tag).lower() == low:
            return el
    return None


def _text(item, name: str) -> str:
    el = _child(item, name)
    if el is None:
        return ""
    if len(el) == 0:
        return collapse(el.text)
    return collapse("".join(el.itertext()))


def rss_items(body: bytes, service: str):
    """The <item> elements of an RSS document, and the channel's language."""
    from lxml import etree  # here: a start-up without these kinds never needs lxml

    body, _ = prepare(body)
    rejected_or_refused(body, service)
    try:
        root = etree.fromstring(body, etree.XMLParser(**_PARSER))
    except etree.XMLSyntaxError as e:
        raise SourceError("not_a_feed", f"{service} answer is not RSS: {e}") from None
    if root is None or _local(root.tag).lower() != "rss":
        head = body.lstrip()[:200].lower()
        if b"<html" in head or b"<!doctype html" in head:
            raise SourceError("not_a_feed", f"{service} answered with an HTML page, not RSS")
        raise SourceError("not_a_feed", f"{service} answer holds no RSS channel")
    channel = _child(root, "channel")
    if channel is None:
        raise SourceError("not_a_feed", f"{service} answer holds no RSS channel")
    return [el for el in channel if _local(el.tag) == "item"], primary_lang(
        _text(channel, "language")
    )


def _param_url(link: str, name: str = "url") -> str:
    """The absolute http(s) URL carried in a query parameter, or ""."""
    try:
        params = parse_qsl(urlsplit(link).query, keep_blank_values=True)
    except ValueError:
        return ""
    for key, value in params:
        if key.lower() == name and value.lower().startswith(("http://", "https://")):
            return value.strip()
    return ""


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def strip_outlet(title: str, outlet: str) -> str:
    """ "Headline - Outlet" -> "Headline"."""
    if outlet and title.endswith(" - " + outlet):
        return title[: -len(outlet) - 3].rstrip()
    return title


def _description(html: str, redirect_host: str) -> tuple[str, str]:
    """(text, the first article link not through the redirector) of an
    item's HTML description; lxml, as bs4 costs a millisecond an item."""
    if "<" not in html:
        return collapse(_unescape(html)), ""
    import lxml.html
    from lxml import etree

    try:
        frag = lxml.html.fragment_fromstring(html, create_parent="div")
    except (etree.ParserError, ValueError):
        return html_to_text(html), ""
    own = ""
    for a in frag.iter("a"):
        href = (a.get("href") or "").strip()
        host = _host(href)
        if href.startswith(("http://", "https://")) and host and not host.endswith(redirect_host):
            own = href
            break
    for block in frag.iter("li", "p", "br", "div"):
        block.tail = " " + (block.tail or "")
    return collapse(frag.text_content()), own


def _unknown(items: list, keys: list[str | None], known: Known) -> list:
    """The items whose story key is not stored yet (all of them without
    `known`); a key None (not decidable here) is always kept."""
    if known is None:
        return items
    found = known([k for k in keys if k])
    return [item for item, key in zip(items, keys) if key is None or key not in found]


def _guid_keys(items: list, guids: list[str]) -> list[str | None]:
    """make_stories' key for each item with a GUID unique in the document."""
    counts = Counter(g for g in guids if g)
    return [f"guid:{g}" if g and counts[g] == 1 else None for g in guids]


def parse_google_news(body: bytes, known: Known = None) -> list[RawItem]:
    items, lang = rss_items(body, "google news")
    guids = [_text(item, "guid") for item in items]
    out = []
    for item, guid in _unknown(list(zip(items, guids)), _guid_keys(items, guids), known):
        source = _child(item, "source")
        outlet = collapse("".join(source.itertext())) if source is not None else ""
        title = strip_outlet(_text(item, "title"), outlet)
        link = _text(item, "link")
        summary, in_text = _description(_text(item, "description"), "google.com")
        own = _param_url(link) or in_text
        # the description is usually the headline and the outlet again
        if summary in (title, f"{title} {outlet}".strip(), f"{title} - {outlet}"):
            summary = ""
        out.append(
            RawItem(
                title=title,
                link=own or link,
                summary=summary,
                published=parse_date(_text(item, "pubDate")),
                guid=guid or None,
                lang=lang,
                outlet=outlet,
            )
        )
    return out


def parse_bing_news(body: bytes, known: Known = None) -> list[RawItem]:
    items, lang = rss_items(body, "bing news")
    links = [_text(item, "link") for item in items]
    links = [_param_url(link) or link for link in links]
    keys = [f"url:{c}" if (c := canonical_url(link)) else None for link in links]
    if len(set(k for k in keys if k)) != len([k for k in keys if k]):
        keys = [None] * len(keys)  # repeated URLs: leave the keys to make_stories
    out = []
    for item, link in _unknown(list(zip(items, links)), keys, known):
        out.append(
            RawItem(
                title=_text(item, "title"),
                link=link,
                summary=_description(_text(item, "description"), "bing.com")[0],
                published=parse_date(_text(item, "pubDate")),
                guid=None,  # Bing's items have none; the unwrapped URL identifies them
                lang=lang,
                outlet=_text(item, "source"),
            )
        )
    return out


# -- URLs ----------------------------------------------------------------------

# (hl, gl, ceid) of Google News editions by language; region overrides gl
_GOOGLE_ZH = ("zh-CN", "CN", "CN:zh-Hans")


def _google_url(src: SourceConfig, base: str, query: str | None, lang: str | None) -> str:
    if lang == "zh":
        hl, gl, ceid = _GOOGLE_ZH
    else:
        language = lang or "en"
        gl = (src.region or "US").upper()
        hl, ceid = f"{language}-{gl}", f"{gl}:{language}"
    params = {"q": query or "", "hl": hl, "gl": gl, "ceid": ceid}
    return f"{base.rstrip('/')}/rss/search?{urlencode(params)}"


def _bing_url(src: SourceConfig, base: str, query: str | None, lang: str | None) -> str:
    if lang == "zh":
        market, setlang = "zh-CN", "zh-Hans"
    else:
        market, setlang = f"{lang or 'en'}-{(src.region or 'US').upper()}", lang or "en"
    params = {"q": query or "", "format": "rss", "mkt": market, "setlang": setlang}
    return f"{base.rstrip('/')}/news/search?{urlencode(params)}"


def _parse_google(source: SourceConfig, result: FetchResult, known: Known) -> list[RawItem]:
    return parse_google_news(result.body, known)


def _parse_bing(source: SourceConfig, result: FetchResult, known: Known) -> list[RawItem]:
    return parse_bing_news(result.body, known)


GOOGLE = Kind(
    "google_news",
    _parse_google,
    options=OPTIONS + ("region",),
    check=check_search,
    search=Search("https://news.google.com", _google_url, limit=400),
)
BING = Kind(
    "bing_news",
    _parse_bing,
    options=OPTIONS + ("region",),
    check=check_search,
    search=Search("https://www.bing.com", _bing_url, limit=400),
)
