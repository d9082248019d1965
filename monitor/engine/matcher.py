"""One compiled matcher for all rules.

Every literal term of every rule goes into one Aho-Corasick automaton per
form of the text it is searched in: the case-folded text, the text as
written (cased terms), and the case-folded text with Traditional Chinese
folded to Simplified (Chinese terms of rules with `fold_chinese`). A story's
fields are scanned once each; a term-to-rules index then picks the rules to
evaluate: each rule is indexed under the terms of which at least one must be
found for it to hold (for `all`, its most specific branch), so a rule is
evaluated only when it can match. Rules that could hold without any term (a
bare regex, a top-level `not`) are always evaluated. Proximity is computed
from the positions the scan recorded.

A direct evaluator that searches every term of every rule by plain string
search is kept as the reference: tests check the index gives the same
verdicts.

Size: one module on purpose. The automata, the term finder and the
evaluator share the compiled index and its recorded positions, and they
are the hot path of every story; split, each call would cross modules and
the index's invariants would be read in three places.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import ahocorasick

from monitor.engine.model import (
    FIELDS,
    AllOf,
    AnyOf,
    AtLeast,
    Condition,
    Near,
    NotOf,
    Regex,
    Rule,
    Scope,
    Term,
    TermKey,
    anchors,
    describe,
    iter_fields,
    iter_terms,
)
from monitor.engine.text import (
    NormText,
    at_word_boundaries,
    fold_chinese,
    has_han,
    is_spaced_word_char,
    normalise,
    snippet,
    tokens_between,
)
from monitor.models import Match
from monitor.semantic.conditions import Classifier, Similar, detail

_RANK = {name: i for i, name in enumerate(FIELDS)}


@dataclass(frozen=True, slots=True)
class Hit:
    """Where something was found: a field and a span of its display text."""

    field: str
    start: int
    end: int

    @property
    def order(self) -> tuple[int, int]:
        return _RANK[self.field], self.start


# Where a semantic condition's evidence points: it holds of the whole story,
# so there is no span to mark (and snippets centre on a term, if any).
_NO_SPAN = Hit("title", 0, 0)


class _Story:
    """A story's fields, normalised on first use and cached."""

    def __init__(self, fields: Mapping[str, str], vector=None):
        self._raw = fields
        self._norm: dict[str, NormText] = {}
        self._zh: dict[str, str] = {}
        self.regex_hits: dict[tuple[int, str], Hit | None] = {}
        self._vector = vector

    def vector(self):
        """The story's embedding: the one given (stored when the story was
        new), else computed here, once, from the title and summary."""
        if self._vector is None:
            from monitor.semantic.encoder import embed_one, story_text

            self._vector = embed_one(story_text(self._raw))
        return self._vector

    def text(self, name: str) -> NormText:
        norm = self._norm.get(name)
        if norm is None:
            norm = self._norm[name] = normalise(self._raw.get(name) or "")
        return norm

    def hay(self, name: str, mode: str) -> str:
        """The text a term of `mode` is searched in."""
        text = self.text(name)
        if mode == "c":
            return text.display
        if mode == "f":
            return text.folded
        zh = self._zh.get(name)
        if zh is None:
            zh = self._zh[name] = fold_chinese(text.folded) if has_han(text.folded) else text.folded
        return zh

    def span(self, name: str, mode: str, start: int, end: int) -> Hit:
        """A span of the `mode` text as a Hit on the display text."""
        if mode == "c":
            return Hit(name, start, end)
        return Hit(name, *self.text(name).display_span(start, end))

    def distance(self, name: str, a: Hit, b: Hit, limit: int) -> int:
        """Words (characters in unspaced scripts) between two hits of one
        field, counted no further than limit + 1."""
        if a.start > b.start:
            a, b = b, a
        if b.start <= a.end:
            return 0
        return tokens_between(self.text(name).display, a.end, b.start, limit)


def _start_ok(hay: str, start: int) -> bool:
    return not (
        start > 0 and is_spaced_word_char(hay[start - 1]) and is_spaced_word_char(hay[start])
    )


class _Finder(Protocol):
    def term(self, term: Term, fields: tuple[str, ...]) -> Hit | None: ...
    def all_hits(self, term: Term, name: str) -> list[Hit]: ...


