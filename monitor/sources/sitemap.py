"""News sitemaps: fetched bytes -> RawItems.

A sitemap's ``<url>`` entries with their Google News extension
(``<news:news>``: title, publication date, keywords, language); plain
sitemaps give the address and ``<lastmod>``, and a title made from the
address's last path segment. Keywords are added to the summary, where rules
read them. Read with lxml, entities refused, no DTD, no network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote, urljoin, urlsplit

from ..identity import RawItem
from .budget import Budget
from .dates import parse_feed_date
from .errors import SourceError
from .kind import Kind, Known
from .text import collapse, primary_lang

if TYPE_CHECKING:
    from ..config import SourceConfig
    from ..fetch import FetchResult

NS_SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
NS_NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"
_PARSER_KW = dict(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
)


def _text(el, path: str) -> str:
    found = el.find(path)
    return collapse("".join(found.itertext())) if found is not None else ""


def _title_from_url(url: str) -> str:
    path = urlsplit(url).path.rstrip("/")
    slug = unquote(path.rsplit("/", 1)[-1]) if path else ""
    slug = slug.rsplit(".", 1)[0] if "." in slug[-6:] else slug
    return collapse(slug.replace("-", " ").replace("_", " "))


def parse_sitemap(body: bytes, url: str) -> list[RawItem]:
    from lxml import etree  # here: a start-up without sitemaps never needs lxml

    from .xmlprep import prepare

    body, _ = prepare(body)
    if not body.strip():
        raise SourceError("not_a_feed", "empty document")
    try:
        root = etree.fromstring(body, etree.XMLParser(**_PARSER_KW))
    except etree.XMLSyntaxError as e:
        raise SourceError(
            "not_a_feed", f"sitemap is not well-formed XML ({' '.join(str(e).split())[:160]})"
        ) from None
    if root is None:
        raise SourceError("not_a_feed", "empty document")
    if root.tag == NS_SM + "sitemapindex":
        n = len(root.findall(NS_SM + "sitemap"))
        raise SourceError(
            "not_a_feed",
            f"document is a sitemap index of {n} sitemaps: configure the news sitemap itself",
        )
    if root.tag != NS_SM + "urlset":
        raise SourceError(
            "not_a_feed",
            f"document is not a sitemap (root element <{etree.QName(root).localname}>)",
        )
    items: list[RawItem] = []
    budget = Budget()
    for entry in root.iterfind(NS_SM + "url"):
        budget.check(len(items))
        loc = _text(entry, NS_SM + "loc")
        if not loc:
            continue
        link = urljoin(url, loc)
        news = entry.find(NS_NEWS + "news")
        title = _text(news, NS_NEWS + "title") if news is not None else ""
        keywords = _text(news, NS_NEWS + "keywords") if news is not None else ""
        published = (
            parse_feed_date(_text(news, NS_NEWS + "publication_date")) if news is not None else None
        )
        lang = (
            primary_lang(_text(news, f"{NS_NEWS}publication/{NS_NEWS}language"))
            if news is not None
            else None
        )
        items.append(
            RawItem(
                title=title or _title_from_url(link),
                link=link,
                summary=f"Keywords: {keywords}" if keywords else "",
                published=published or parse_feed_date(_text(entry, NS_SM + "lastmod")),
                lang=lang,
            )
        )
    return items


def _parse(source: SourceConfig, result: FetchResult, known: Known) -> list[RawItem]:
    return parse_sitemap(result.body, result.url)


KIND = Kind("sitemap", _parse)
