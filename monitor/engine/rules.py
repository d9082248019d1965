"""Rule files -> typed rules, with every problem pointing into the file.

The rule mapping is checked by pydantic (extra="forbid"); the `match`
condition tree is checked here by hand, because its shape (string, list,
or a one-key mapping) does not fit a model and its errors should read like
the file ("unknown key 'any_of' (did you mean 'any'?)").
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from monitor.engine.text import normalise_term
from monitor.yamlfile import FileError, YamlDoc, did_you_mean, load_yaml, validation_errors

SEVERITIES = ("info", "low", "medium", "high", "critical")
FIELDS = ("title", "summary", "body", "url", "source")  # also the order snippets prefer
DEFAULT_FIELDS = ("title", "summary", "body")
ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]*")

FieldName = Literal["title", "summary", "body", "url", "source"]


# --- the condition tree -------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Term:
    """A literal phrase; `key` is its normalised form, searched for."""

    text: str
    key: str
    cased: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class Regex:
    pattern: str
    compiled: re.Pattern[str]
    cased: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class AnyOf:
    items: tuple["Condition", ...]


@dataclass(frozen=True, slots=True, eq=False)
class AllOf:
    items: tuple["Condition", ...]


@dataclass(frozen=True, slots=True, eq=False)
class NotOf:
    item: "Condition"


Condition = Union[Term, Regex, AnyOf, AllOf, NotOf]


def iter_terms(cond: Condition):
    """Every Term in the tree, including those under `not`."""
    if isinstance(cond, Term):
        yield cond
    elif isinstance(cond, (AnyOf, AllOf)):
        for item in cond.items:
            yield from iter_terms(item)
    elif isinstance(cond, NotOf):
        yield from iter_terms(cond.item)


def holds_without_terms(cond: Condition) -> bool | None:
    """Whether `cond` holds when no literal term is found.

    False: the rule can only match after a term hit, so the index may skip
    it. True or None (depends on a regex): it must always be evaluated.
    """
    if isinstance(cond, Term):
        return False
    if isinstance(cond, Regex):
        return None
    if isinstance(cond, NotOf):
        inner = holds_without_terms(cond.item)
        return None if inner is None else not inner
    values = [holds_without_terms(c) for c in cond.items]
    if isinstance(cond, AnyOf):
        if True in values:
            return True
        return None if None in values else False
    if False in values:
        return False
    return None if None in values else True


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


class RuleModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    severity: str = "medium"
    tags: list[str] = []
    channels: list[str] = []
    fields: list[FieldName] = list(DEFAULT_FIELDS)
    enabled: bool = True
    description: str | None = None
    references: list[str] = []
    match: Any
    tests: _Tests | None = None

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not ID_PATTERN.fullmatch(value):
            raise ValueError(
                f"'{value}' is not a valid rule id: use lowercase letters, digits, '.', '_' "
                "and '-', starting with a letter or digit"
            )
        return value

    @field_validator("severity")
    @classmethod
    def _severity_known(cls, value: str) -> str:
        if value not in SEVERITIES:
            raise ValueError(f"'{value}' is not a severity; expected one of {', '.join(SEVERITIES)}")
        return value

    @field_validator("fields")
    @classmethod
    def _fields_not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(f"list is empty; expected some of {', '.join(FIELDS)}")
        return value


# --- parsing conditions -------------------------------------------------------

_OPERATORS = ("any", "all", "not", "regex", "term")
_CONDITION_KEYS = _OPERATORS + ("cased",)


class _ConditionParser:
    def __init__(self, doc: YamlDoc, errors: list[FileError]):
        self.doc = doc
        self.errors = errors

    def fail(self, loc: tuple, message: str) -> None:
        self.errors.append(self.doc.error(loc, message))

    def parse(self, value: Any, loc: tuple) -> Condition | None:
        if isinstance(value, (str, bool, int, float)):
            return self.term(value, False, loc)
        if isinstance(value, list):
            return self.group(value, loc, AnyOf)
        if isinstance(value, dict):
            return self.mapping(value, loc)
        self.fail(loc, f"expected a condition (a term, a list, or a mapping with one of "
                       f"{', '.join(_OPERATORS)}), got {_kind(value)}{_quote_hint(value)}")
        return None

    def term(self, value: Any, cased: bool, loc: tuple) -> Term | None:
        if not isinstance(value, str):
            self.fail(loc, f"a term must be a string, got {_kind(value)}{_quote_hint(value)}")
            return None
        key = normalise_term(value, cased)
        if not key:
            self.fail(loc, "empty term")
            return None
        return Term(value, key, cased)

    def regex(self, value: Any, cased: bool, loc: tuple) -> Regex | None:
        if not isinstance(value, str):
            self.fail(loc, f"a regex must be a string, got {_kind(value)}")
            return None
        try:
            compiled = re.compile(value, 0 if cased else re.IGNORECASE)
        except re.error as e:
            self.fail(loc, f"bad regex {value!r}: {e}")
            return None
        if compiled.search("") is not None:
            self.fail(loc, f"regex {value!r} matches empty text, so it would match every story")
            return None
        return Regex(value, compiled, cased)

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
                self.fail(loc + (key,), f"unknown key '{key}'{did_you_mean(str(key), _CONDITION_KEYS)}")
                ok = False
        ops = [k for k in value if k in _OPERATORS]
        if not ops:
            if ok:
                self.fail(loc, f"a condition mapping needs one of {', '.join(_OPERATORS)}")
            return None
        if len(ops) > 1:
            self.fail(loc + (ops[1],), f"one operator per mapping, found '{ops[0]}' and '{ops[1]}'; "
                                       "nest them in a list under 'all' or 'any'")
            return None
        op = ops[0]
        cased = value.get("cased", False)
        if "cased" in value:
            if op not in ("term", "regex"):
                self.fail(loc + ("cased",), f"'cased' goes with 'term' or 'regex', not '{op}'")
                ok = False
            elif not isinstance(cased, bool):
                self.fail(loc + ("cased",), f"'cased' must be true or false, got {_kind(cased)}")
                ok = False
        if not ok:
            return None
        inner = value[op]
        here = loc + (op,)
        if op == "term":
            return self.term(inner, cased, here)
        if op == "regex":
            return self.regex(inner, cased, here)
        if op == "any":
            return self.group(inner, here, AnyOf)
        if op == "all":
            return self.group(inner, here, AllOf)
        # not: a list under not means none of them
        item = self.parse(inner, here)
        return NotOf(item) if item is not None else None


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return {bool: "a boolean", int: "a number", float: "a number", dict: "a mapping", str: "a string",
            list: "a list"}.get(type(value), type(value).__name__)


def _quote_hint(value: Any) -> str:
    if isinstance(value, (bool, int, float)):
        return "; put the term in quotes"
    return ""


# --- parsing files ------------------------------------------------------------


def parse_rule_doc(doc: YamlDoc, path: Path) -> tuple[list[tuple[int, Rule]], list[FileError]]:
    """Every good rule of one file with its index, and a problem for every bad one."""
    errors: list[FileError] = []
    data = doc.data
    if data is None:
        return [], [doc.error((), "empty file: expected a top-level 'rules:' list")]
    if not isinstance(data, dict):
        return [], [doc.error((), f"expected a mapping with a 'rules:' list at the top, got {_kind(data)}")]
    for key in data:
        if key != "rules":
            errors.append(doc.error((key,), f"unknown key '{key}'{did_you_mean(str(key), ['rules'])}"))
    if "rules" not in data:
        if not errors:
            errors.append(doc.error((), "missing required key 'rules'"))
        return [], errors
    raw_rules = data["rules"]
    if not isinstance(raw_rules, list):
        errors.append(doc.error(("rules",), f"'rules' must be a list of rules, got {_kind(raw_rules)}"))
        return [], errors
    rules = []
    for i, raw in enumerate(raw_rules):
        rule = _parse_rule(doc, path, i, raw, errors)
        if rule is not None:
            rules.append((i, rule))
    return rules, errors


def _parse_rule(doc: YamlDoc, path: Path, i: int, raw: Any, errors: list[FileError]) -> Rule | None:
    loc = ("rules", i)
    if not isinstance(raw, dict):
        errors.append(doc.error(loc, f"a rule must be a mapping with id, title and match, got {_kind(raw)}"))
        return None
    before = len(errors)
    model = None
    try:
        model = RuleModel.model_validate(raw)
    except ValidationError as e:
        errors.extend(validation_errors(doc, e, RuleModel, prefix=loc))
    condition = None
    if "match" in raw:
        if raw["match"] is None:
            errors.append(doc.error(loc + ("match",), "'match' is empty: expected a condition"))
        else:
            condition = _ConditionParser(doc, errors).parse(raw["match"], loc + ("match",))
    if model is None or condition is None or len(errors) > before:
        return None
    node = doc.node_at(loc)
    tests = {"match": [], "no_match": []}
    if model.tests is not None:
        for kind, cases in (("match", model.tests.match), ("no_match", model.tests.no_match)):
            for j, case in enumerate(cases):
                case_node = doc.node_at(loc + ("tests", kind, j))
                line = case_node.start_mark.line + 1 if case_node is not None else None
                fields = {k: v for k, v in case.model_dump().items() if v}
                tests[kind].append(RuleTest(kind == "match", fields, line))
    return Rule(
        id=model.id,
        title=model.title,
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
        tests=RuleTests(tuple(tests["match"]), tuple(tests["no_match"])),
    )


def rule_files(paths: list[Path]) -> tuple[list[Path], list[FileError]]:
    """Expand directories (their *.yaml and *.yml, sorted, not recursive)."""
    files: list[Path] = []
    errors: list[FileError] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml") and f.is_file())
            if not found:
                errors.append(FileError(p, None, None, "no rule files (*.yaml, *.yml) in this directory"))
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            errors.append(FileError(p, None, None, "no such file or directory"))
    return files, errors


def read_rules(paths: list[Path]) -> tuple[list[Rule], list[FileError]]:
    """Load every rule file; ids must be unique across all of them."""
    files, problems = rule_files(paths)
    rules: list[Rule] = []
    seen: dict[str, Rule] = {}
    for path in files:
        try:
            doc = load_yaml(path)
        except FileError as e:
            problems.append(e)
            continue
        file_rules, errors = parse_rule_doc(doc, path)
        for index, rule in file_rules:
            first = seen.get(rule.id)
            if first is not None:
                where = f"{first.path}:{first.line}" if first.line else str(first.path)
                errors.append(doc.error(("rules", index, "id"),
                                        f"duplicate rule id '{rule.id}' (first defined at {where})"))
                continue
            seen[rule.id] = rule
            rules.append(rule)
        problems.extend(sorted(errors, key=lambda e: (e.line or 0, e.col or 0)))
    return rules, problems