def _search_regex(story: _Story, regex: Regex, fields: tuple[str, ...]) -> Hit | None:
    """First regex hit over the rule's fields (title first), cached per story."""
    best: Hit | None = None
    for name in fields:
        key = (id(regex), name)
        if key in story.regex_hits:
            hit = story.regex_hits[key]
        else:
            text = story.text(name)
            hay = (
                text.display if regex.cased else story.hay(name, "z") if regex.fold else text.folded
            )
            m = regex.search(hay)
            hit = None
            if m is not None:
                start, end = (
                    (m.start(), m.end()) if regex.cased else text.display_span(m.start(), m.end())
                )
                hit = Hit(name, start, end)
            story.regex_hits[key] = hit
        if hit is not None and (best is None or hit.order < best.order):
            best = hit
    return best


def _find_all_direct(story: _Story, term: Term, name: str, first_only: bool) -> list[Hit]:
    """Occurrences of a term at word boundaries, by plain search (no index)."""
    hay = story.hay(name, term.mode)
    out = []
    pos = hay.find(term.key)
    while pos != -1:
        end = pos + len(term.key)
        ok = _start_ok(hay, pos) if term.prefix else at_word_boundaries(hay, pos, end)
        if ok:
            out.append(story.span(name, term.mode, pos, end))
            if first_only:
                break
        pos = hay.find(term.key, pos + 1)
    return out


class _DirectFinder:
    def __init__(self, story: _Story):
        self.story = story

    def term(self, term: Term, fields: tuple[str, ...]) -> Hit | None:
        best = None
        for name in fields:
            found = _find_all_direct(self.story, term, name, True)
            if found and (best is None or found[0].order < best.order):
                best = found[0]
        return best

    def all_hits(self, term: Term, name: str) -> list[Hit]:
        return _find_all_direct(self.story, term, name, False)


# term key -> field -> flat [start, end, start, end, ...] of hits in the text
# the term is searched in, in text order: only the first, unless the term is
# used by `near`, which needs every position. Spans are mapped to the
# display text only for the hits a rule asks for.
Hits = dict[TermKey, dict[str, list[int]]]


class _IndexFinder:
    def __init__(self, hits: Hits, story: _Story):
        self.hits = hits
        self.story = story

    def term(self, term: Term, fields: tuple[str, ...]) -> Hit | None:
        by_field = self.hits.get(term.index_key)
        if not by_field:
            return None
        best = None
        for name in fields:
            found = by_field.get(name)
            if found:
                hit = self.story.span(name, term.mode, found[0], found[1])
                if best is None or hit.order < best.order:
                    best = hit
        return best

    def all_hits(self, term: Term, name: str) -> list[Hit]:
        by_field = self.hits.get(term.index_key)
        found = by_field.get(name) if by_field else None
        if not found:
            return []
        span = self.story.span
        return [span(name, term.mode, found[i], found[i + 1]) for i in range(0, len(found), 2)]


# where; what to report (the term as written, or the regex's text); and the
# form two reports are the same under ("Surveillance" and "surveillance")
Evidence = tuple[Hit, str, str]


@dataclass
class Step:
    """One condition's outcome, for explanations: its depth in the tree."""

    depth: int
    label: str
    held: bool
    hits: list[Evidence] = field(default_factory=list)
    weight: float | None = None  # set on a weighted condition in the scoring pass
    scoring: bool = False  # a step of the scoring pass, after the condition tree
    detail: list[str] = field(default_factory=list)  # a semantic condition's scores


