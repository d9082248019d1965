"""Rule files -> typed rules, with every problem pointing into the file.

The rule mapping is checked by pydantic (extra="forbid"); the `match`
condition tree is checked here by hand, because its shape (string, list,
or a mapping) does not fit a model and its errors should read like the file
("unknown key 'any_of' (did you mean 'any'?)").

Loading happens in three passes over all files: read every file (and the
list files it includes), collect the named term lists of all of them, then
parse the rules, resolving `extend` against the parsed base rule. A problem
in one file or rule never stops the others.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Union

import re2
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from monitor.engine.text import fold_chinese, has_han, normalise_term
from monitor.yamlfile import FileError, YamlDoc, did_you_mean, load_yaml, validation_errors

SEVERITIES = ("info", "low", "medium", "high", "critical")
FIELDS = ("title", "summary", "body", "url", "source")  # also the order snippets prefer
DEFAULT_FIELDS = ("title", "summary", "body")
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]*")
LIST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# RE2 runs in time linear in the text; its memory for one pattern is capped.
REGEX_MAX_MEM = 8 << 20

FieldName = Literal["title", "summary", "body", "url", "source"]

# Where a term is searched: "f" the case-folded text, "c" the text as
# written (cased terms), "z" the case-folded text with Traditional Chinese
# folded to Simplified (Chinese terms of rules with fold_chinese).
Mode = Literal["f", "c", "z"]
TermKey = tuple[str, str, bool]  # (mode, normalised term, prefix)


# --- the condition tree -------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Term:
    """A literal phrase; `key` is its normalised form, searched for in `mode`.

    A prefix term (written `surveil*`) needs a word boundary only at its start.
    """

    text: str
    key: str
    cased: bool = False
    prefix: bool = False
    mode: str = "f"
    index_key: TermKey = ("", "", False)  # (mode, key, prefix), set from the fields above

    def __post_init__(self) -> None:
        object.__setattr__(self, "index_key", (self.mode, self.key, self.prefix))


@dataclass(frozen=True, slots=True, eq=False)
class Regex:
    pattern: str
    compiled: Any  # an RE2 pattern: linear time, no backtracking
    cased: bool = False
    fold: bool = False  # searched in text with Traditional Chinese folded to Simplified


@dataclass(frozen=True, slots=True, eq=False)
class AnyOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True, eq=False)
class AllOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True, eq=False)
class NotOf:
    item: Condition


@dataclass(frozen=True, slots=True, eq=False)
class AtLeast:
    """At least `n` of the items hold."""

    n: int
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Near:
    """A hit of the first group with a hit of every other group within
    `within` words (characters in Chinese) of it, in the same field."""

    groups: tuple[tuple[Term, ...], ...]
    within: int


@dataclass(frozen=True, slots=True, eq=False)
class Scope:
    """`item` read in these fields instead of the rule's."""

    fields: tuple[str, ...]
    item: Condition


Condition = Union[Term, Regex, AnyOf, AllOf, NotOf, AtLeast, Near, Scope]  # noqa: UP007


def children(cond: Condition) -> tuple[Condition, ...]:
    if isinstance(cond, (AnyOf, AllOf, AtLeast)):
        return cond.items
    if isinstance(cond, (NotOf, Scope)):
        return (cond.item,)
    if isinstance(cond, Near):
        return tuple(t for g in cond.groups for t in g)
    return ()


def iter_terms(cond: Condition):
    """Every Term in the tree, including those under `not`."""
    if isinstance(cond, Term):
        yield cond
    for child in children(cond):
        yield from iter_terms(child)


def iter_fields(cond: Condition):
    """Fields named by `fields:` scopes in the tree."""
    if isinstance(cond, Scope):
        yield from cond.fields
    for child in children(cond):
        yield from iter_fields(child)


def anchors(cond: Condition) -> frozenset[TermKey] | None:
    """Term keys of which at least one must be found for `cond` to hold.

    None when `cond` could hold without any term (a regex, a `not`): the
    rule must then always be evaluated. For `all`, the branch with the most
    specific terms (the longest shortest term) is chosen, so a rule whose
    branches are "data" and "exposed database" is only evaluated when the
    latter was seen.
    """
    if isinstance(cond, Term):
        return frozenset([cond.index_key])
    if isinstance(cond, (Regex, NotOf)):
        return None
    if isinstance(cond, Scope):
        return anchors(cond.item)
    if isinstance(cond, Near):
        options = [frozenset(t.index_key for t in g) for g in cond.groups]
        return max(options, key=_specificity)
    if isinstance(cond, AtLeast) and cond.n <= 0:
        return None
    if isinstance(cond, AtLeast):
        # n of the items hold, so one of any len - n + 1 of them does: the most specific ones
        found = [anchors(item) for item in cond.items]
        if any(a is None for a in found):
            found = [a for a in found if a is not None]
            if len(found) < len(cond.items) - cond.n + 1:
                return None
        found.sort(key=_specificity, reverse=True)
        return frozenset().union(*found[: len(cond.items) - cond.n + 1])
    if isinstance(cond, AnyOf):
        out: set[TermKey] = set()
        for item in cond.items:
            found = anchors(item)
            if found is None:
                return None
            out |= found
        return frozenset(out)
    options = [a for a in (anchors(item) for item in cond.items) if a is not None]
    return max(options, key=_specificity) if options else None


