"""A story's identity: GUID if unique in the document, else canonical URL,
else a hash of title and summary (DESIGN.md, "Stories, not page diffs")."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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


def canonical_url(url: str) -> str:
    """The URL with tracking parameters and the fragment removed, scheme and
    host lower-cased, default ports dropped. Empty for an empty or non-http URL."""
    url = (url or "").strip()
    if not url:
        return ""
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


def content_hash(title: str, summary: str) -> str:
    text = " ".join((title or "").split()) + "\n" + " ".join((summary or "").split())
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
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


def make_stories(source: str, items: list[RawItem], lang: str | None = None) -> list[Story]:
    """Assign each item its key; drop items with no title and no link, and
    later duplicates of a key within the same document."""
    guid_counts = Counter(i.guid.strip() for i in items if i.guid and i.guid.strip())
    stories: list[Story] = []
    seen: set[str] = set()
    for item in items:
        title = " ".join((item.title or "").split())
        summary = " ".join((item.summary or "").split())
        if not title and not item.link:
            continue
        guid = (item.guid or "").strip()
        if guid and guid_counts[guid] == 1:
            key = f"guid:{guid}"
        elif canon := canonical_url(item.link):
            key = f"url:{canon}"
        else:
            key = f"hash:{content_hash(title, summary)}"
        if key in seen:
            continue
        seen.add(key)
        stories.append(
            Story(
                source=source,
                key=key,
                title=title,
                link=item.link.strip(),
                summary=summary,
                published=item.published,
                body=item.body,
                lang=item.lang or lang,
                guid=guid or None,
                outlet=" ".join(item.outlet.split()),
            )
        )
    return stories
