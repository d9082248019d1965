"""The fast path for XML feeds: RSS 0.9x/1.0/2.0 and Atom read with lxml.

feedparser costs about thirty times the CPU of an lxml tree walk, which at
thousands of feeds is the whole polling budget (DESIGN.md). This module reads
well-formed feeds in the common shapes and gives up, by raising
``NotFast``, on anything it is not sure to read as feedparser would: broken
XML, an unknown root, ``xml:base``, a charset label that disagrees with the
bytes, and items whose reading follows feedparser's order rules (two
different summaries, a caption before the item's own summary, a title
nested below the item, an Atom link given as text, an identity with neither
title nor link). rss.py then hands the same bytes to feedparser, the
forgiving fallback. Nothing here resolves entities, loads a DTD or opens a
network connection.

It reads the fields feedparser reads into a story (dc:title, media:title,
dc:description, itunes:summary, xhtml:body, fullitem, dcterms dates) and
mends text as it does (cp1252 code points, UTF-8 read as latin-1). Where the
two differ on purpose, it is sanitising: scripts and styles are dropped
with their text, and Atom plain text is kept as written
(bench/feed_parity.py counts the differences on a corpus).

Size: the tree walk and the field readers are one piece: which element a
field is read from, and when a feed is handed to feedparser instead, is
the parity with feedparser that bench/feed_parity.py measures.
"""

from __future__ import annotations

import html as _html
import re
import threading
from collections.abc import Callable
from datetime import datetime

from lxml import etree
from lxml import html as lhtml

from ..identity import MAX_STORIES, RawItem, clean_pairs, item_keys, join_url
from .budget import Budget
from .dates import parse_feed_date
from .errors import SourceError
from .text import _BLOCK, _MARKUP, collapse, html_to_text, primary_lang
from .text import _DROP as _ALL_DROP

# An <object>'s text is its fallback, which feedparser's sanitiser keeps too.
_DROP = tuple(t for t in _ALL_DROP if t != "object")

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

NS_DCTERMS = "http://purl.org/dc/terms/"
NS_MEDIA = "http://search.yahoo.com/mrss/"
NS_ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
NS_XHTML = "http://www.w3.org/1999/xhtml"

_A = "{%s}" % NS_ATOM
_A_LINK = _A + "link"
_DC_DATE = "{%s}date" % NS_DC
_DC_LANG = "{%s}language" % NS_DC
_CONTENT = "{%s}encoded" % NS_CONTENT
_XML_LANG = "{%s}lang" % NS_XML
_MEDIA_TITLE = "{%s}title" % NS_MEDIA
_MEDIA_DESC = "{%s}description" % NS_MEDIA
_DCT_ISSUED = "{%s}issued" % NS_DCTERMS
_DCT_MODIFIED = "{%s}modified" % NS_DCTERMS
_DCT_CREATED = "{%s}created" % NS_DCTERMS
_MEDIA_BOXES = ("{%s}content" % NS_MEDIA, "{%s}group" % NS_MEDIA)


def _roles(ns: str) -> dict[str, str]:
    """Item children that feedparser reads into a story's fields, by the
    role each plays (RSS names are in `ns` for RSS 1.0 and 0.90)."""
    dc, dct = "{%s}" % NS_DC, "{%s}" % NS_DCTERMS
    roles = {dc + "title": "title", dc + "description": "summary", _MEDIA_DESC: "summary"}
    for itunes in (NS_ITUNES, NS_ITUNES.replace("dtds/podcast", "DTDs/Podcast"), NS_ITUNES.upper()):
        roles["{%s}summary" % itunes] = "plain"  # feedparser reads its namespaces in any case
    roles.update({_CONTENT: "content", "{%s}body" % NS_XHTML: "xhtml"})
    roles.update({dct + "issued": "published", _DC_DATE: "updated", dct + "modified": "updated"})
    roles[dct + "created"] = "created"
    for name, role in (
        ("title", "title"),
        ("description", "summary"),
        ("summary", "plain"),
        ("abstract", "plain"),
        ("fullitem", "content"),
        ("body", "xhtml"),
        ("pubDate", "published"),
        ("published", "published"),
        ("issued", "published"),
        ("updated", "updated"),
        ("modified", "updated"),
        ("created", "created"),
        ("link", "link"),
        ("guid", "guid"),
    ):
        roles[ns + name] = role
    return roles


_ROLES = {ns: _roles(ns) for ns in ("", "{%s}" % NS_RSS1, "{%s}" % NS_RSS09)}
# feedparser maps C1 code points to the cp1252 characters their bytes meant
_CP1252 = {b: bytes([b]).decode("cp1252", errors="ignore") or None for b in range(0x80, 0xA0)}


