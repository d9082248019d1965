"""The rule as the matcher sees it: the condition tree, `Rule` and its
embedded tests, and the pydantic models that check a rule mapping as written.

The models stay beside the tree they are parsed into: a field added to one
is added to the other.

Size: the tree's node types and the models checking them are one
vocabulary; split, every new condition would touch two modules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, field_validator

from monitor.semantic.conditions import Classifier, Similar
from monitor.semantic.conditions import describe as describe_semantic

SEVERITIES = ("info", "low", "medium", "high", "critical")
FIELDS = ("title", "summary", "body", "url", "source")  # also the order snippets prefer
DEFAULT_FIELDS: tuple[FieldName, ...] = ("title", "summary", "body")
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
    compiled: Any  # an RE2 pattern: linear time, no backtracking; None until first use
    cased: bool = False
    fold: bool = False  # searched in text with Traditional Chinese folded to Simplified

    def search(self, text: str) -> Any:
        compiled = self.compiled
        if compiled is None:  # read back from the rule cache: compiled on first use
            compiled = compile_regex(self.pattern, self.cased, self.fold)
            object.__setattr__(self, "compiled", compiled)
        return compiled.search(text)

    def __reduce__(self) -> tuple:
        # kept without the compiled pattern, which cannot be pickled
        return (Regex, (self.pattern, None, self.cased, self.fold))


def compile_regex(pattern: str, cased: bool, fold: bool) -> Any:
    """The RE2 pattern of a rule's regex (raises re2.error)."""
    import re2

    from monitor.engine.text import fold_chinese

    options = re2.Options()
    options.case_sensitive = cased
    options.log_errors = False
    options.max_mem = REGEX_MAX_MEM
    return re2.compile(fold_chinese(pattern) if fold else pattern, options)


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


# Similar and Classifier (the semantic conditions) read the story's embedding,
# not its text; they live in monitor.semantic.conditions.
Condition = Union[Term, Regex, AnyOf, AllOf, NotOf, AtLeast, Near, Scope, Similar, Classifier]  # noqa: UP007


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
    if isinstance(cond, (Regex, NotOf, Similar, Classifier)):
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
        each = [anchors(item) for item in cond.items]
        found = [a for a in each if a is not None]
        if len(found) < len(each) and len(found) < len(cond.items) - cond.n + 1:
            return None
        found.sort(key=_specificity, reverse=True)
        return frozenset[TermKey]().union(*found[: len(cond.items) - cond.n + 1])
    if isinstance(cond, AnyOf):
        out: set[TermKey] = set()
        for item in cond.items:
            keys = anchors(item)
            if keys is None:
                return None
            out |= keys
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
    if isinstance(cond, (Similar, Classifier)):
        return describe_semantic(cond)
    return type(cond).__name__


def is_semantic(cond: Condition) -> bool:
    """Whether the tree holds a condition that needs the story's embedding."""
    if isinstance(cond, (Similar, Classifier)):
        return True
    return any(is_semantic(child) for child in children(cond))


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
    # search sources with `queries: from_rules` search for this rule's anchor terms
    discover: bool = False

    def needs_vector(self) -> bool:
        """Whether deciding on a story needs its embedding (a semantic condition)."""
        return is_semantic(self.condition) or any(is_semantic(c) for c, _, _ in self.weighted)

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


def _pickled_by_fields(*classes: type) -> None:
    """A frozen dataclass with slots is unpickled by a __setstate__ that looks
    its fields up again for every object; the rule cache reads thousands of
    them, so these pickle as a call of the class with their fields."""
    for cls in classes:
        names = tuple(f.name for f in fields(cls) if f.init)

        def reduce(self: Any, cls: type = cls, names: tuple[str, ...] = names) -> tuple:
            return (cls, tuple(getattr(self, n) for n in names))

        cls.__reduce__ = reduce  # type: ignore[method-assign,assignment]


_pickled_by_fields(Term, AnyOf, AllOf, NotOf, AtLeast, Near, Scope, RuleTest, RuleTests, Rule)


# The models of a rule file's mapping are built when first used
# (defer_build): a start whose rules come from the rule cache (cache.py)
# never needs them.


class CaseModel(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    title: str = ""
    summary: str = ""
    body: str = ""
    url: str = ""
    source: str = ""


class TestsModel(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    match: list[CaseModel] = []
    no_match: list[CaseModel] = []

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

    model_config = ConfigDict(extra="forbid", defer_build=True)

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
    discover: bool = False
    extend: str | None = None
    add: AddModel | None = None
    replace: ReplaceModel | None = None
    tests: TestsModel | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, v):
        return _check_id(v)


class AddModel(_RuleFields):
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


class ReplaceModel(_RuleFields):
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
    discover: bool | None = None


# keys an extending rule may hold next to `extend`; the rest go under add or replace
EXTEND_KEYS = {"id", "extend", "add", "replace", "tests"}