class _Eval:
    """Evaluates conditions over one story; records steps when tracing."""

    def __init__(self, finder: _Finder, story: _Story, trace: list[Step] | None = None):
        self.finder = finder
        self.story = story
        self.trace = trace

    def __call__(
        self, cond: Condition, fields: tuple[str, ...], depth: int = 0
    ) -> tuple[bool, list[Evidence]]:
        """Whether `cond` holds, and the positive hits that made it hold.

        Hits under `not` are never evidence; an `any` reports every branch
        that held, an `all` reports all of its branches.
        """
        if self.trace is None:
            return self._eval(cond, fields, depth)
        step = None
        if self.trace is not None:
            step = Step(depth, describe(cond), False)
            self.trace.append(step)
        held, evidence = self._eval(cond, fields, depth)
        if step is not None:
            step.held = held
            step.hits = evidence if isinstance(cond, (Term, Regex, Near)) else []
            if isinstance(cond, (Similar, Classifier)):
                step.detail = detail(cond, self.story.vector())
        return held, evidence

    def _eval(
        self, cond: Condition, fields: tuple[str, ...], depth: int
    ) -> tuple[bool, list[Evidence]]:
        if isinstance(cond, Term):
            hit = self.finder.term(cond, fields)
            return (True, [(hit, cond.text, cond.key.casefold())]) if hit else (False, [])
        if isinstance(cond, Regex):
            hit = _search_regex(self.story, cond, fields)
            if hit is None:
                return False, []
            found = self.story.text(hit.field).display[hit.start : hit.end]
            return True, [(hit, found, found.casefold())]
        if isinstance(cond, NotOf):
            held, _ = self(cond.item, fields, depth + 1)
            return not held, []
        if isinstance(cond, Scope):
            return self(cond.item, cond.fields, depth + 1)
        if isinstance(cond, Near):
            return self._near(cond, fields)
        if isinstance(cond, Similar):
            held, best, example = cond.holds(self.story.vector())
            short = example if len(example) <= 40 else example[:39] + "…"
            said = f"similar to {short!r} ({best:.2f})"
            return (True, [(_NO_SPAN, said, said)]) if held else (False, [])
        if isinstance(cond, Classifier):
            score = cond.score(self.story.vector())
            said = f"classifier {cond.model} ({score:.2f})"
            return (True, [(_NO_SPAN, said, said)]) if score >= cond.min else (False, [])
        evidence: list[Evidence] = []
        if self.trace is None and type(cond) is AnyOf:
            # the common case, without the per-condition bookkeeping: terms
            # looked up directly, every branch that holds reported (one held
            # by absence, under `not`, holds with no evidence to report)
            term_at = self.finder.term
            held_any = False
            for item in cond.items:
                if type(item) is Term:
                    hit = term_at(item, fields)
                    if hit is not None:
                        evidence.append((hit, item.text, item.key.casefold()))
                        held_any = True
                else:
                    held, ev = self._eval(item, fields, depth + 1)
                    if held:
                        evidence.extend(ev)
                        held_any = True
            return held_any, evidence
        if isinstance(cond, AllOf):
            ok = True
            for item in cond.items:
                held, ev = self(item, fields, depth + 1)
                if not held:
                    ok = False
                    if self.trace is None:
                        return False, []
                evidence.extend(ev)
            return ok, evidence if ok else []
        count = 0
        for item in cond.items:
            held, ev = self(item, fields, depth + 1)
            if held:
                count += 1
                evidence.extend(ev)
        need = cond.n if isinstance(cond, AtLeast) else 1
        return count >= need, evidence if count >= need else []

    def _near(self, cond: Near, fields: tuple[str, ...]) -> tuple[bool, list[Evidence]]:
        for name in sorted(fields, key=_RANK.__getitem__):
            groups = []
            for group in cond.groups:
                found = [(h, t) for t in group for h in self.finder.all_hits(t, name)]
                if not found:
                    break
                groups.append(found)
            else:
                first, rest = groups[0], groups[1:]
                for a, ta in sorted(first, key=lambda x: x[0].start):
                    chosen = [(a, ta)]
                    for others in rest:
                        gaps = [
                            (self.story.distance(name, a, b, cond.within), b.start, b, tb)
                            for b, tb in others
                        ]
                        close = [g for g in gaps if g[0] <= cond.within]
                        if not close:
                            break
                        best = min(close, key=lambda g: g[:2])
                        chosen.append((best[2], best[3]))
                    else:
                        return True, [(h, t.text, t.key.casefold()) for h, t in chosen]
        return False, []

    def rule(self, rule: Rule) -> tuple[bool, list[Evidence], float | None]:
        """A rule's verdict, its evidence and (with a threshold) its score."""
        held, evidence = self(rule.condition, rule.fields)
        if rule.threshold is None or not held and self.trace is None:
            return held, evidence, None
        score = 0.0
        for cond, weight, scope in rule.weighted:
            step_at = len(self.trace) if self.trace is not None else 0
            ok, ev = self(cond, scope or rule.fields, 1)
            if self.trace is not None:
                self.trace[step_at].weight = weight
                for step in self.trace[step_at:]:
                    step.scoring = True
            if ok:
                score += weight
                evidence.extend(e for e in ev if e not in evidence)
        return held and score >= rule.threshold, evidence, score