def _fix_text(text: str, utf8: bool) -> str:
    """What feedparser makes of text whose bytes were misread: UTF-8 read as
    latin-1 and re-encoded is read again (in a UTF-8 feed), and cp1252
    bytes read as latin-1 become the characters they meant."""
    if text.isascii():
        return text
    if utf8:
        try:
            text = text.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return text.translate(_CP1252)


_BANG = re.compile(r"<!(?!--|\[CDATA\[|doctype)(?=[A-Za-z])", re.I)


# Fragments made only of these tags (the usual <p>, <br>, <a href>, <b>)
# are read with one regular expression: the text lxml would give, at a
# fraction of the cost. Anything else (comments, other tags, a stray "<",
# an attribute holding "<" or ">") goes to lxml.
_PLAIN_BLOCK = frozenset(
    "p br div h1 h2 h3 h4 h5 h6 li ul ol dl dd dt blockquote hr section article header "
    "footer figure figcaption".split()
)
_PLAIN_INLINE = frozenset(
    "a b i u s em strong span small sup sub code cite abbr mark q time img".split()
)
_PLAIN_TAG = re.compile(
    r"<(/?)([A-Za-z][A-Za-z0-9]*)"
    r"((?:\s+[A-Za-z_:][-A-Za-z0-9_:.]*(?:\s*=\s*(?:\"[^\"<>]*\"|'[^'<>]*'|[^\s\"'<>=`]+))?)*)"
    r"\s*/?>"
)


_VOID = frozenset({"br", "hr", "img"})


def _plain_text(fragment: str) -> str | None:
    """The text of a fragment of common tags, properly nested, before
    entities are decoded; None when lxml must read it (a parser mends
    stray or unclosed tags in ways a regular expression does not)."""
    parts: list[str] = []
    open_: list[str] = []
    pos = 0
    for m in _PLAIN_TAG.finditer(fragment):
        closing, name = m.group(1), m.group(2).lower()
        if name in _PLAIN_BLOCK:
            sep = " "
        elif name in _PLAIN_INLINE:
            sep = ""
        else:
            return None
        self_closing = m.group(0).endswith("/>")
        if name in _VOID:
            if closing:
                return None
        elif closing:
            if not open_ or open_.pop() != name:
                return None
        elif self_closing:
            return None
        else:
            open_.append(name)
        parts.append(fragment[pos : m.start()])
        parts.append(sep)
        pos = m.end()
    if open_:
        return None
    parts.append(fragment[pos:])
    text = "".join(parts)
    return None if "<" in text else text


# A fragment that is one element of those tags around plain text, such as
# "<p>The summary.</p>": its text is what _plain_text reads, without the walk.
_ONE_ELEMENT = re.compile(r"<([a-z][a-z0-9]*)>([^<]*)</\1>")
_CLOSED = (_PLAIN_BLOCK | _PLAIN_INLINE) - _VOID


def _html_text(fragment: str) -> str:
    """html_to_text done with lxml (BeautifulSoup costs more than the whole
    feed), keeping `<!word>` as text the way feedparser's sanitiser does (it
    is story text such as Slack's `<!channel>`, not a declaration)."""
    if not fragment:
        return ""
    if "<" not in fragment:  # no markup: most titles
        return collapse(_html.unescape(fragment))
    one = _ONE_ELEMENT.fullmatch(fragment)
    if one is not None and one.group(1) in _CLOSED:
        # the spaces a block element adds are at the ends, where collapse drops them
        return collapse(_html.unescape(one.group(2)))
    if "<!" in fragment:
        fragment = _BANG.sub("&lt;!", fragment)
    if not _MARKUP.search(fragment):
        return collapse(_html.unescape(fragment))
    plain = _plain_text(fragment)
    if plain is not None:
        return collapse(_html.unescape(plain))
    return _lxml_text(fragment)


def _lxml_text(fragment: str) -> str:
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


_PARSERS = threading.local()


def _parser() -> etree.XMLParser:
    """This thread's parser: an lxml parser is reused from one document to
    the next, but never shared between threads."""
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = etree.XMLParser(**_PARSER_KW)
    return parser


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


def _first(el, tag: str):
    """el.find(tag) for a plain tag (Clark notation, or a bare local name
    for no-namespace RSS), without ElementPath's Python-level machinery."""
    return next(el.iterchildren(tag), None)


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
    encoding = (root.getroottree().docinfo.encoding or "utf-8").lower().replace("_", "-")
    utf8 = encoding in ("utf-8", "utf8")
    if tag == "rss":
        entries = _rss2(root, url, utf8)
    elif tag == f"{{{NS_RDF}}}RDF":
        entries = _rdf(root, url, utf8)
    elif tag == _A + "feed":
        entries = _atom(root, url, utf8)
    else:
        raise NotFast(f"root element <{_local(tag) or '?'}> is not a feed")
    return _select(entries, known)


