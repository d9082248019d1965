"""YAML condition -> condition tree, with every problem pointing into the file.

The `match` condition tree is checked here by hand, because its shape
(string, list, or a mapping) does not fit a model and its errors should
read like the file ("unknown key 'any_of' (did you mean 'any'?)"). Named
lists are parsed on use, once per folding mode.

Size: one hand-written parser for the condition syntax, each key's check
beside its error wording.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.engine.model import (
    FIELDS,
    AllOf,
    AnyOf,
    AtLeast,
    Condition,
    Near,
    NotOf,
    Regex,
    Scope,
    Term,
    Weighted,
    compile_regex,
)
from monitor.engine.text import fold_chinese, has_han, normalise_term
from monitor.semantic.conditions import parse_classifier, parse_similar
from monitor.yamlfile import FileError, YamlDoc, did_you_mean

# --- parsing conditions -------------------------------------------------------

_OPERATORS = ("any", "all", "not", "regex", "term", "list", "of", "near", "similar", "classifier")
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
        parser = ConditionParser(d.doc, errors, self, fold, in_list=True)
        cond = parser.parse(d.raw, d.loc)
        self._active.pop()
        seen = {str(e) for e in self.errors}
        self.errors.extend(e for e in errors if str(e) not in seen)
        self._parsed[key] = cond if not errors else None
        return self._parsed[key]

    def in_cycle(self, name: str) -> bool:
        return name in self._active


class ConditionParser:
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
            f"{', '.join(_OPERATORS)}), got {kind_of(value)}{_quote_hint(value)}",
        )
        return None

    def term(self, value: Any, cased: bool, loc: tuple) -> Term | None:
        if not isinstance(value, str):
            self.fail(loc, f"a term must be a string, got {kind_of(value)}{_quote_hint(value)}")
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
            self.fail(loc, f"a regex must be a string, got {kind_of(value)}")
            return None
        import re2  # here: a start whose rules come from the cache needs no RE2

        fold = self.fold and not cased
        try:
            compiled = compile_regex(value, cased, fold)
        except re2.error as e:
            reason = e.args[0] if e.args else e
            if isinstance(reason, bytes):
                reason = reason.decode("utf-8", "replace")
            # the RE2 hint only where the pattern uses what RE2 lacks
            hint = (
                " (regexes use RE2 syntax: no backreferences or lookaround)"
                if re.search(r"\(\?<?[=!]|\\[1-9]|\(\?P=", value)
                else ""
            )
            self.fail(loc, f"bad regex {value!r}: {reason}{hint}")
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
            self.fail(loc + ("cased",), f"'cased' must be true or false, got {kind_of(cased)}")
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
        if op == "similar":
            return parse_similar(inner, here, self.fail)
        if op == "classifier":
            return parse_classifier(inner, here, self.fail, Path(self.doc.path))
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
                f"'{key}' must be a {'whole ' if integer else ''}number, got {kind_of(n)}",
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
            self.fail(loc, f"'list' takes the name of a list, got {kind_of(name)}")
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
        parsed = [self.parse(v, here + (i,)) for i, v in enumerate(inner)]
        items = [item for item in parsed if item is not None]
        if len(items) < len(parsed):
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


def kind_of(value: Any) -> str:
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


def check_weights(
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
