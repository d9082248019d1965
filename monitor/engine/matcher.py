"""One compiled matcher for all rules.

Every literal term of every rule goes into one Aho-Corasick automaton over
case-folded text (cased terms into a second one over un-folded text). A
story's fields are scanned once each; only rules with a term hit are
evaluated, plus the few rules whose condition could hold without any term
(a bare regex, a top-level `not`). A direct evaluator that searches every
term of every rule with str.find is kept for tests and for checking the
index gives the same verdicts.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Protocol

import ahocorasick

from monitor.engine.rules import (
    FIELDS,
    AllOf,
    Condition,
    NotOf,
    Regex,
    Rule,
    Term,
    holds_without_terms,
    iter_terms,
)
from monitor.engine.text import NormText, at_word_boundaries, normalise, snippet
from monitor.models import Match

_RANK = {name: i for i, name in enumerate(FIELDS)}
TermKey = tuple[bool, str]  # (cased, normalised term)


@dataclass(frozen=True, slots=True)
class Hit:
    """Where something was found: a field and a span of its display text."""

    field: str
    start: int
    end: int

    @property
    def order(self) -> tuple[int, int]:
        return _RANK[self.field], self.start


class _Story:
    """A story's fields, normalised on first use and cached."""

    def __init__(self, fields: Mapping[str, str]):
        self._raw = fields
        self._norm: dict[str, NormText] = {}
        self.regex_hits: dict[tuple[int, str], Hit | None] = {}

    def text(self, name: str) -> NormText:
        norm = self._norm.get(name)
        if norm is None:
            norm = self._norm[name] = normalise(self._raw.get(name) or "")
        return norm


class _Finder(Protocol):
    def term(self, term: Term, fields: tuple[str, ...]) -> Hit | None: ...


def _search_regex(story: _Story, regex: Regex, fields: tuple[str, ...]) -> Hit | None:
    """First regex hit over the rule's fields (title first), cached per story."""
    best: Hit | None = None
    for name in fields:
        key = (id(regex), name)
        if key in story.regex_hits:
            hit = story.regex_hits[key]
        else:
            text = story.text(name)
            m = regex.compiled.search(text.display if regex.cased else text.folded)
            hit = None
            if m is not None:
                start, end = (m.start(), m.end()) if regex.cased else text.display_span(m.start(), m.end())
                hit = Hit(name, start, end)
            story.regex_hits[key] = hit
        if hit is not None and (best is None or hit.order < best.order):
            best = hit
    return best


def _find_direct(text: NormText, term: Term) -> tuple[int, int] | None:
    """First whole-word occurrence of a term, by plain search (no index)."""
    hay = text.display if term.cased else text.folded
    pos = hay.find(term.key)
    while pos != -1:
        end = pos + len(term.key)
        if at_word_boundaries(hay, pos, end):
            return (pos, end) if term.cased else text.display_span(pos, end)
        pos = hay.find(term.key, pos + 1)
    return None


class _DirectFinder:
    def __init__(self, story: _Story):
        self.story = story

    def term(self, term: Term, fields: tuple[str, ...]) -> Hit | None:
        best = None
        for name in fields:
            span = _find_direct(self.story.text(name), term)
            if span is not None:
                hit = Hit(name, *span)
                if best is None or hit.order < best.order:
                    best = hit
        return best


class _IndexFinder:
    def __init__(self, hits: dict[TermKey, dict[str, Hit]]):
        self.hits = hits

    def term(self, term: Term, fields: tuple[str, ...]) -> Hit | None:
        by_field = self.hits.get((term.cased, term.key))
        if not by_field:
            return None
        best = None
        for name in fields:
            hit = by_field.get(name)
            if hit is not None and (best is None or hit.order < best.order):
                best = hit
        return best


# where; what to report (the term as written, or the regex's text); and the
# form two reports are the same under ("Surveillance" and "surveillance")
Evidence = tuple[Hit, str, str]


def evaluate(cond: Condition, finder: _Finder, story: _Story, fields: tuple[str, ...]) -> tuple[bool, list[Evidence]]:
    """Whether `cond` holds, and the positive hits that made it hold.

    Hits under `not` are never evidence; an `any` reports every branch that
    held, an `all` reports all of its branches.
    """
    if isinstance(cond, Term):
        hit = finder.term(cond, fields)
        return (True, [(hit, cond.text, cond.key.casefold())]) if hit else (False, [])
    if isinstance(cond, Regex):
        hit = _search_regex(story, cond, fields)
        if hit is None:
            return False, []
        found = story.text(hit.field).display[hit.start:hit.end]
        return True, [(hit, found, found.casefold())]
    if isinstance(cond, NotOf):
        held, _ = evaluate(cond.item, finder, story, fields)
        return not held, []
    evidence: list[Evidence] = []
    if isinstance(cond, AllOf):
        for item in cond.items:
            held, ev = evaluate(item, finder, story, fields)
            if not held:
                return False, []
            evidence.extend(ev)
        return True, evidence
    any_held = False
    for item in cond.items:
        held, ev = evaluate(item, finder, story, fields)
        if held:
            any_held = True
            evidence.extend(ev)
    return any_held, evidence


