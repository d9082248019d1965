"""What the search kinds share: their options, the queries built from the
rules, and the answers that are refusals rather than results.

A search source takes an explicit ``query:``, or ``queries: from_rules``:
the anchor terms of the rules with ``discover: true`` (the terms the
matcher's automaton triggers those rules on, engine/model.py `anchors`),
combined with OR in the service's syntax, quoted where they are phrases,
and cut into as many searches as the service's length limit needs.
Chinese terms get Chinese-language searches of their own. Each search is
polled as a source of its own, named ``<source>#<lang>-<hash of query>``,
so a query changed by a rule edit starts with a silent baseline of its own.

Everything a search returns still goes through every rule: a search only
widens what is read, never what is alerted.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import SourceError

if TYPE_CHECKING:
    from ..config import SourceConfig
    from ..engine.model import Rule
    from ..fetch import FetchError
    from .kind import Search

OPTIONS = ("query", "queries", "api_base")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# a refusal in words, in a body served with 200 (GDELT answers in plain text)
_QUOTA = re.compile(r"limit requests|rate.?limit|too many requests|quota|slow down|exceeded", re.I)


def search_of(src: SourceConfig) -> Search | None:
    from .registry import KINDS

    kind = KINDS.get(src.kind)
    return kind.search if kind is not None else None


def check_search(src: SourceConfig) -> None:
    """A query kind needs `query`, `queries: from_rules` or a whole `url`."""
    search = search_of(src)
    if src.query is not None and src.queries is not None:
        raise ValueError("a search source takes 'query' or 'queries', not both")
    if src.queries is not None and (search is None or not search.limit):
        raise ValueError(f"{src.kind} sources take no 'queries: from_rules'")
    if src.query is not None and not src.query.strip():
        raise ValueError("'query' is empty")
    if src.query is None and src.queries is None and not src.url:
        raise ValueError(
            f"a {src.kind} source needs 'query' (what to search for) or 'queries: from_rules'"
        )


def default_url(src: SourceConfig) -> str:
    """The URL of a search source that names no `url`: its one query, or
    for `queries: from_rules` the service's base (each query gets its own)."""
    search = search_of(src)
    if search is None:
        return src.url
    base = src.api_base or search.endpoint
    if src.queries is not None:
        return base
    return search.url(src, base, src.query, src.lang)


def rejected_or_refused(body: bytes, service: str) -> None:
    """A plain-text answer where a document was expected: a refusal to
    serve (quota, rate) or a rejected query, each as one line."""
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:600]
    if not head or head[:1] in (b"<", b"{", b"["):
        return
    text = " ".join(head.decode("utf-8", "replace").split())[:200]
    if _QUOTA.search(text):
        raise SourceError("rate_limited", f"{service} refused the request: {text}")
    raise SourceError("query_rejected", f"{service} rejected the query: {text}")


# -- queries from the rules ------------------------------------------------------


@dataclass(frozen=True)
class Query:
    text: str
    lang: str | None  # "zh" for a Chinese-language search, else the source's
    terms: tuple[str, ...]


def discover_terms(rules: Iterable[Rule]) -> tuple[list[str], list[str]]:
    """The search terms of the rules with discover: true, in rule order, and
    a note for each rule that adds none."""
    terms: list[str] = []
    notes: list[str] = []
    for rule in rules:
        if not rule.discover or not rule.enabled:
            continue
        found = search_terms(rule.condition)
        if not found:
            notes.append(f"rule '{rule.id}' has no literal term to search for")
            continue
        for term in found:
            # services ignore case and read a hyphen as a space
            text = " ".join(term.key.casefold().replace("-", " ").split())
            if text and text not in terms:
                terms.append(text)
    return _drop_covered(terms), notes


def search_terms(cond) -> list:
    """The terms that trigger a rule, as the matcher's anchors (one of them
    must be in a story for the rule to hold), in the rule's order. Unlike
    the anchors, a regex among alternatives leaves the other alternatives
    standing (a search service cannot send a regex, and the rules still
    read everything it returns); prefixes (recogni*) are left out, as no
    service searches for them; `not` never gives a search term."""
    from ..engine.model import AllOf, AnyOf, AtLeast, Near, NotOf, Regex, Scope, Term

    if isinstance(cond, Term):
        return [] if cond.prefix else [cond]
    if isinstance(cond, (Regex, NotOf)):
        return []
    if isinstance(cond, Scope):
        return search_terms(cond.item)
    if isinstance(cond, Near):
        groups = [[t for t in g if not t.prefix] for g in cond.groups]
        return _most_specific([g for g in groups if g])
    if isinstance(cond, AnyOf) or (isinstance(cond, AtLeast) and cond.n <= 1):
        out = []
        for item in cond.items:
            out += [t for t in search_terms(item) if t not in out]
        return out
    if isinstance(cond, (AllOf, AtLeast)):
        return _most_specific([t for t in (search_terms(i) for i in cond.items) if t])
    return []


def _most_specific(options: list[list]) -> list:
    """The branch whose shortest term is longest (fewer terms on a tie), as
    the matcher chooses its anchors."""
    if not options:
        return []
    return max(options, key=lambda ts: (min(len(t.key) for t in ts), -len(ts)))