# (guid, absolute link, build the whole item given its key)
Entry = tuple[str, str, Callable[..., RawItem]]


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
    budget = Budget()
    out = []
    if known is None:
        for _, _, build in entries:
            out.append(build())
            budget.check(len(out))
        return out
    # the keys make_stories would give the whole document (None: keyed by
    # content), carried by the items read so the rest need not be
    keys = item_keys(clean_pairs([(g, link) for g, link, _ in entries]))
    present = [k for k in keys if k]
    seen = known(present) if present else set()
    for (_, _, build), key in zip(entries, keys):
        if key is None or key not in seen:
            out.append(build(key or ""))
            budget.check(len(out))
    return out


def _has_entity_refs(el) -> bool:
    return next(el.iter(etree.Entity), None) is not None  # lxml filters the walk itself


# -- RSS 2.0 / 0.9x ---------------------------------------------------------------


def _rss2(root, url: str, utf8: bool) -> list[Entry]:
    channel = _first(root, "channel")
    if channel is None:
        raise NotFast("rss without channel")
    if _has_entity_refs(root):
        raise NotFast("unresolved entity references")
    feed_lang = primary_lang(_text(_first(channel, "language")) or _text(_first(channel, _DC_LANG)))
    # RSS 0.91 puts some beside the channel
    items = list(channel.iterchildren("item")) or list(root.iterchildren("item"))
    return [_rss_entry(item, url, feed_lang, utf8) for item in items]


def _text_of(el, roles: dict[str, str]) -> str:
    role = roles.get(el.tag)
    if role == "plain":
        return collapse(_text(el))
    if role == "xhtml":
        return _xhtml_text(el)
    return _html_text(_text(el))


_DATE_ROLES = ("published", "updated", "created")  # the first with a readable date is the story's


def _rss_entry(item, base: str, feed_lang: str | None, utf8: bool, ns: str = "") -> Entry:
    roles = _ROLES[ns]
    found: dict[str, list] = {}
    media_title = None
    for child in item:  # one pass over the item, in document order
        tag = child.tag
        role = roles.get(tag)
        if role is not None:
            els = found.get(role)
            if els is None:
                found[role] = [child]
            else:
                els.append(child)
        elif not isinstance(tag, str):
            continue
        elif tag == _MEDIA_TITLE:
            media_title = media_title if media_title is not None else child
        elif tag in _MEDIA_BOXES:
            # feedparser reads a caption inside media:content as the story's
            # summary when it comes first, and its title when there is none
            if child.find(".//" + _MEDIA_DESC) is not None and "summary" not in found:
                raise NotFast("media:description before the item's own")
            if child.find(".//" + _MEDIA_TITLE) is not None and media_title is None:
                media_title = child.find(".//" + _MEDIA_TITLE)
        elif tag == _DC_LANG:
            found.setdefault("lang", []).append(child)
    link_el = found["link"][0] if "link" in found else None
    link = ""
    if link_el is not None:
        link = _text(link_el).strip() or (link_el.get("href") or "").strip()
    guid_el = found["guid"][0] if "guid" in found else None
    guid = _text(guid_el).strip() if guid_el is not None else ""
    about = ""
    if not guid and ns:  # RSS 1.0: rdf:about is the item's identity
        guid = about = (item.get(f"{{{NS_RDF}}}about") or "").strip()
    if not link and guid.lower().startswith(("http://", "https://")):
        permalink = guid_el.get("isPermaLink") if guid_el is not None else None
        if about or (permalink or "true").strip().lower() != "false":
            link = guid
    link = join_url(base, link) if link else ""
    title_el = found["title"][0] if "title" in found else None
    if title_el is None:
        if item.find(".//" + ns + "title") is not None:
            raise NotFast("a title nested below the item")  # feedparser takes it as the item's
        title_el = media_title
    if not link and guid and not _text(title_el).strip():
        raise NotFast("an item with an identity but neither title nor link")  # feedparser's call
    summaries = found.get("summary", []) + found.get("plain", [])
    if len(summaries) > 1 and len({_text(el).strip() for el in summaries}) > 1:
        raise NotFast("several different summaries")  # feedparser's order rules decide

    def build(key: str | None = None) -> RawItem:
        title = _fix_text(_html_text(_text(title_el)), utf8)
        contents = found.get("content", []) + found.get("xhtml", [])
        texts = [_text_of(el, roles) for el in contents] if contents else []
        content = " ".join(t for t in texts if t) if len(texts) > 1 else texts[0] if texts else ""
        if summaries:
            summary_el = summaries[0] if len(summaries) == 1 else min(summaries, key=item.index)
            summary = _text_of(summary_el, roles)
        else:
            summary_el = None
            summary = texts[0] if texts else ""
        summary, content = _fix_text(summary, utf8), _fix_text(content, utf8)
        body = content if summary_el is not None and content != summary else ""
        published = None
        for role in _DATE_ROLES:
            els = found.get(role)
            if els is not None:
                published = _date(*(_text(el) for el in els))
                if published is not None:
                    break
        lang_el = found["lang"][0] if "lang" in found else None
        lang = (primary_lang(_text(lang_el)) if lang_el is not None else None) or feed_lang
        return RawItem(
            title=title,
            link=link,
            summary=summary,
            published=published,
            guid=guid or None,
            body=body,
            lang=lang,
            key=key,
        )

    return guid, link, build


