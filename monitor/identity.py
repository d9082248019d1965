"""A story's identity: GUID if unique in the document, else canonical URL,
else a hash of title and summary (DESIGN.md, "Stories, not page diffs")."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from .models import Story

# Query parameters that only track the reader, never select the article.
_TRACKING_EXACT = {
    "fbclid",
    "gclid",
    "dclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "yclid",
    "mc_cid",
    "mc_eid",
    "igshid",
    "_hsenc",
    "_hsmi",
    "mkt_tok",
    "ref_src",
    "ref_url",
    "spm",
    "from",
    "share_token",
    "cmpid",
    "ncid",
    "ocid",
    "sr_share",
    "s_cid",
    "icid",
}
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "oly_", "vero_", "__twitter")


def _is_tracking(name: str) -> bool:
    name = name.lower()
    return name in _TRACKING_EXACT or name.startswith(_TRACKING_PREFIXES)


# A lower-case http(s) URL of a plain host and a path, nothing else (no
# port, user, query, fragment, space or non-ASCII): its canonical form is
# itself with the host lower-cased, which urlsplit would only confirm at
# several times the cost. Most story links look like this.
_PLAIN_URL = re.compile(r"(https?)://([A-Za-z0-9.-]+)(/[!-\x22$-\x3e@-~]*)?")


def canonical_url(url: str) -> str:
    """The URL with tracking parameters and the fragment removed, scheme and
    host lower-cased, default ports dropped. Empty for an empty or non-http URL."""
    url = (url or "").strip()
    if not url:
        return ""
    plain = _PLAIN_URL.fullmatch(url)
    if plain is not None:
        scheme, host, path = plain.groups()
        return f"{scheme}://{host.lower()}{path or '/'}"
    return _canonical_parts(url)


def _canonical_parts(url: str) -> str:
    """canonical_url of any stripped, non-empty URL, through urlsplit."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return ""
    host = (parts.hostname or "").lower()
    if not host:
        return ""
    port = parts.port if parts.port not in (None, 80 if scheme == "http" else 443) else None
    netloc = host if port is None else f"{host}:{port}"
    if ":" in host:  # IPv6 literal
        netloc = f"[{host}]" if port is None else f"[{host}]:{port}"
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    )
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


# An absolute http(s) link that urljoin would hand back unchanged: a host
# right after the scheme, nothing urlsplit strips or checks (space, control
# and non-ASCII characters, brackets), no ";params" and no empty "?" or "#"
# (urlunsplit drops those).
_ABSOLUTE = re.compile(r"https?://[!-\x22$-.0-:<->@-Z\\^-~][!-:<-Z\\^-~]*")


def join_url(base: str, link: str) -> str:
    """urljoin(base, link), without parsing the link twice when it is an
    absolute http(s) URL already (the usual case in feeds)."""
    if base and _ABSOLUTE.fullmatch(link) and not link.endswith(("?", "#")) and "?#" not in link:
        return link
    return urljoin(base, link)


# Characters no story text may carry: C0 controls but tab and newlines, DEL and
# the C1 range (cp1252 bytes read as latin-1), lone surrogates (legal as JSON
# escapes, unencodable anywhere after), non-characters.
_SUSPECT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_DROP = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
# C1 code points to the cp1252 characters their bytes meant (as browsers do)
_CP1252 = {b: bytes([b]).decode("cp1252", errors="ignore") or None for b in range(0x80, 0xA0)}


def clean_text(text: str | None) -> str:
    """`text` without the characters above; C1 controls become the cp1252
    characters they stand for (0x92 is a right quote), or go."""
    if not text:
        return ""
    if not _SUSPECT.search(text):
        return text
    return _DROP.sub("", text).translate(_CP1252)


# The ASCII characters _SUSPECT finds, each mapped to another byte: a text
# that bytes.translate leaves as it was holds none of them.
_ASCII_MARK = bytes(
    0x20 if (b < 0x20 and b not in (0x09, 0x0A, 0x0D)) or b == 0x7F else b for b in range(256)
)


def is_clean(text: str) -> bool:
    """True when clean_text(text) is `text`. An ASCII text (nearly every
    one, or a document's texts joined) is checked with one byte translation
    at a fraction of the regular expression's cost per character."""
    if text.isascii():
        data = text.encode("ascii")
        return data.translate(_ASCII_MARK) == data
    return not _SUSPECT.search(text)


def _as_is(text: str | None) -> str:
    return text or ""  # clean_text of a text known to be clean


def clean_pairs(pairs: list[tuple[str | None, str | None]]) -> list[tuple[str, str]]:
    """Each (guid, link) cleaned (clean_text) and stripped: what item_keys
    reads. One check of all of them first, as nearly all are clean."""
    if is_clean("".join([(g or "") + (link or "") for g, link in pairs])):
        return [((g or "").strip(), (link or "").strip()) for g, link in pairs]
    return [(clean_text(g).strip(), clean_text(link).strip()) for g, link in pairs]