def _specificity(keys: frozenset[TermKey]) -> tuple[int, int]:
    return (min(len(k[1]) for k in keys), -len(keys))


def describe(cond: Condition) -> str:
    """One short line naming a condition, for explanations."""
    if isinstance(cond, Term):
        kind = "prefix" if cond.prefix else "term"
        extra = " (cased)" if cond.cased else " (Chinese folded)" if cond.mode == "z" else ""
        return f"{kind} {cond.text!r}{extra}"
    if isinstance(cond, Regex):
        return f"regex {cond.pattern!r}" + (" (cased)" if cond.cased else "")
    if isinstance(cond, AnyOf):
        terms = [c.text for c in cond.items if isinstance(c, Term)]
        if len(terms) == len(cond.items):
            return "any of " + "|".join(terms[:5]) + ("|…" if len(terms) > 5 else "")
        return f"any of {len(cond.items)}"
    if isinstance(cond, AllOf):
        return f"all of {len(cond.items)}"
    if isinstance(cond, NotOf):
        return "not"
    if isinstance(cond, AtLeast):
        return f"at least {cond.n} of {len(cond.items)}"
    if isinstance(cond, Near):
        groups = " / ".join(
            "|".join(t.text for t in g[:4]) + ("|…" if len(g) > 4 else "") for g in cond.groups
        )
        return f"near, within {cond.within}: {groups}"
    if isinstance(cond, Scope):
        return f"in {', '.join(cond.fields)}"
    return type(cond).__name__


# --- rules --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleTest:
    """One embedded example: `fields` should (or should not) match."""

    expect_match: bool
    fields: dict[str, str]
    line: int | None


@dataclass(frozen=True, slots=True)
class RuleTests:
    """A rule's embedded examples; iterating gives match cases, then no_match ones."""

    match: tuple[RuleTest, ...] = ()
    no_match: tuple[RuleTest, ...] = ()

    def __iter__(self):
        yield from self.match
        yield from self.no_match

    def __len__(self) -> int:
        return len(self.match) + len(self.no_match)


# A condition that carries a weight, and the fields it reads when a `fields:`
# scope above it says so (None: the rule's fields).
Weighted = tuple[Condition, float, "tuple[str, ...] | None"]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    severity: str
    tags: tuple[str, ...]
    channels: tuple[str, ...]
    fields: tuple[str, ...]
    enabled: bool
    condition: Condition
    path: Path
    line: int | None
    description: str | None = None
    references: tuple[str, ...] = ()
    tests: RuleTests = field(default_factory=RuleTests)
    threshold: float | None = None
    weighted: tuple[Weighted, ...] = ()
    sources: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    source_tags: tuple[str, ...] = ()
    fold_chinese: bool = False
    extends: str | None = None

    def applies_to(
        self, source: str | None, lang: str | None, source_tags: frozenset[str] | tuple = ()
    ) -> bool:
        """The rule's filters on the story's source, language and source tags.

        A story whose language is unknown passes a language filter: a missed
        alert costs more than a stray one.
        """
        if self.sources and (source or "") not in self.sources:
            return False
        if self.languages and lang:
            low = lang.lower()
            if not any(low == want or low.startswith(want + "-") for want in self.languages):
                return False
        if self.source_tags and not set(self.source_tags) & set(source_tags):
            return False
        return True


