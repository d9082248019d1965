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

from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit

from lxml import etree

from ..identity import RawItem
from .dates import parse_date
from .errors import SourceError
from .kind import Kind, Known, Search
from .rss import refuse_entities
from .search import OPTIONS, check_search, rejected_or_refused
from .text import collapse, html_to_text, primary_lang

if TYPE_CHECKING:
    from ..config import SourceConfig
    from ..fetch import FetchResult

_PARSER = dict(resolve_entities=False, no_network=True, huge_tree=False, recover=True)


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(item, name: str):
    for el in item:
        if _local(el.tag).lower() == name:
            return el
    return None


def _text(item, name: str) -> str:
    el = _child(item, name)
    return collapse("".join(el.itertext())) if el is not None else ""


def rss_items(body: bytes, service: str):
    """The <item> elements of an RSS document, and the channel's language."""
    refuse_entities(body)
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


def _outlet_link(description: str, redirect_host: str) -> str:
    """An article link in the description that does not go through the redirector."""
    if "href" not in description:
        return ""
    try:
        frag = etree.fromstring(f"<div>{description}</div>".encode(), etree.HTMLParser())
    except (etree.XMLSyntaxError, ValueError):
        return ""
    if frag is None:
        return ""
    for a in frag.iter("a"):
        href = (a.get("href") or "").strip()
        host = _host(href)
        if href.startswith(("http://", "https://")) and host and not host.endswith(redirect_host):
            return href
    return ""


def parse_google_news(body: bytes) -> list[RawItem]:
    items, lang = rss_items(body, "google news")
    out = []
    for item in items:
        source = _child(item, "source")
        outlet = collapse("".join(source.itertext())) if source is not None else ""
        title = strip_outlet(_text(item, "title"), outlet)
        link = _text(item, "link")
        description = _text(item, "description")
        own = _param_url(link) or _outlet_link(description, "google.com")
        summary = html_to_text(description)
        # the description is usually the headline and the outlet again
        if summary in (title, f"{title} {outlet}".strip(), f"{title} - {outlet}"):
            summary = ""
        out.append(
            RawItem(
                title=title,
                link=own or link,
                summary=summary,
                published=parse_date(_text(item, "pubdate")),
                guid=_text(item, "guid") or None,
                lang=lang,
                outlet=outlet,
            )
        )
    return out


def parse_bing_news(body: bytes) -> list[RawItem]:
    items, lang = rss_items(body, "bing news")
    out = []
    for item in items:
        link = _text(item, "link")
        outlet = _text(item, "source")
        out.append(
            RawItem(
                title=_text(item, "title"),
                link=_param_url(link) or link,
                summary=html_to_text(_text(item, "description")),
                published=parse_date(_text(item, "pubdate")),
                guid=None,  # Bing's items have none; the unwrapped URL identifies them
                lang=lang,
                outlet=outlet,
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
    return parse_google_news(result.body)


def _parse_bing(source: SourceConfig, result: FetchResult, known: Known) -> list[RawItem]:
    return parse_bing_news(result.body)


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