MAX_STORIES = 1000  # per document: a feed of 160,000 items is an attack or an archive


def newest(items: list[RawItem], limit: int = MAX_STORIES) -> list[RawItem]:
    """At most `limit` items, the newest: by date where items carry one,
    else from the end of the document that is newer (feeds run either way)."""
    if len(items) <= limit:
        return items
    dated = [i for i in items if i.published is not None]
    if len(dated) == len(items):
        ranked = sorted(range(len(items)), key=lambda k: items[k].published, reverse=True)  # type: ignore[arg-type, return-value]
        keep = set(ranked[:limit])
        return [it for k, it in enumerate(items) if k in keep]
    first, last = items[0].published, items[-1].published
    if first is not None and last is not None and last > first:
        return items[-limit:]
    return items[:limit]


def content_hash(title: str, summary: str) -> str:
    text = " ".join((title or "").split()) + "\n" + " ".join((summary or "").split())
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# Not frozen (nothing changes an item once made): a frozen dataclass's
# __init__ costs twice a plain one's, paid for every item of every document.
@dataclass(slots=True, unsafe_hash=True)
class RawItem:
    """What a watcher reads off a document, before identity is assigned."""

    title: str
    link: str = ""  # absolute URL
    summary: str = ""
    published: datetime | None = None
    guid: str | None = None
    body: str = ""
    lang: str | None = None
    outlet: str = ""  # who published it, when a search service or aggregator says
    # The item's key among all items of its document (item_keys; "" when its
    # text keys it), set by a watcher that left stored items out unread:
    # keys depend on the whole document (a GUID unique in it, links told
    # apart by their fragment), so the items left must not be keyed alone.
    key: str | None = None


def _fragment_collisions(links: list[str]) -> set[str]:
    """Canonical URLs that links of the document reach with two or more
    different fragments (a blog's posts as anchors of one page): for those
    the full link is the identity, as the fragment is all that tells them
    apart. One link with ``#top`` beside one without is one story."""
    if not any("#" in link for link in links):
        return set()
    fragments: dict[str, set[str]] = {}
    for link in links:
        if "#" in link and link.split("#", 1)[1]:
            fragments.setdefault(canonical_url(link), set()).add(link.split("#", 1)[1])
    return {canon for canon, frags in fragments.items() if canon and len(frags) > 1}


def item_keys(pairs: list[tuple[str, str]]) -> list[str | None]:
    """The key of each (guid, link) of one document: ``guid:`` for a GUID
    unique in it, else ``url:`` of the canonical link (with its fragment
    when only the fragment tells two items apart), else None (the item is
    keyed by its text, see make_stories)."""
    present = [g for g, _ in pairs if g]
    # nearly always each GUID is there once: no count needed
    guids = Counter(present) if len(set(present)) < len(present) else dict.fromkeys(present, 1)
    collide = _fragment_collisions([link for _, link in pairs])
    keys: list[str | None] = []
    for guid, link in pairs:
        if guid and guids[guid] == 1:
            keys.append(f"guid:{guid}")
            continue
        canon = canonical_url(link)
        if canon and canon in collide:
            keys.append(f"url:{canon}#{link.split('#', 1)[1] if '#' in link else ''}")
        elif canon:
            keys.append(f"url:{canon}")
        else:
            keys.append(None)
    return keys


def story_url(story: Story) -> str:
    """The URL that identifies a story across sources: its canonical link,
    or the link with its fragment when its key keeps the fragment."""
    if story.key.startswith("url:") and "#" in story.key:
        return story.key[4:]
    return canonical_url(story.link)


def make_stories(source: str, items: list[RawItem], lang: str | None = None) -> list[Story]:
    """Assign each item its key; drop items with no title and no link, and
    later duplicates of a key within the same document. Text is cleaned of
    characters no store or channel can carry; at most MAX_STORIES, newest."""
    items = newest(items)
    pairs = clean_pairs([(i.guid, i.link) for i in items])
    given = [i.key for i in items]
    keys = item_keys(pairs) if None in given else [k or None for k in given]
    stories: list[Story] = []
    seen: set[str] = set()
    # one check of the whole document's text, which is nearly always clean
    texts = [(i.title or "") + (i.summary or "") + (i.body or "") + (i.lang or "") for i in items]
    clean = _as_is if is_clean("".join(texts)) else clean_text
    for item, (guid, link), key in zip(items, pairs, keys):
        title = " ".join(clean(item.title).split())
        summary = " ".join(clean(item.summary).split())
        if not title and not link:
            continue
        if key is None:
            key = f"hash:{content_hash(title, summary)}"
        if key in seen:
            continue
        seen.add(key)
        stories.append(
            Story(
                source=source,
                key=key,
                title=title,
                link=link,
                summary=summary,
                published=item.published,
                body=clean(item.body),
                lang=clean(item.lang) or lang,
                guid=guid or None,
                outlet=" ".join(item.outlet.split()),
            )
        )
    return stories