def found_text(display: str, hit: Hit, pattern: str) -> str:
    """The words of the story a hit covers; a prefix term ("reader*") to
    the end of its word ("readers")."""
    end = hit.end
    if pattern.endswith("*"):
        while end < len(display) and display[end].isalnum() and not has_han(display[end]):
            end += 1
    return display[hit.start : end].strip()


def _make_match(rule: Rule, evidence: list[Evidence], story: _Story, snippet_chars: int) -> Match:
    ordered = sorted(evidence, key=lambda e: e[0].order)
    # The words as the story wrote them ("licence plate readers"), not the
    # rule's pattern ("licence plate reader*"): `rules explain` shows both.
    first: dict[str, str] = {}
    for hit, text, same in ordered:
        if same not in first:
            shown = story.text(hit.field).display
            first[same] = text if hit is _NO_SPAN else found_text(shown, hit, text) or text
    terms = tuple(dict.fromkeys(first.values()))
    spans = [e for e in ordered if e[0] is not _NO_SPAN]
    if spans:
        hit = spans[0][0]
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


@dataclass(frozen=True, slots=True)
class Context:
    """What a rule's filters look at besides the text."""

    source: str | None = None
    lang: str | None = None
    source_tags: frozenset[str] = frozenset()
    # the story's embedding when the caller has it (stored, or computed in a
    # batch); semantic conditions compute it otherwise
    vector: Any = None