def _xhtml_text(el) -> str:
    """Text of an XHTML element (Atom type="xhtml", xhtml:body), its blocks
    spaced as in _html_text."""
    parts: list[str] = []

    def walk(node) -> None:
        local = _local(node.tag)
        if local in _DROP:
            return
        block = local in _BLOCK
        if block:
            parts.append(" ")
        parts.append(node.text or "")
        for kid in node:
            if isinstance(kid.tag, str):
                walk(kid)
            parts.append(kid.tail or "")
        if block:
            parts.append(" ")

    parts.append(el.text or "")
    for kid in el:
        if isinstance(kid.tag, str):
            walk(kid)
        parts.append(kid.tail or "")
    return collapse("".join(parts))


# -- RSS 1.0 (RDF) and 0.90 ----------------------------------------------------------


def _rdf(root, url: str, utf8: bool) -> list[Entry]:
    if _has_entity_refs(root):
        raise NotFast("unresolved entity references")
    for ns_uri in (NS_RSS1, NS_RSS09):
        ns = "{%s}" % ns_uri
        channel = _first(root, ns + "channel")
        found = list(root.iterchildren(ns + "item"))
        if channel is None and not found:
            continue
        feed_lang = primary_lang(_text(_first(channel, _DC_LANG))) if channel is not None else None
        return [_rss_entry(item, url, feed_lang, utf8, ns) for item in found]
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
        return _xhtml_text(el)
    if kind in ("html", "text/html"):
        return _html_text(_text(el))
    return " ".join(_text(el).split())


def _atom_link(links: list, base: str) -> str:
    fallback = ""
    for link in links:
        href = (link.get("href") or "").strip()
        if not href:
            if _text(link).strip():  # an address as text: feedparser's rules for it
                raise NotFast("atom link without href")
            continue
        rel = (link.get("rel") or "alternate").strip()
        if rel == "alternate":
            if (link.get("type") or "text/html").startswith(("text/html", "application/xhtml")):
                return join_url(base, href)
            fallback = fallback or href
    return join_url(base, fallback) if fallback else ""


def _atom(root, url: str, utf8: bool) -> list[Entry]:
    if _has_entity_refs(root):
        raise NotFast("unresolved entity references")
    feed_lang = primary_lang(root.get(_XML_LANG))
    return [_atom_entry(entry, url, feed_lang, utf8) for entry in root.iterchildren(_A + "entry")]


def _atom_entry(entry, url: str, feed_lang: str | None, utf8: bool) -> Entry:
    # one pass over the entry: the first child of each name, and every link
    first: dict = {}
    links = []
    for child in entry:
        tag = child.tag
        if tag == _A_LINK:
            links.append(child)
        if tag not in first:
            first[tag] = child
    get = first.get
    guid = _text(get(_A + "id")).strip()
    link = _atom_link(links, url)
    if not link and guid.lower().startswith(("http://", "https://")):
        link = join_url(url, guid)
    if not link and guid and not _text(get(_A + "title")).strip():
        raise NotFast("an entry with an identity but neither title nor link")
    # Content types the fast path cannot read are found now, not in build().
    for el in (get(_A + "title"), get(_A + "summary"), get(_A + "content")):
        if el is not None and not el.get("src"):
            _atom_kind(el)

    def build(key: str | None = None) -> RawItem:
        title = _fix_text(_atom_text(get(_A + "title")), utf8)
        summary_el = get(_A + "summary")
        content_el = get(_A + "content")
        if content_el is not None and content_el.get("src"):
            content_el = None
        content = _atom_text(content_el) if content_el is not None else ""
        summary = _atom_text(summary_el) if summary_el is not None else content
        summary, content = _fix_text(summary, utf8), _fix_text(content, utf8)
        body = content if content != summary else ""
        published = (
            _date(
                _text(get(_A + "published")),
                _text(get(_DCT_ISSUED)),
            )
            or _date(
                _text(get(_A + "updated")),
                _text(get(_DC_DATE)),
                _text(get(_DCT_MODIFIED)),
            )
            or _date(_text(get(_DCT_CREATED)))
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
            key=key,
        )

    return guid, link, build