def _make_match(rule: Rule, evidence: list[Evidence], story: _Story, snippet_chars: int) -> Match:
    ordered = sorted(evidence, key=lambda e: e[0].order)
    first: dict[str, str] = {}
    for _, text, same in ordered:
        first.setdefault(same, text)
    terms = tuple(first.values())
    if ordered:
        hit = ordered[0][0]
        text = story.text(hit.field).display
        snip = snippet(text, hit.start, hit.end, snippet_chars)
    else:
        # a rule that matched on absence (`not`) has no hit to centre on
        snip = ""
        for name in sorted(rule.fields, key=_RANK.__getitem__):
            text = story.text(name).display
            if text:
                snip = snippet(text, 0, 0, snippet_chars)
                break
    return Match(
        rule_id=rule.id,
        rule_title=rule.title,
        severity=rule.severity,
        tags=rule.tags,
        channels=rule.channels,
        terms=terms,
        snippet=snip,
    )


class Matcher:
    """All rules compiled once; immutable after construction."""

    def __init__(self, rules: Iterable[Rule]):
        self.rules: list[Rule] = list(rules)
        self._by_term: dict[TermKey, list[int]] = {}
        self._always: list[int] = []
        for i, rule in enumerate(self.rules):
            for term in iter_terms(rule.condition):
                users = self._by_term.setdefault((term.cased, term.key), [])
                if not users or users[-1] != i:
                    users.append(i)
            if holds_without_terms(rule.condition) is not False:
                self._always.append(i)
        self._fields = tuple(f for f in FIELDS if any(f in r.fields for r in self.rules))
        self._folded = self._automaton([k for cased, k in self._by_term if not cased])
        self._cased = self._automaton([k for cased, k in self._by_term if cased])

    @staticmethod
    def _automaton(keys: list[str]) -> ahocorasick.Automaton | None:
        if not keys:
            return None
        auto = ahocorasick.Automaton(ahocorasick.STORE_ANY, ahocorasick.KEY_STRING)
        for key in keys:
            auto.add_word(key, key)
        auto.make_automaton()
        return auto

    def _scan(self, story: _Story) -> dict[TermKey, dict[str, Hit]]:
        """Each field scanned once per automaton; first whole-word hit kept."""
        hits: dict[TermKey, dict[str, Hit]] = {}
        for name in self._fields:
            text = story.text(name)
            if not text.display:
                continue
            for cased, auto, hay in ((False, self._folded, text.folded), (True, self._cased, text.display)):
                if auto is None:
                    continue
                # hits of one key arrive in text order, so the first good one is the earliest
                for last, key in auto.iter(hay):
                    start, end = last - len(key) + 1, last + 1
                    by_field = hits.get((cased, key))
                    if by_field is not None and name in by_field:
                        continue
                    if not at_word_boundaries(hay, start, end):
                        continue
                    span = (start, end) if cased else text.display_span(start, end)
                    hits.setdefault((cased, key), {})[name] = Hit(name, *span)
        return hits

    def candidates(self, hits: dict[TermKey, dict[str, Hit]]) -> list[int]:
        chosen = set(self._always)
        for key in hits:
            chosen.update(self._by_term.get(key, ()))
        return sorted(chosen)

    def match(self, fields: Mapping[str, str], snippet_chars: int = 240,
              only: Iterable[int] | None = None, include_disabled: bool = False) -> list[Match]:
        story = _Story(fields)
        hits = self._scan(story)
        finder = _IndexFinder(hits)
        indexes = self.candidates(hits)
        if only is not None:
            wanted = set(only)
            indexes = [i for i in indexes if i in wanted]
        return self._evaluate(indexes, finder, story, snippet_chars, include_disabled)

    def match_direct(self, fields: Mapping[str, str], snippet_chars: int = 240,
                     only: Iterable[int] | None = None, include_disabled: bool = False) -> list[Match]:
        """Every rule evaluated by plain search, without the automaton or index."""
        story = _Story(fields)
        indexes = range(len(self.rules)) if only is None else sorted(set(only))
        return self._evaluate(indexes, _DirectFinder(story), story, snippet_chars, include_disabled)

    def _evaluate(self, indexes: Iterable[int], finder: _Finder, story: _Story,
                  snippet_chars: int, include_disabled: bool) -> list[Match]:
        out = []
        for i in indexes:
            rule = self.rules[i]
            if not rule.enabled and not include_disabled:
                continue
            held, evidence = evaluate(rule.condition, finder, story, rule.fields)
            if held:
                out.append(_make_match(rule, evidence, story, snippet_chars))
        return out