class _Case(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = ""
    summary: str = ""
    body: str = ""
    url: str = ""
    source: str = ""


class _Tests(BaseModel):
    model_config = ConfigDict(extra="forbid")
    match: list[_Case] = []
    no_match: list[_Case] = []

    @field_validator("match", "no_match", mode="before")
    @classmethod
    def _bare_strings_are_titles(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            return [{"title": v} if isinstance(v, str) else v for v in value]
        return value


def _check_id(value: str) -> str:
    if not ID_PATTERN.fullmatch(value):
        raise ValueError(
            f"'{value}' is not a valid rule id: use lowercase letters, digits, '.', '_' "
            "and '-', starting with a letter or digit"
        )
    return value


def _check_severity(value: str | None) -> str | None:
    if value is not None and value not in SEVERITIES:
        raise ValueError(f"'{value}' is not a severity; expected one of {', '.join(SEVERITIES)}")
    return value


def _check_fields(value: list[str] | None) -> list[str] | None:
    if value is not None and not value:
        raise ValueError(f"list is empty; expected some of {', '.join(FIELDS)}")
    return value


def _check_threshold(value: float | None) -> float | None:
    if value is not None and value <= 0:
        raise ValueError("a threshold must be a number above 0")
    return value


def _lower_all(value: list[str] | None) -> list[str] | None:
    return None if value is None else [v.lower() for v in value]


class _RuleFields(BaseModel):
    """Checks shared by a rule and by what an extending rule adds or
    replaces; each applies where the model has the field."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("severity", check_fields=False)
    @classmethod
    def _sev(cls, v):
        return _check_severity(v)

    @field_validator("fields", check_fields=False)
    @classmethod
    def _fields(cls, v):
        return _check_fields(v)

    @field_validator("threshold", check_fields=False)
    @classmethod
    def _thr(cls, v):
        return _check_threshold(v)

    @field_validator("languages", check_fields=False)
    @classmethod
    def _langs(cls, v):
        return _lower_all(v)


class RuleModel(_RuleFields):
    id: str
    title: str | None = None
    severity: str = "medium"
    tags: list[str] = []
    channels: list[str] = []
    fields: list[FieldName] = list(DEFAULT_FIELDS)
    enabled: bool = True
    description: str | None = None
    references: list[str] = []
    match: Any = None
    threshold: float | None = None
    sources: list[str] = []
    languages: list[str] = []
    source_tags: list[str] = []
    fold_chinese: bool = False
    extend: str | None = None
    add: _Add | None = None
    replace: _Replace | None = None
    tests: _Tests | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, v):
        return _check_id(v)


class _Add(_RuleFields):
    """What an extending rule appends to its base: list items, or a condition
    that must hold as well."""

    tags: list[str] | None = None
    channels: list[str] | None = None
    references: list[str] | None = None
    fields: list[FieldName] | None = None
    sources: list[str] | None = None
    languages: list[str] | None = None
    source_tags: list[str] | None = None
    match: Any = None


class _Replace(_RuleFields):
    """What an extending rule sets instead of its base's value."""

    title: str | None = None
    severity: str | None = None
    tags: list[str] | None = None
    channels: list[str] | None = None
    fields: list[FieldName] | None = None
    enabled: bool | None = None
    description: str | None = None
    references: list[str] | None = None
    match: Any = None
    threshold: float | None = None
    sources: list[str] | None = None
    languages: list[str] | None = None
    source_tags: list[str] | None = None
    fold_chinese: bool | None = None


RuleModel.model_rebuild()

# keys an extending rule may hold next to `extend`; the rest go under add or replace
_EXTEND_KEYS = {"id", "extend", "add", "replace", "tests"}


# --- parsing conditions -------------------------------------------------------

_OPERATORS = ("any", "all", "not", "regex", "term", "list", "of", "near")
_MODIFIERS = ("cased", "weight", "fields", "within", "at_least")
_CONDITION_KEYS = _OPERATORS + _MODIFIERS
_MODIFIER_OPS = {"cased": ("term", "regex"), "within": ("near",), "at_least": ("of",)}


@dataclass
class ListDef:
    """A named list as written: parsed on use, in the context of its file."""

    name: str
    doc: YamlDoc
    loc: tuple
    raw: Any


class Lists:
    """Every named list of every loaded file, parsed once per folding mode."""

    def __init__(self, defs: dict[str, ListDef], errors: list[FileError]):
        self.defs = defs
        self.errors = errors  # problems inside list bodies, reported once
        self._parsed: dict[tuple[str, bool], Condition | None] = {}
        self._active: list[str] = []

    def get(self, name: str, fold: bool) -> Condition | None:
        key = (name, fold)
        if key in self._parsed:
            return self._parsed[key]
        d = self.defs[name]
        self._active.append(name)
        errors: list[FileError] = []
        parser = _ConditionParser(d.doc, errors, self, fold, in_list=True)
        cond = parser.parse(d.raw, d.loc)
        self._active.pop()
        seen = {str(e) for e in self.errors}
        self.errors.extend(e for e in errors if str(e) not in seen)
        self._parsed[key] = cond if not errors else None
        return self._parsed[key]

    def in_cycle(self, name: str) -> bool:
        return name in self._active


class _ConditionParser:
    def __init__(
        self,
        doc: YamlDoc,
        errors: list[FileError],
        lists: Lists | None = None,
        fold: bool = False,
        in_list: bool = False,
    ):
        self.doc = doc
        self.errors = errors
        self.lists = lists
        self.fold = fold
        self.in_list = in_list
        self.weighted: list[Weighted] = []
        self._scope: list[tuple[str, ...]] = []
        self._negated = 0

    def fail(self, loc: tuple, message: str) -> None:
        self.errors.append(self.doc.error(loc, message))

    def parse(self, value: Any, loc: tuple) -> Condition | None:
        if isinstance(value, (str, bool, int, float)):
            return self.term(value, False, loc)
        if isinstance(value, list):
            return self.group(value, loc, AnyOf)
        if isinstance(value, dict):
            return self.mapping(value, loc)
        self.fail(
            loc,
            f"expected a condition (a term, a list, or a mapping with one of "
            f"{', '.join(_OPERATORS)}), got {_kind(value)}{_quote_hint(value)}",
        )
        return None

    def term(self, value: Any, cased: bool, loc: tuple) -> Term | None:
        if not isinstance(value, str):
            self.fail(loc, f"a term must be a string, got {_kind(value)}{_quote_hint(value)}")
            return None
        prefix = False
        text = value
        stripped = value.rstrip()
        if stripped.endswith("*") and len(stripped) > 1:
            prefix = True
            text = stripped[:-1]
        if "*" in text:
            self.fail(
                loc,
                f"'*' is allowed only at the end of a term (a prefix such as 'surveil*'), "
                f"got {value!r}; use a regex for other patterns",
            )
            return None
        key = normalise_term(text, cased)
        if not key:
            self.fail(loc, "empty term")
            return None
        mode = "c" if cased else "f"
        if self.fold and not cased and has_han(key):
            mode, key = "z", fold_chinese(key)
        return Term(value, key, cased, prefix, mode)

    def regex(self, value: Any, cased: bool, loc: tuple) -> Regex | None:
        if not isinstance(value, str):
            self.fail(loc, f"a regex must be a string, got {_kind(value)}")
            return None
        options = re2.Options()
        options.case_sensitive = cased
        options.log_errors = False
        options.max_mem = REGEX_MAX_MEM
        fold = self.fold and not cased
        try:
            compiled = re2.compile(fold_chinese(value) if fold else value, options)
        except re2.error as e:
            reason = e.args[0] if e.args else e
            if isinstance(reason, bytes):
                reason = reason.decode("utf-8", "replace")
            self.fail(
                loc,
                f"bad regex {value!r}: {reason} (regexes use RE2 syntax: no backreferences "
                "or lookaround)",
            )
            return None
        if compiled.search("") is not None:
            self.fail(loc, f"regex {value!r} matches empty text, so it would match every story")
            return None
        return Regex(value, compiled, cased, fold)

    def group(self, value: Any, loc: tuple, kind: type) -> Condition | None:
        if not isinstance(value, list):
            # `any: "x"` is a harmless shorthand for a one-element list
            value = [value]
        if not value:
            self.fail(loc, "empty list: expected at least one condition")
            return None
        items = [self.parse(v, loc + (i,)) for i, v in enumerate(value)]
        if any(item is None for item in items):
            return None
        if len(items) == 1:
            return items[0]
        return kind(tuple(items))

    def mapping(self, value: dict, loc: tuple) -> Condition | None:
        ok = True
        for key in value:
            if key not in _CONDITION_KEYS:
                self.fail(
                    loc + (key,), f"unknown key '{key}'{did_you_mean(str(key), _CONDITION_KEYS)}"
                )
                ok = False
        ops = [k for k in value if k in _OPERATORS]
        if not ops:
            if ok:
                if "at_least" in value:
                    self.fail(loc, "'at_least' needs 'of': {at_least: 2, of: [...]}")
                else:
                    self.fail(loc, f"a condition mapping needs one of {', '.join(_OPERATORS)}")
            return None
        if len(ops) > 1:
            self.fail(
                loc + (ops[1],),
                f"one operator per mapping, found '{ops[0]}' and '{ops[1]}'; "
                "nest them in a list under 'all' or 'any'",
            )
            return None
        op = ops[0]
        for mod, allowed in _MODIFIER_OPS.items():
            if mod in value and op not in allowed:
                self.fail(
                    loc + (mod,),
                    f"'{mod}' goes with {' or '.join(repr(a) for a in allowed)}, not '{op}'",
                )
                ok = False
        cased = value.get("cased", False)
        if "cased" in value and not isinstance(cased, bool):
            self.fail(loc + ("cased",), f"'cased' must be true or false, got {_kind(cased)}")
            ok = False
        weight = self._number(value, "weight", loc)
        if weight is False:
            ok = False
        elif weight is not None:
            if self.in_list:
                self.fail(loc + ("weight",), "weights go in rules, not in named lists")
                ok = False
            elif self._negated:
                self.fail(loc + ("weight",), "a weight under 'not' can never count")
                ok = False
        scope = None
        if "fields" in value:
            scope = self._fields(value["fields"], loc + ("fields",))
            ok = ok and scope is not None
        if not ok:
            return None
        here = loc + (op,)
        if scope is not None:
            self._scope.append(scope)
        try:
            cond = self._operator(op, value, value[op], cased, here, loc)
        finally:
            if scope is not None:
                self._scope.pop()
        if cond is None:
            return None
        if scope is not None:
            cond = Scope(scope, cond)
        if weight is not None:
            self.weighted.append((cond, weight, self._scope[-1] if self._scope else None))
        return cond

    def _operator(
        self, op: str, value: dict, inner: Any, cased: bool, here: tuple, loc: tuple
    ) -> Condition | None:
        if op == "term":
            return self.term(inner, cased, here)
        if op == "regex":
            return self.regex(inner, cased, here)
        if op == "any":
            return self.group(inner, here, AnyOf)
        if op == "all":
            return self.group(inner, here, AllOf)
        if op == "list":
            return self.list_ref(inner, here)
        if op == "of":
            return self.at_least(value, inner, here, loc)
        if op == "near":
            return self.near(value, inner, here, loc)
        # not: a list under not means none of them
        self._negated += 1
        try:
            item = self.parse(inner, here)
        finally:
            self._negated -= 1
        return NotOf(item) if item is not None else None

    def _number(self, value: dict, key: str, loc: tuple, integer: bool = False):
        """The number under `key`: None when absent, False after reporting a problem."""
        if key not in value:
            return None
        n = value[key]
        if (
            isinstance(n, bool)
            or not isinstance(n, (int, float))
            or (integer and not isinstance(n, int))
        ):
            self.fail(
                loc + (key,),
                f"'{key}' must be a {'whole ' if integer else ''}number, got {_kind(n)}",
            )
            return False
        if key == "within" and n < 0:
            self.fail(loc + (key,), f"'within' must be 0 (next to each other) or more, got {n}")
            return False
        if n <= 0 and key not in ("at_least", "within"):
            self.fail(loc + (key,), f"'{key}' must be above 0, got {n}")
            return False
        return n

    def _fields(self, value: Any, loc: tuple) -> tuple[str, ...] | None:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            self.fail(loc, f"'fields' must be a list of some of {', '.join(FIELDS)}")
            return None
        for i, name in enumerate(value):
            if name not in FIELDS:
                self.fail(
                    loc + (i,),
                    f"unknown field '{name}'{did_you_mean(str(name), FIELDS)}; "
                    f"expected some of {', '.join(FIELDS)}",
                )
                return None
        return tuple(dict.fromkeys(value))

    def list_ref(self, name: Any, loc: tuple) -> Condition | None:
        if not isinstance(name, str):
            self.fail(loc, f"'list' takes the name of a list, got {_kind(name)}")
            return None
        if self.lists is None or name not in self.lists.defs:
            known = list(self.lists.defs) if self.lists else []
            hint = did_you_mean(name, known) or (
                f"; known lists: {', '.join(sorted(known))}" if known else "; no lists are defined"
            )
            self.fail(loc, f"unknown list '{name}'{hint}")
            return None
        if self.lists.in_cycle(name):
            self.fail(loc, f"list '{name}' refers to itself")
            return None
        cond = self.lists.get(name, self.fold)
        if cond is None:
            self.fail(loc, f"list '{name}' has problems (reported at its definition)")
        return cond

    def at_least(self, value: dict, inner: Any, here: tuple, loc: tuple) -> Condition | None:
        n = self._number(value, "at_least", loc, integer=True)
        if n is None:
            self.fail(loc, "'of' needs 'at_least': {at_least: 2, of: [...]}")
            return None
        if n is False:
            return None
        if n < 1:
            self.fail(loc + ("at_least",), f"'at_least' must be 1 or more, got {n}")
            return None
        if not isinstance(inner, list):
            inner = [inner]
        items = [self.parse(v, here + (i,)) for i, v in enumerate(inner)]
        if any(item is None for item in items):
            return None
        if n > len(items):
            self.fail(
                loc + ("at_least",), f"at_least {n} of {len(items)} conditions can never hold"
            )
            return None
        return AtLeast(n, tuple(items))

    def near(self, value: dict, inner: Any, here: tuple, loc: tuple) -> Condition | None:
        within = self._number(value, "within", loc, integer=True)
        if within is None:
            self.fail(loc, "'near' needs 'within': the distance in words (characters in Chinese)")
            return None
        if within is False:
            return None
        if not isinstance(inner, list) or len(inner) < 2:
            self.fail(here, "'near' takes a list of two or more groups of terms")
            return None
        groups = []
        for i, raw in enumerate(inner):
            cond = self.parse(raw, here + (i,))
            if cond is None:
                return None
            terms = _flat_terms(cond)
            if terms is None:
                self.fail(
                    here + (i,),
                    "a 'near' group holds terms, or lists of terms (no regex, not, all or fields)",
                )
                return None
            groups.append(terms)
        return Near(tuple(groups), within)


def _flat_terms(cond: Condition) -> tuple[Term, ...] | None:
    if isinstance(cond, Term):
        return (cond,)
    if isinstance(cond, AnyOf):
        out: list[Term] = []
        for item in cond.items:
            sub = _flat_terms(item)
            if sub is None:
                return None
            out.extend(sub)
        return tuple(out)
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        dict: "a mapping",
        str: "a string",
        list: "a list",
    }.get(type(value), type(value).__name__)


def _quote_hint(value: Any) -> str:
    if isinstance(value, (bool, int, float)):
        return "; put the term in quotes"
    return ""


# --- parsing rules ------------------------------------------------------------


def _tests(doc: YamlDoc, loc: tuple, model: _Tests | None) -> RuleTests:
    tests: dict[str, list[RuleTest]] = {"match": [], "no_match": []}
    if model is not None:
        for kind, cases in (("match", model.match), ("no_match", model.no_match)):
            for j, case in enumerate(cases):
                case_node = doc.node_at(loc + ("tests", kind, j))
                line = case_node.start_mark.line + 1 if case_node is not None else None
                fields = {k: v for k, v in case.model_dump().items() if v}
                tests[kind].append(RuleTest(kind == "match", fields, line))
    return RuleTests(tuple(tests["match"]), tuple(tests["no_match"]))


def _check_weights(
    doc: YamlDoc,
    loc: tuple,
    threshold: float | None,
    weighted: tuple[Weighted, ...],
    errors: list[FileError],
) -> bool:
    if threshold is None:
        if weighted:
            errors.append(
                doc.error(
                    loc,
                    "conditions carry a weight but the rule has no 'threshold'; "
                    "add one, or drop the weights",
                )
            )
            return False
        return True
    total = sum(w for _, w, _ in weighted)
    if not weighted:
        errors.append(
            doc.error(loc + ("threshold",), "'threshold' needs conditions with a 'weight'")
        )
        return False
    if total < threshold:
        errors.append(
            doc.error(
                loc + ("threshold",),
                f"threshold {threshold:g} can never be reached: the weights add up to {total:g}",
            )
        )
        return False
    return True


@dataclass
class _Pending:
    """A rule that extends another, waiting for its base to be parsed."""

    doc: YamlDoc
    path: Path
    order: tuple[int, int]
    loc: tuple
    raw: dict
    model: RuleModel


def _parse_rule(
    doc: YamlDoc, path: Path, loc: tuple, raw: Any, lists: Lists, errors: list[FileError]
) -> Rule | RuleModel | None:
    """A Rule, or the validated model of a rule that extends another, or None."""
    if not isinstance(raw, dict):
        errors.append(
            doc.error(loc, f"a rule must be a mapping with id, title and match, got {_kind(raw)}")
        )
        return None
    before = len(errors)
    model = None
    try:
        model = RuleModel.model_validate(raw)
    except ValidationError as e:
        errors.extend(validation_errors(doc, e, RuleModel, prefix=loc))
    if "extend" in raw:
        for key in raw:
            if key not in _EXTEND_KEYS and key in RuleModel.model_fields:
                errors.append(
                    doc.error(
                        loc + (key,),
                        f"'{key}' in a rule that extends another: put it under "
                        f"'replace' (or 'add' for lists and conditions)",
                    )
                )
        return model if model is not None and len(errors) == before else None
    for key in ("add", "replace"):
        if key in raw:
            errors.append(
                doc.error(loc + (key,), f"'{key}' goes with 'extend' (a rule built on another)")
            )
    for key in ("title", "match"):
        if key not in raw:
            errors.append(doc.error(loc, f"missing required key '{key}'"))
    condition = None
    if "match" in raw:
        if raw["match"] is None:
            errors.append(doc.error(loc + ("match",), "'match' is empty: expected a condition"))
        else:
            parser = _ConditionParser(
                doc, errors, lists, fold=bool(raw.get("fold_chinese") is True)
            )
            condition = parser.parse(raw["match"], loc + ("match",))
    if model is None or condition is None or len(errors) > before:
        return None
    weighted = tuple(parser.weighted)
    if not _check_weights(doc, loc, model.threshold, weighted, errors):
        return None
    node = doc.node_at(loc)
    return Rule(
        id=model.id,
        title=model.title or "",
        severity=model.severity,
        tags=tuple(model.tags),
        channels=tuple(model.channels),
        fields=tuple(dict.fromkeys(model.fields)),
        enabled=model.enabled,
        condition=condition,
        path=path,
        line=node.start_mark.line + 1 if node is not None else None,
        description=model.description,
        references=tuple(model.references),
        tests=_tests(doc, loc, model.tests),
        threshold=model.threshold,
        weighted=weighted,
        sources=tuple(model.sources),
        languages=tuple(model.languages),
        source_tags=tuple(model.source_tags),
        fold_chinese=model.fold_chinese,
    )


def _apply_extend(p: _Pending, base: Rule, lists: Lists, errors: list[FileError]) -> Rule | None:
    """The base rule with this rule's `replace` set and `add` appended; the
    parsed base is changed, never its text."""
    before = len(errors)
    model, doc, loc = p.model, p.doc, p.loc
    rep = model.replace or _Replace()
    add = model.add or _Add()
    fold = rep.fold_chinese if rep.fold_chinese is not None else base.fold_chinese
    changes: dict[str, Any] = {}
    for name in ("title", "severity", "enabled", "description", "threshold"):
        value = getattr(rep, name)
        if value is not None:
            changes[name] = value
    for name in ("tags", "channels", "references", "fields", "sources", "languages", "source_tags"):
        value = getattr(base, name)
        if getattr(rep, name) is not None:
            value = tuple(getattr(rep, name))
        if getattr(add, name) is not None:
            value = value + tuple(getattr(add, name))
        changes[name] = tuple(dict.fromkeys(value))
    if rep.fold_chinese is not None:
        changes["fold_chinese"] = rep.fold_chinese
    condition, weighted = base.condition, base.weighted
    raw_rep = p.raw.get("replace") or {}
    raw_add = p.raw.get("add") or {}
    if isinstance(raw_rep, dict) and "match" in raw_rep:
        parser = _ConditionParser(doc, errors, lists, fold)
        condition = parser.parse(raw_rep["match"], loc + ("replace", "match"))
        weighted = tuple(parser.weighted)
    if isinstance(raw_add, dict) and "match" in raw_add and condition is not None:
        parser = _ConditionParser(doc, errors, lists, fold)
        extra = parser.parse(raw_add["match"], loc + ("add", "match"))
        if extra is not None:
            condition = AllOf((condition, extra))
            weighted = weighted + tuple(parser.weighted)
    if condition is None or len(errors) > before:
        return None
    threshold = changes.get("threshold", base.threshold)
    if not _check_weights(doc, loc, threshold, weighted, errors):
        return None
    node = doc.node_at(loc)
    return replace(
        base,
        **changes,
        id=model.id,
        condition=condition,
        weighted=weighted,
        path=p.path,
        line=node.start_mark.line + 1 if node is not None else None,
        tests=_tests(doc, loc, model.tests),
        extends=base.id,
    )


_FILE_KEYS = ("rules", "lists", "include")


def _rule_entries(doc: YamlDoc, errors: list[FileError]) -> list[tuple[int, Any]]:
    data = doc.data
    if data is None:
        errors.append(doc.error((), "empty file: expected a top-level 'rules:' list"))
        return []
    if not isinstance(data, dict):
        errors.append(
            doc.error((), f"expected a mapping with a 'rules:' list at the top, got {_kind(data)}")
        )
        return []
    for key in data:
        if key not in _FILE_KEYS:
            errors.append(
                doc.error((key,), f"unknown key '{key}'{did_you_mean(str(key), _FILE_KEYS)}")
            )
    if "rules" not in data:
        if "lists" not in data and "include" not in data and not errors:
            errors.append(doc.error((), "missing required key 'rules'"))
        return []
    raw_rules = data["rules"]
    if not isinstance(raw_rules, list):
        errors.append(
            doc.error(("rules",), f"'rules' must be a list of rules, got {_kind(raw_rules)}")
        )
        return []
    return list(enumerate(raw_rules))


def _list_defs(
    doc: YamlDoc, only_lists: bool = False
) -> tuple[dict[str, ListDef], list[FileError]]:
    errors: list[FileError] = []
    data = doc.data
    defs: dict[str, ListDef] = {}
    if only_lists:
        if not isinstance(data, dict) or "lists" not in data:
            errors.append(doc.error((), "an included file holds a top-level 'lists:' mapping"))
            return defs, errors
        for key in data:
            if key != "lists":
                errors.append(
                    doc.error((key,), f"an included file holds only 'lists', not '{key}'")
                )
    if not isinstance(data, dict) or "lists" not in data:
        return defs, errors
    raw = data["lists"]
    if not isinstance(raw, dict):
        errors.append(
            doc.error(("lists",), f"'lists' must map names to lists of terms, got {_kind(raw)}")
        )
        return defs, errors
    for name, body in raw.items():
        if not isinstance(name, str) or not LIST_NAME.fullmatch(name):
            errors.append(
                doc.error(
                    ("lists", name),
                    f"'{name}' is not a valid list name: use letters, digits, '.', '_' and '-'",
                )
            )
            continue
        if body is None or body == []:
            errors.append(doc.error(("lists", name), f"list '{name}' is empty"))
            continue
        defs[name] = ListDef(name, doc, ("lists", name), body)
    return defs, errors


def _resolve(
    pending: list[_Pending], by_id: dict[str, Rule], lists: Lists, errors: list[FileError]
) -> list[tuple[tuple[int, int], Rule]]:
    """Rules that extend others, in an order where each base comes first."""
    out = []
    waiting = list(pending)
    waiting_ids = {p.model.id for p in waiting}
    while waiting:
        ready = [p for p in waiting if p.model.extend in by_id]
        if not ready:
            for p in waiting:
                base = p.model.extend
                if base in waiting_ids:
                    msg = f"rule '{p.model.id}' extends '{base}', which extends back (a cycle), or is broken"
                else:
                    msg = f"rule '{p.model.id}' extends unknown rule '{base}'{did_you_mean(str(base), by_id)}"
                errors.append(p.doc.error(p.loc + ("extend",), msg))
            break
        for p in ready:
            waiting.remove(p)
            waiting_ids.discard(p.model.id)
            rule = _apply_extend(p, by_id[p.model.extend], lists, errors)
            if rule is not None and rule.id not in by_id:
                by_id[rule.id] = rule
                out.append((p.order, rule))
            elif rule is not None:
                out.append((p.order, rule))  # the duplicate id is reported by the caller
    return out


# --- files --------------------------------------------------------------------


def _inside(path: Path, root: Path) -> bool:
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(root))
        return True
    except ValueError:
        return False


