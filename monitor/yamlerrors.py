"""Problems in hand-written YAML said in plain words: what was wrong and
what is expected, for PyYAML's syntax errors and pydantic's validation
errors. The position (line:col) is the caller's; this module only words
the message."""

from __future__ import annotations

import difflib
import re
from typing import Any

import yaml

_KEY = re.compile(r"^(\s*)((?:-\s+)*)([^\s#:][^:#]*?)\s*:(?:\s|$)")


def syntax_problem(e: yaml.MarkedYAMLError, text: str) -> tuple[Any, str]:
    """(mark, message) for a YAML syntax error: the mark to report (None
    when PyYAML gave none) and a message without the parser's jargon."""
    problem = (e.problem or "").strip()
    context = (e.context or "").strip()
    mark = e.problem_mark or e.context_mark
    lines = text.splitlines()
    line = lines[mark.line] if mark is not None and mark.line < len(lines) else ""
    if "'\\t'" in problem or (mark is not None and line[: mark.column + 1].endswith("\t")):
        return mark, "a tab character: tabs cannot indent YAML; indent with spaces"
    if "aliases" in problem:  # our own alias-bomb refusal
        return mark, problem
    if "quoted scalar" in context and "end of stream" in problem:
        return (
            e.context_mark or mark,
            "this quoted value is never closed; expected a closing quote on the same value",
        )
    if "undefined alias" in problem:
        return mark, f"{problem}; expected an anchor (&name) defined above it"
    if "flow sequence" in context or "flow mapping" in context:
        closer = "]" if "sequence" in context else "}"
        return (
            mark,
            f"a {'[list]' if closer == ']' else '{mapping}'} is not closed or misses a comma; "
            f"expected ',' or '{closer}'",
        )
    if mark is not None and (
        "mapping values are not allowed" in problem
        or "expected <block end>" in problem
        or "could not find expected ':'" in problem
    ):
        indent = _indentation_message(lines, mark.line)
        if indent:
            return mark, indent
        if "mapping values are not allowed" in problem:
            return (
                mark,
                "a ': ' inside a value; expected the value in quotes (\"...\") "
                "or a new 'key: value' on its own line",
            )
        if "could not find expected ':'" in problem:
            return mark, "a line with no ':' inside a mapping; expected 'key: value'"
        return mark, "this line does not continue the list or mapping above; check its indentation"
    words = problem or context or "invalid YAML"
    return mark, f"YAML syntax error: {words}"


def _indentation_message(lines: list[str], at: int) -> str | None:
    """'bad indentation ... expected column N' when line `at` (0-based), or
    the one before it, is indented unlike the keys of the mapping above."""
    for row in (at, at - 1):
        if not 0 < row < len(lines):
            continue
        here = _key_column(lines[row])
        if here is None:
            continue
        above = _previous_key(lines, row)
        if above is None:
            continue
        col, name, line_no, has_value = above
        if here[0] == col:
            continue
        if here[0] > col and not has_value:
            continue  # a block nested under 'key:' may start at any deeper column
        if here[0] < col and here[0] in _outer_columns(lines, row, col):
            continue  # back out to an enclosing block
        return (
            f"bad indentation: '{here[1]}' starts at column {here[0]}; "
            f"expected column {col}, in line with '{name}' on line {line_no}"
        )
    return None


def _outer_columns(lines: list[str], row: int, col: int) -> set[int]:
    """Key and list-dash columns of the blocks enclosing line `row`."""
    out: set[int] = set()
    for i in range(row - 1, -1, -1):
        m = _KEY.match(lines[i])
        if not m:
            continue
        key_col = len(m.group(1)) + len(m.group(2)) + 1
        if key_col < col:
            out.add(key_col)
            out.add(len(m.group(1)) + 1)  # the dash of a list item
            col = key_col
    return out


def _key_column(line: str) -> tuple[int, str, bool] | None:
    """(1-based column, key, whether a value follows on the line) of the
    key a line starts, past any '- '."""
    m = _KEY.match(line)
    if not m:
        return None
    rest = line[m.end() :].split(" #", 1)[0].strip()
    return len(m.group(1)) + len(m.group(2)) + 1, m.group(3).strip(), bool(rest)


def _previous_key(lines: list[str], row: int) -> tuple[int, str, int, bool] | None:
    for i in range(row - 1, -1, -1):
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            continue
        found = _key_column(lines[i])
        return (found[0], found[1], i + 1, found[2]) if found else None
    return None


# -- pydantic ------------------------------------------------------------

_KINDS = {
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "text",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "dict_type": "a mapping of settings",
    "model_type": "a mapping of settings",
    "model_attributes_type": "a mapping of settings",
}


def describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"'{str(value).lower()}'"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = str(value)
    return f"'{text[:60]}…'" if len(text) > 60 else f"'{text}'"


def value_problem(err: dict, loc: tuple) -> str:
    """One pydantic error as 'what was wrong; what is expected', naming the
    setting by its key rather than by pydantic's dotted path."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    keys = [p for p in loc if isinstance(p, str)]
    key = keys[-1] if keys else "value"
    where = f"in '{key}'" if loc and isinstance(loc[-1], int) else f"for '{key}'"
    msg = str(err.get("msg", ""))
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        close = difflib.get_close_matches(str(value), allowed, n=1, cutoff=0.5)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        expected = ", ".join(allowed) if allowed else ctx.get("expected", "")
        return f"{describe(value)} is not allowed {where}; expected one of {expected}{hint}"
    what = f"item {loc[-1] + 1} of '{key}'" if loc and isinstance(loc[-1], int) else f"'{key}'"
    if kind in _KINDS:
        return f"{what} is {describe(value)}; expected {_KINDS[kind]}"
    bounds = {
        "greater_than_equal": ("too small", "at least", "ge"),
        "greater_than": ("too small", "more than", "gt"),
        "less_than_equal": ("too large", "at most", "le"),
        "less_than": ("too large", "less than", "lt"),
        "too_short": ("too short", "at least", "min_length"),
        "too_long": ("too long", "at most", "max_length"),
    }
    if kind in bounds:
        what, how, name = bounds[kind]
        unit = " items" if kind in ("too_short", "too_long") else ""
        return f"{describe(value)} {where} is {what}; expected {how} {ctx.get(name)}{unit}"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    elif msg[:1].isupper() and not msg[1:2].isupper():
        msg = msg[0].lower() + msg[1:]
    return f"{key}: {msg}"
