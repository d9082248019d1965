"""The fast path for XML feeds: RSS 0.9x/1.0/2.0 and Atom read with lxml.

feedparser costs about thirty times the CPU of an lxml tree walk, which at
thousands of feeds is the whole polling budget (DESIGN.md). This module reads
well-formed feeds in the common shapes and gives up, by raising
``NotFast``, on anything it is not sure to read as feedparser would: broken
XML, an unknown root, ``xml:base``, a charset label that disagrees with the
bytes. rss.py then hands the same bytes to feedparser, the forgiving
fallback. Nothing here resolves entities, loads a DTD or opens a network
connection.
"""

from __future__ import annotations

import html as _html
import re
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urljoin

from lxml import etree
from lxml import html as lhtml

from ..identity import MAX_STORIES, RawItem, item_keys
from .dates import parse_feed_date
from .errors import SourceError
from .text import _BLOCK, _DROP, _MARKUP, collapse, html_to_text, primary_lang

_PARSER_KW = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
    recover=False,
)

NS_ATOM = "http://www.w3.org/2005/Atom"
NS_RSS1 = "http://purl.org/rss/1.0/"
NS_RSS09 = "http://my.netscape.com/rdf/simple/0.9/"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_DC = "http://purl.org/dc/elements/1.1/"
NS_CONTENT = "http://purl.org/rss/1.0/modules/content/"
NS_XML = "http://www.w3.org/XML/1998/namespace"

_A = "{%s}" % NS_ATOM
_DC_DATE = "{%s}date" % NS_DC
_DC_LANG = "{%s}language" % NS_DC
_CONTENT = "{%s}encoded" % NS_CONTENT
_XML_LANG = "{%s}lang" % NS_XML


_BANG = re.compile(r"<!(?!--|\[CDATA\[|doctype)(?=[A-Za-z])", re.I)


def _html_text(fragment: str) -> str:
    """html_to_text done with lxml (BeautifulSoup costs more than the whole
    feed), keeping `<!word>` as text the way feedparser's sanitiser does (it
    is story text such as Slack's `<!channel>`, not a declaration)."""
    if not fragment:
        return ""
    if "<!" in fragment:
        fragment = _BANG.sub("&lt;!", fragment)
    if not _MARKUP.search(fragment):
        return collapse(_html.unescape(fragment))
    try:
        root = lhtml.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return html_to_text(fragment)
    etree.strip_elements(root, etree.Comment, etree.ProcessingInstruction, *_DROP, with_tail=False)
    for el in root.iter(*_BLOCK):
        el.text = " " + (el.text or "")
        el.tail = " " + (el.tail or "")
    return collapse("".join(root.itertext()))


class NotFast(Exception):
    """This document is for feedparser; the message says why (for tests)."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(**_PARSER_KW)


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _text(el) -> str:
    if el is None:
        return ""
    if len(el) == 0:  # no child elements: the common case, no iterator needed
        return el.text or ""
    return "".join(el.itertext())


def _child(el, *names: str):
    """First child whose tag (Clark notation, or a bare local name for
    no-namespace RSS) is one of `names`."""
    for name in names:
        found = el.find(name)
        if found is not None:
            return found
    return None


def _date(*values: str) -> datetime | None:
    for v in values:
        if v and v.strip():
            dt = parse_feed_date(v)
            if dt is not None:
                return dt
    return None


Known = Callable[[list[str]], set[str]]


def parse(body: bytes, url: str, known: Known | None = None) -> list[RawItem]:
    """Items of a well-formed RSS or Atom feed; NotFast when unsure.

    `known`, given the story keys of the document (identity.py), returns
    those already stored: their items are left out unread, so a feed with
    one new story among twenty costs one story's text work."""
    if b"xml:base" in body:
        raise NotFast("xml:base in use")
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as e:
        if "depth" in str(e).lower() or "huge" in str(e).lower():
            # libxml2's own limits: nothing a forgiving parser should try harder on
            raise SourceError(
                "parse_error", f"document is nested too deeply or too large to parse ({e})"
            ) from None
        raise NotFast(f"not well-formed: {e}") from None
    except ValueError as e:
        raise NotFast(f"not well-formed: {e}") from None
    if root is None:
        raise NotFast("empty document")
    tag = root.tag if isinstance(root.tag, str) else ""
    if tag == "rss":
        entries = _rss2(root, url)
    elif tag == f"{{{NS_RDF}}}RDF":
        entries = _rdf(root, url)
    elif tag == _A + "feed":
        entries = _atom(root, url)
    else:
        raise NotFast(f"root element <{_local(tag) or '?'}> is not a feed")
    return _select(entries, known)


# (guid, absolute link, build the whole item)
Entry = tuple[str, str, Callable[[], RawItem]]


def _cap(entries: list[Entry]) -> list[Entry]:
    """At most MAX_STORIES entries, from the end of the document that is
    newer (the rest are read no further; identity.newest does the same)."""
    if len(entries) <= MAX_STORIES:
        return entries
    first, last = entries[0][2]().published, entries[-1][2]().published
    if first is not None and last is not None and last > first:
        return entries[-MAX_STORIES:]
    return entries[:MAX_STORIES]


def _select(entries: list[Entry], known: Known | None) -> list[RawItem]:
    entries = _cap(entries)
    if known is None:
        return [build() for _, _, build in entries]
    keys = item_keys([(g, link) for g, link, _ in entries])  # None: keyed by content, must be read
    present = [k for k in keys if k]
    seen = known(present) if present else set()
    return [build() for (_, _, build), key in zip(entries, keys) if key is None or key not in seen]