def rule_files(paths: list[Path]) -> tuple[list[tuple[Path, Path]], list[FileError]]:
    """Expand directories (their *.yaml and *.yml, sorted, not recursive).

    Each file comes with its rules folder (the directory given, or the
    folder of a file given), which its includes may not leave. A symlink in
    a folder that points outside it is refused.
    """
    files: list[tuple[Path, Path]] = []
    errors: list[FileError] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml") and f.is_file())
            if not found:
                errors.append(
                    FileError(p, None, None, "no rule files (*.yaml, *.yml) in this directory")
                )
            for f in found:
                if not _inside(f, p):
                    errors.append(
                        FileError(
                            f, None, None, "refused: a link to a file outside the rules folder"
                        )
                    )
                else:
                    files.append((f, p))
        elif p.exists():
            files.append((p, p.parent))
        else:
            errors.append(FileError(p, None, None, "no such file or directory"))
    return files, errors


def _includes(doc: YamlDoc, path: Path, root: Path, errors: list[FileError]) -> list[Path]:
    data = doc.data
    if not isinstance(data, dict) or "include" not in data:
        return []
    raw = data["include"]
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        errors.append(
            doc.error(("include",), f"'include' takes a list of list files, got {_kind(raw)}")
        )
        return []
    out = []
    for i, name in enumerate(raw):
        loc = ("include", i) if isinstance(data["include"], list) else ("include",)
        if not isinstance(name, str) or not name:
            errors.append(doc.error(loc, f"an include is a file name, got {_kind(name)}"))
            continue
        if os.path.isabs(name) or name.startswith("~"):
            errors.append(
                doc.error(
                    loc,
                    f"refused include '{name}': an absolute path; name a file inside "
                    "the rules folder, relative to this file",
                )
            )
            continue
        target = path.parent / name
        if not _inside(target, root):
            errors.append(
                doc.error(loc, f"refused include '{name}': it leads outside the rules folder")
            )
            continue
        if not target.is_file():
            errors.append(doc.error(loc, f"include '{name}': no such file"))
            continue
        out.append(target)
    return out