def _drop_covered(terms: list[str]) -> list[str]:
    """A term that contains another whole is found by the shorter one."""
    out = []
    for t in terms:
        padded = f" {t} "
        covered = any(s != t and (s in t if _HAN.search(s) else f" {s} " in padded) for s in terms)
        if not covered:
            out.append(t)
    return out


def _quote(term: str, syntax: str) -> str:
    if syntax == "words":
        return term
    return f'"{term}"' if (" " in term or _HAN.search(term)) else term


def _combine(terms: list[str], syntax: str) -> str:
    if syntax == "words":
        return " ".join(dict.fromkeys(w for t in terms for w in t.split()))
    joined = " OR ".join(_quote(t, syntax) for t in terms)
    if syntax == "gdelt" and len(terms) > 1:
        return f"({joined})"
    return joined


def build_queries(
    search: Search, terms: list[str], lang: str | None, suffix: str = ""
) -> list[Query]:
    """Queries of at most search.limit characters (with `suffix`, the
    service's own filters) that together hold every term."""
    if search.syntax == "gdelt":
        terms = [t for t in terms if len(t) >= 3 or _HAN.search(t)]  # GDELT refuses short words
    room = search.limit - len(suffix)
    out: list[Query] = []
    chunk: list[str] = []
    for term in terms:
        if chunk and len(_combine(chunk + [term], search.syntax)) > room:
            out.append(Query(_combine(chunk, search.syntax) + suffix, lang, tuple(chunk)))
            chunk = []
        chunk.append(term)
    if chunk:
        out.append(Query(_combine(chunk, search.syntax) + suffix, lang, tuple(chunk)))
    return out


def queries_for(src: SourceConfig, rules: Iterable[Rule]) -> list[Query]:
    """The searches a `queries: from_rules` source sends."""
    from .registry import KINDS

    search = KINDS[src.kind].search
    if search is None or not search.limit:
        return []
    terms, _ = discover_terms(rules)
    latin = [t for t in terms if not _HAN.search(t)]
    han = [t for t in terms if _HAN.search(t)]
    suffix = filters_suffix(src, None)
    out = build_queries(search, latin, src.lang, suffix)
    if han and search.chinese:
        out += build_queries(search, han, "zh", filters_suffix(src, "zh"))
    return out


def filters_suffix(src: SourceConfig, lang: str | None) -> str:
    """GDELT's filters, written into its query."""
    if src.kind != "gdelt":
        return ""
    opts = src.gdelt
    parts = []
    sourcelang = "chinese" if lang == "zh" else (opts.sourcelang if opts else None)
    if sourcelang:
        parts.append(f"sourcelang:{sourcelang}")
    if opts and opts.sourcecountry:
        parts.append(f"sourcecountry:{opts.sourcecountry}")
    if opts and opts.domain:
        parts.append(f"domain:{opts.domain}")
    return "".join(" " + p for p in parts)


def part_name(src: SourceConfig, query: Query) -> str:
    digest = hashlib.sha1(query.text.encode("utf-8")).hexdigest()[:6]
    return f"{src.name}#{query.lang or 'any'}-{digest}"


def expand(sources: Iterable[SourceConfig], rules: Iterable[Rule]) -> list[SourceConfig]:
    """The sources to poll: each `queries: from_rules` source becomes one
    source per query it sends (none when no rule has discover: true)."""
    rules = list(rules)
    out: list[SourceConfig] = []
    for src in sources:
        if src.queries is None:
            out.append(src)
            continue
        search = search_of(src)
        assert search is not None
        base = src.api_base or search.endpoint
        for q in queries_for(src, rules):
            out.append(
                src.model_copy(
                    update={
                        "name": part_name(src, q),
                        "url": search.url(src, base, q.text, q.lang),
                        "query": q.text,
                        "queries": None,
                        "lang": q.lang or src.lang,
                    }
                )
            )
    return out


def pace_of(src: SourceConfig) -> tuple[str, float] | None:
    """The scheduler's pace for a service that asks for one (fetchall.Job)."""
    search = search_of(src)
    if search is None or search.min_gap <= 0:
        return None
    return (f"pace:{src.kind}", search.min_gap)


def name_search_error(src: SourceConfig, e: FetchError) -> tuple[str, str] | None:
    """(reason, one line) for a search service's refusal: 429 is
    "rate_limited", a 400 or 422 "query_rejected" with the service's words."""
    if search_of(src) is None or e.reason != "http":
        return None
    if e.status == 429:
        return "rate_limited", f"{src.kind} refused the request: too many requests (http 429)"
    if e.status in (400, 422):
        said = _said(e.body_head)
        query = f" '{src.query[:120]}'" if src.query else ""
        return "query_rejected", f"{src.kind} rejected the query{query}: {said or e}"
    return None


def _said(body: bytes | None) -> str:
    """The message of an error body: a JSON message or error, or its text."""
    import json

    text = (body or b"")[:2000].decode("utf-8", "replace")
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        for key in ("message", "error", "error_description"):
            if isinstance(doc.get(key), str):
                return " ".join(doc[key].split())[:200]
    if text.lstrip()[:1] == "<":
        return ""
    return " ".join(text.split())[:200]