def _has_entity_refs(el) -> bool:
    return any(isinstance(x, etree._Entity) for x in el.iter())


# -- RSS 2.0 / 0.9x ---------------------------------------------------------------


def _rss2(root, url: str) -> list[Entry]:
    channel = root.find("channel")
    if channel is None:
        raise NotFast("rss without channel")
    if _has_entity_refs(root):
        raise NotFast("unresolved entity references")
    feed_lang = primary_lang(_text(channel.find("language")) or _text(channel.find(_DC_LANG)))
    items = list(channel.iterfind("item")) or list(
        root.iterfind("item")
    )  # RSS 0.91 puts some beside the channel
    return [_rss_entry(item, url, feed_lang) for item in items]


def _rss_entry(item, base: str, feed_lang: str | None, ns: str = "") -> Entry:
    kids: dict = {}
    for child in item:  # one pass over the item instead of a find() per field
        if isinstance(child.tag, str):
            kids.setdefault(child.tag, child)
    get = kids.get
    link = _text(get(ns + "link")).strip()
    guid_el = get(ns + "guid")
    guid = _text(guid_el).strip() if guid_el is not None else ""
    if not guid and ns:  # RSS 1.0: rdf:about is the item's identity
        guid = (item.get(f"{{{NS_RDF}}}about") or "").strip()
    if not link and guid and guid_el is not None and guid.startswith(("http://", "https://")):
        if (guid_el.get("isPermaLink") or "true").strip().lower() != "false":
            link = guid
    link = urljoin(base, link) if link else ""

    def build() -> RawItem:
        title = _html_text(_text(get(ns + "title")))
        description = _text(get(ns + "description"))
        encoded = _text(get(_CONTENT))
        summary = _html_text(description) if description else _html_text(encoded)
        body = _html_text(encoded) if encoded and description else ""
        if body == summary:
            body = ""
        published = _date(_text(get(ns + "pubDate")), _text(get(_DC_DATE)))
        lang = primary_lang(_text(get(_DC_LANG))) or feed_lang
        return RawItem(
            title=title,
            link=link,
            summary=summary,
            published=published,
            guid=guid or None,
            body=body,
            lang=lang,
        )

    return guid, link, build


# -- RSS 1.0 (RDF) and 0.90 ----------------------------------------------------------


def _rdf(root, url: str) -> list[Entry]:
    if _has_entity_refs(root):
        raise NotFast("unresolved entity references")
    for ns_uri in (NS_RSS1, NS_RSS09):
        ns = "{%s}" % ns_uri
        channel = root.find(ns + "channel")
        found = root.findall(ns + "item")
        if channel is None and not found:
            continue
        feed_lang = primary_lang(_text(channel.find(_DC_LANG))) if channel is not None else None
        return [_rss_entry(item, url, feed_lang, ns) for item in found]
    raise NotFast("RDF document without an RSS channel")


# -- Atom -----------------------------------------------------------------------------


def _atom_kind(el) -> str:
    kind = (el.get("type") or "text").lower()
    if kind in ("xhtml", "html", "text/html", "text") or kind.startswith("text/"):
        return kind
    raise NotFast(f"atom content of type {kind}")


def _atom_text(el) -> str:
    if el is None:
        return ""
    kind = _atom_kind(el)
    if kind == "xhtml":
        return _html_text(etree.tostring(el, encoding="unicode", method="html"))
    if kind in ("html", "text/html"):
        return _html_text(_text(el))
    return " ".join(_text(el).split())


def _atom_link(entry, base: str) -> str:
    fallback = ""
    for link in entry.iterfind(_A + "link"):
        href = (link.get("href") or "").strip()
        if not href:
            continue
        rel = (link.get("rel") or "alternate").strip()
        if rel == "alternate":
            if (link.get("type") or "text/html").startswith(("text/html", "application/xhtml")):
                return urljoin(base, href)
            fallback = fallback or href
    return urljoin(base, fallback) if fallback else ""


def _atom(root, url: str) -> list[Entry]:
    if _has_entity_refs(root):
        raise NotFast("unresolved entity references")
    feed_lang = primary_lang(root.get(_XML_LANG))
    return [_atom_entry(entry, url, feed_lang) for entry in root.iterfind(_A + "entry")]


def _atom_entry(entry, url: str, feed_lang: str | None) -> Entry:
    guid = _text(entry.find(_A + "id")).strip()
    link = _atom_link(entry, url)
    if not link and guid.startswith(("http://", "https://")):
        link = guid
    # Content types the fast path cannot read are found now, not in build().
    for el in (entry.find(_A + "title"), entry.find(_A + "summary"), entry.find(_A + "content")):
        if el is not None and not el.get("src"):
            _atom_kind(el)

    def build() -> RawItem:
        title = _atom_text(entry.find(_A + "title"))
        summary_el = entry.find(_A + "summary")
        content_el = entry.find(_A + "content")
        if content_el is not None and content_el.get("src"):
            content_el = None
        content = _atom_text(content_el) if content_el is not None else ""
        summary = _atom_text(summary_el) if summary_el is not None else content
        body = content if content != summary else ""
        published = _date(
            _text(entry.find(_A + "published")),
            _text(entry.find(_A + "updated")),
            _text(entry.find(_DC_DATE)),
        )
        lang = primary_lang(entry.get(_XML_LANG)) or feed_lang
        return RawItem(
            title=title,
            link=link,
            summary=summary,
            published=published,
            guid=guid or None,
            body=body,
            lang=lang,
        )

    return guid, link, build