def read_rules(paths: list[Path]) -> tuple[list[Rule], list[FileError]]:
    """Load every rule file; ids and list names must be unique across all of them."""
    files, problems = rule_files(paths)
    per_file: dict[str, list[FileError]] = {}
    docs: list[tuple[Path, YamlDoc]] = []
    defs: dict[str, ListDef] = {}
    list_errors: list[FileError] = []
    loaded: set[str] = set()

    def add_lists(doc: YamlDoc, only_lists: bool) -> None:
        found, errs = _list_defs(doc, only_lists)
        per_file.setdefault(doc.path, []).extend(errs)
        for name, d in found.items():
            first = defs.get(name)
            if first is not None:
                node = first.doc.node_at(first.loc)
                where = (
                    f"{first.doc.path}:{node.start_mark.line + 1}"
                    if node is not None
                    else first.doc.path
                )
                per_file[doc.path].append(
                    doc.error(d.loc, f"duplicate list name '{name}' (first defined at {where})")
                )
                continue
            defs[name] = d

    for path, root in files:
        try:
            doc = load_yaml(path)
        except FileError as e:
            problems.append(e)
            continue
        loaded.add(os.path.realpath(path))
        errs = per_file.setdefault(doc.path, [])
        docs.append((path, doc))
        add_lists(doc, False)
        for inc in _includes(doc, path, root, errs):
            real = os.path.realpath(inc)
            if real in loaded:
                continue  # a rule file of the folder, or included twice: its lists are in already
            loaded.add(real)
            try:
                inc_doc = load_yaml(inc)
            except FileError as e:
                problems.append(e)
                continue
            add_lists(inc_doc, True)

    lists = Lists(defs, list_errors)
    rules: list[tuple[tuple[int, int], Rule]] = []
    pending: list[_Pending] = []
    by_id: dict[str, Rule] = {}
    seen: dict[str, tuple[Path, int | None]] = {}

    def claim(doc: YamlDoc, loc: tuple, rule_id: str, path: Path, line: int | None) -> bool:
        first = seen.get(rule_id)
        if first is not None:
            where = f"{first[0]}:{first[1]}" if first[1] else str(first[0])
            per_file[doc.path].append(
                doc.error(
                    loc + ("id",), f"duplicate rule id '{rule_id}' (first defined at {where})"
                )
            )
            return False
        seen[rule_id] = (path, line)
        return True

    for n, (path, doc) in enumerate(docs):
        errs = per_file[doc.path]
        for i, raw in _rule_entries(doc, errs):
            loc = ("rules", i)
            got = _parse_rule(doc, path, loc, raw, lists, errs)
            if isinstance(got, Rule):
                if claim(doc, loc, got.id, path, got.line):
                    by_id[got.id] = got
                    rules.append(((n, i), got))
            elif isinstance(got, RuleModel):
                node = doc.node_at(loc)
                if claim(
                    doc, loc, got.id, path, node.start_mark.line + 1 if node is not None else None
                ):
                    pending.append(_Pending(doc, path, (n, i), loc, raw, got))
    resolve_errors: list[FileError] = []
    rules.extend(_resolve(pending, by_id, lists, resolve_errors))
    for e in resolve_errors + list_errors:
        per_file.setdefault(e.path, []).append(e)
    for errs in per_file.values():
        problems.extend(sorted(errs, key=lambda e: (e.line or 0, e.col or 0)))
    rules.sort(key=lambda x: x[0])
    return [r for _, r in rules], problems
