"""Rule files -> typed rules, with every problem pointing into the file.

The rule mapping is checked by pydantic (extra="forbid", in model.py); the
`match` condition tree by conditions.py.

Loading happens in three passes over all files: read every file (and the
list files it includes), collect the named term lists of all of them, then
parse the rules, resolving `extend` against the parsed base rule. A problem
in one file or rule never stops the others.

Size: the three passes share the files' state (lists, base rules,
problems); the condition syntax is apart in conditions.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from monitor.engine.conditions import ConditionParser, ListDef, Lists, check_weights, kind_of
from monitor.engine.model import (
    EXTEND_KEYS,
    LIST_NAME,
    AddModel,
    AllOf,
    Condition,
    ReplaceModel,
    Rule,
    RuleModel,
    RuleTest,
    RuleTests,
    TestsModel,
)
from monitor.yamlfile import FileError, YamlDoc, did_you_mean, load_yaml, validation_errors

# --- parsing rules ------------------------------------------------------------


def _tests(doc: YamlDoc, loc: tuple, model: TestsModel | None) -> RuleTests:
    tests: dict[str, list[RuleTest]] = {"match": [], "no_match": []}
    if model is not None:
        for kind, cases in (("match", model.match), ("no_match", model.no_match)):
            for j, case in enumerate(cases):
                line = doc.line_of((*loc, "tests", kind, j))
                fields = {k: v for k, v in case.model_dump().items() if v}
                tests[kind].append(RuleTest(kind == "match", fields, line))
    return RuleTests(tuple(tests["match"]), tuple(tests["no_match"]))


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
            doc.error(loc, f"a rule must be a mapping with id, title and match, got {kind_of(raw)}")
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
            if key not in EXTEND_KEYS and key in RuleModel.model_fields:
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
            parser = ConditionParser(doc, errors, lists, fold=bool(raw.get("fold_chinese") is True))
            condition = parser.parse(raw["match"], loc + ("match",))
    if model is None or condition is None or len(errors) > before:
        return None
    weighted = tuple(parser.weighted)
    if not check_weights(doc, loc, model.threshold, weighted, errors):
        return None
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
        line=doc.line_of(loc),
        description=model.description,
        references=tuple(model.references),
        tests=_tests(doc, loc, model.tests),
        threshold=model.threshold,
        weighted=weighted,
        sources=tuple(model.sources),
        languages=tuple(model.languages),
        source_tags=tuple(model.source_tags),
        fold_chinese=model.fold_chinese,
        discover=model.discover,
    )


def _apply_extend(p: _Pending, base: Rule, lists: Lists, errors: list[FileError]) -> Rule | None:
    """The base rule with this rule's `replace` set and `add` appended; the
    parsed base is changed, never its text."""
    before = len(errors)
    model, doc, loc = p.model, p.doc, p.loc
    rep = model.replace or ReplaceModel()
    add = model.add or AddModel()
    fold = rep.fold_chinese if rep.fold_chinese is not None else base.fold_chinese
    changes: dict[str, Any] = {}
    for name in ("title", "severity", "enabled", "description", "threshold", "discover"):
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
    condition: Condition | None = base.condition
    weighted = base.weighted
    raw_rep = p.raw.get("replace") or {}
    raw_add = p.raw.get("add") or {}
    if isinstance(raw_rep, dict) and "match" in raw_rep:
        parser = ConditionParser(doc, errors, lists, fold)
        condition = parser.parse(raw_rep["match"], loc + ("replace", "match"))
        weighted = tuple(parser.weighted)
    if isinstance(raw_add, dict) and "match" in raw_add and condition is not None:
        parser = ConditionParser(doc, errors, lists, fold)
        extra = parser.parse(raw_add["match"], loc + ("add", "match"))
        if extra is not None:
            condition = AllOf((condition, extra))
            weighted = weighted + tuple(parser.weighted)
    if condition is None or len(errors) > before:
        return None
    threshold = changes.get("threshold", base.threshold)
    if not check_weights(doc, loc, threshold, weighted, errors):
        return None
    return replace(
        base,
        **changes,
        id=model.id,
        condition=condition,
        weighted=weighted,
        path=p.path,
        line=doc.line_of(loc),
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
            doc.error(
                (), f"expected a mapping with a 'rules:' list at the top, got {kind_of(data)}"
            )
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
            doc.error(("rules",), f"'rules' must be a list of rules, got {kind_of(raw_rules)}")
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
            doc.error(("lists",), f"'lists' must map names to lists of terms, got {kind_of(raw)}")
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
            assert p.model.extend is not None  # only extending rules wait
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
            doc.error(("include",), f"'include' takes a list of list files, got {kind_of(raw)}")
        )
        return []
    out = []
    for i, name in enumerate(raw):
        loc = ("include", i) if isinstance(data["include"], list) else ("include",)
        if not isinstance(name, str) or not name:
            errors.append(doc.error(loc, f"an include is a file name, got {kind_of(name)}"))
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


@dataclass
class RuleDocs:
    """What the first two passes read: every rule file and included list
    file (in order, with its bytes), the named lists, the problems so far."""

    docs: list[tuple[Path, YamlDoc]]
    defs: dict[str, ListDef]
    per_file: dict[str, list[FileError]]
    problems: list[FileError]
    files: list[tuple[str, bytes]]  # (path, bytes) of every file read, includes too

    unread: bool = False  # a file whose bytes are not known (then nothing is cached)

    @property
    def clean(self) -> bool:
        return not self.unread and not self.problems and not any(self.per_file.values())


def read_docs(paths: list[Path]) -> RuleDocs:
    """Passes one and two: read every file (and the list files it includes)
    and collect the named lists of all of them."""
    files, problems = rule_files(paths)
    per_file: dict[str, list[FileError]] = {}
    docs: list[tuple[Path, YamlDoc]] = []
    defs: dict[str, ListDef] = {}
    read: list[tuple[str, bytes]] = []
    unread: list[str] = []
    loaded: set[str] = set()

    def add_lists(doc: YamlDoc, only_lists: bool) -> None:
        if doc.raw is None:
            unread.append(doc.path)
        else:
            read.append((doc.path, doc.raw))
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
    return RuleDocs(docs, defs, per_file, problems, read, bool(unread))


def parse_docs(read: RuleDocs) -> tuple[list[Rule], list[FileError]]:
    """Pass three: the rules of the files read, `extend` resolved; ids and
    list names must be unique across all of them."""
    docs, per_file, problems = read.docs, read.per_file, list(read.problems)
    list_errors: list[FileError] = []
    lists = Lists(read.defs, list_errors)
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
                if claim(doc, loc, got.id, path, doc.line_of(loc)):
                    pending.append(_Pending(doc, path, (n, i), loc, raw, got))
    resolve_errors: list[FileError] = []
    rules.extend(_resolve(pending, by_id, lists, resolve_errors))
    for err in resolve_errors + list_errors:
        per_file.setdefault(err.path, []).append(err)
    for errs in per_file.values():
        problems.extend(sorted(errs, key=lambda e: (e.line or 0, e.col or 0)))
    rules.sort(key=lambda x: x[0])
    return [r for _, r in rules], problems