class Matcher:
    """All rules compiled once; immutable after construction."""

    MODES = ("f", "c", "z")

    def __init__(self, rules: Iterable[Rule]):
        self.rules: list[Rule] = list(rules)
        self._by_term: dict[TermKey, list[int]] = {}
        self._always: list[int] = []
        keys: set[TermKey] = set()
        positional: set[TermKey] = set()
        fields: set[str] = set()
        for i, rule in enumerate(self.rules):
            fields.update(rule.fields)
            conds = [rule.condition] + [c for c, _, _ in rule.weighted]
            for cond in conds:
                fields.update(iter_fields(cond))
                for term in iter_terms(cond):
                    keys.add(term.index_key)
                for near in _iter_near(cond):
                    positional.update(t.index_key for g in near.groups for t in g)
            found = anchors(rule.condition)
            if found is None:
                self._always.append(i)
            else:
                for key in found:
                    users = self._by_term.setdefault(key, [])
                    if not users or users[-1] != i:
                        users.append(i)
        self._positional = frozenset(positional)
        # whether an enabled rule has a semantic condition: only then are stories embedded
        self.needs_vector = any(rule.enabled and rule.needs_vector() for rule in self.rules)
        self._fields = tuple(f for f in FIELDS if f in fields)
        # per mode: normalised key -> (index key as exact term or None, as prefix or None)
        self._targets: dict[str, dict[str, tuple[TermKey | None, TermKey | None]]] = {
            m: {} for m in self.MODES
        }
        for key in keys:
            mode, text, prefix = key
            exact_key, prefix_key = self._targets[mode].get(text, (None, None))
            self._targets[mode][text] = (exact_key, key) if prefix else (key, prefix_key)
        self._automata = {m: self._automaton(t) for m, t in self._targets.items()}

    @staticmethod
    def _automaton(targets: dict[str, tuple]) -> ahocorasick.Automaton | None:
        if not targets:
            return None
        auto = ahocorasick.Automaton(ahocorasick.STORE_ANY, ahocorasick.KEY_STRING)
        for text, (exact, prefix) in targets.items():
            auto.add_word(text, (len(text), exact, prefix))
        auto.make_automaton()
        return auto

    def _scan(self, story: _Story) -> Hits:
        """Each field scanned once per automaton; the first good hit of each
        term kept (every hit for terms that `near` uses)."""
        hits: Hits = {}
        positional = self._positional
        word = is_spaced_word_char
        for name in self._fields:
            text = story.text(name)
            if not text.display:
                continue
            for mode in self.MODES:
                auto = self._automata[mode]
                if auto is None or (mode == "z" and not has_han(text.folded)):
                    continue
                hay = story.hay(name, mode)
                n = len(hay)
                done: set = set()  # keys already found in this field that need no more positions
                for last, value in auto.iter(hay):
                    length, exact, prefix = value
                    if exact in done and (prefix is None or prefix in done):
                        continue
                    start, end = last - length + 1, last + 1
                    # a hit glued to a letter of a spaced script on its left is no word start
                    if start > 0 and word(hay[start - 1]) and word(hay[start]):
                        continue
                    for key, whole in ((exact, True), (prefix, False)):
                        if key is None or key in done:
                            continue
                        if whole and end < n and word(hay[end - 1]) and word(hay[end]):
                            continue
                        by_field = hits.get(key)
                        if by_field is None:
                            by_field = hits[key] = {}
                        found = by_field.get(name)
                        if found is None:
                            by_field[name] = [start, end]
                            if key not in positional:
                                done.add(key)
                        else:
                            found += (start, end)
        return hits

    def candidates(self, hits: Hits) -> list[int]:
        chosen = set(self._always)
        by_term = self._by_term
        for key in hits:
            users = by_term.get(key)
            if users:
                chosen.update(users)
        return sorted(chosen)

    def match(
        self,
        fields: Mapping[str, str],
        snippet_chars: int = 240,
        only: Iterable[int] | None = None,
        include_disabled: bool = False,
        context: Context | None = None,
    ) -> list[Match]:
        story = _Story(fields, context.vector if context is not None else None)
        hits = self._scan(story)
        indexes = self.candidates(hits)
        if only is not None:
            wanted = set(only)
            indexes = [i for i in indexes if i in wanted]
        return self._evaluate(
            indexes,
            _IndexFinder(hits, story),
            story,
            snippet_chars,
            include_disabled,
            context,
            fields,
        )

    def match_direct(
        self,
        fields: Mapping[str, str],
        snippet_chars: int = 240,
        only: Iterable[int] | None = None,
        include_disabled: bool = False,
        context: Context | None = None,
    ) -> list[Match]:
        """Every rule evaluated by plain search, without the automaton or index."""
        story = _Story(fields, context.vector if context is not None else None)
        indexes = range(len(self.rules)) if only is None else sorted(set(only))
        return self._evaluate(
            indexes, _DirectFinder(story), story, snippet_chars, include_disabled, context, fields
        )

    def explain(self, index: int, fields: Mapping[str, str], context: Context | None = None):
        """Every condition of one rule with its outcome, through the index."""
        story = _Story(fields, context.vector if context is not None else None)
        trace: list[Step] = []
        held, evidence, score = _Eval(_IndexFinder(self._scan(story), story), story, trace).rule(
            self.rules[index]
        )
        rule = self.rules[index]
        applies = rule.applies_to(*_context(context, fields))
        return held and applies, applies, trace, evidence, score, story

    def _evaluate(
        self,
        indexes: Iterable[int],
        finder: _Finder,
        story: _Story,
        snippet_chars: int,
        include_disabled: bool,
        context: Context | None,
        fields: Mapping[str, str],
    ) -> list[Match]:
        out = []
        ev = _Eval(finder, story)
        ctx = _context(context, fields)
        for i in indexes:
            rule = self.rules[i]
            if not rule.enabled and not include_disabled:
                continue
            if not rule.applies_to(*ctx):
                continue
            held, evidence, _ = ev.rule(rule)
            if held:
                out.append(_make_match(rule, evidence, story, snippet_chars))
        return out


def _context(context: Context | None, fields: Mapping[str, str]) -> tuple:
    if context is None:
        return fields.get("source") or None, None, frozenset()
    return (
        context.source if context.source is not None else fields.get("source"),
        context.lang,
        context.source_tags,
    )


def _iter_near(cond: Condition):
    if isinstance(cond, Near):
        yield cond
    elif isinstance(cond, (AnyOf, AllOf, AtLeast)):
        for item in cond.items:
            yield from _iter_near(item)
    elif isinstance(cond, (NotOf, Scope)):
        yield from _iter_near(cond.item)
