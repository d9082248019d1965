"""YAML files that remember where each value came from.

Config and rule files are written by hand, so every problem is reported as
one line ``path:line:col: what was wrong``. We compose the node tree once,
build plain data from it, and keep the tree to look up positions later.
A big file read before comes from yamlcache by the hash of its bytes, with
the lines of its collections (what a loaded rule records of itself); its
tree is composed again only when another position is asked for.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from . import yamlcache
from .yamlerrors import syntax_problem, value_problem

# A rule or config file is small; a bigger one is a mistake or an attack.
MAX_FILE_BYTES = 2 * 1024 * 1024
# Aliases are legal YAML, but a few nested ones expand exponentially
# ("billion laughs"): a handful of aliases can stand for billions of nodes,
# which everything reading the data then walks. What is bounded is what the
# aliases add: the nodes of the document as a tree, beyond the ones written.
MAX_ALIAS_NODES = 100_000

# libyaml composes the node tree, marks included, many times faster than the
# pure-Python composer; the pure one is the fallback where PyYAML was built
# without it.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class FileError(Exception):
    """A problem in a file the user wrote, printed as one line."""

    def __init__(self, path: str | Path, line: int | None, col: int | None, message: str):
        super().__init__(message)
        self.path = str(path)
        self.line = line
        self.col = col
        self.message = message

    def __str__(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        return f"{where}: {self.message}"


def shown(problem: object) -> str:
    """A problem line for the terminal: its file relative to the working
    folder when it is under it, so `check`, `rules test` and the other
    commands print files alike. Logs and the state keep full paths."""
    text = str(problem)
    path, sep, rest = text.partition(":")
    return shown_path(path) + sep + rest if sep and os.path.isabs(path) else text


def shown_path(path: str) -> str:
    """A path under the working folder as a relative one; any other path
    as it is."""
    if not os.path.isabs(path):
        return path
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive
        return path
    return path if rel.startswith("..") else rel


class _AliasBomb(Exception):
    def __init__(self, node: yaml.Node, message: str):
        super().__init__(message)
        self.node = node
        self.message = message


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a node graph whose expansion as a tree adds more than
    MAX_ALIAS_NODES nodes, or that contains itself, before anything walks it.

    The composed graph shares a node wherever an alias points at it, so the
    tree size of every collection is computed once, bottom-up, without
    recursion (deep nesting must not reach Python's recursion limit).
    Scalars count one each, shared or not: an alias of a scalar adds one."""
    if not isinstance(root, _COLLECTIONS):
        return
    size: dict[int, int] = {}
    open_: set[int] = set()
    distinct = 0
    stack: list[tuple[yaml.Node, list[yaml.Node] | None]] = [(root, None)]
    while stack:
        node, kids = stack.pop()
        key = id(node)
        if kids is not None:  # its collections are sized: size it
            open_.discard(key)
            total = 1 + len(node.value) * (2 if isinstance(node, yaml.MappingNode) else 1)
            for kid in kids:
                total += size[id(kid)] - 1
            size[key] = total
            if total - distinct > MAX_ALIAS_NODES:
                raise _AliasBomb(
                    node,
                    f"aliases expand this to more than {MAX_ALIAS_NODES} extra nodes "
                    "(refused: possible alias bomb)",
                )
            continue
        if key in size:
            continue
        open_.add(key)
        if isinstance(node, yaml.MappingNode):
            flat = [n for pair in node.value for n in pair]
        else:
            flat = node.value
        kids = [n for n in flat if isinstance(n, _COLLECTIONS)]
        distinct += 1 + len(flat) - len(kids)
        stack.append((node, kids))
        for kid in kids:
            kkey = id(kid)
            if kkey in open_:
                raise _AliasBomb(kid, "an alias refers to a node that contains it (refused)")
            if kkey not in size:
                stack.append((kid, None))


_COLLECTIONS = (yaml.SequenceNode, yaml.MappingNode)


class YamlDoc:
    """A file's data, and its node tree for positions. Given `text` instead
    of the tree, the tree is composed from it when first asked for."""

    def __init__(
        self,
        path: str,
        data: Any,
        root: yaml.Node | None,
        text: str | None = None,
        lines: dict[tuple, int] | None = None,
    ):
        self.path = path
        self.data = data
        self._root = root
        self._text = text
        self._lines = lines  # collection_lines() of the tree, when it came from the cache
        self.raw: bytes | None = None  # the file's bytes, when read by load_yaml

    @property
    def root(self) -> yaml.Node | None:
        if self._text is not None:
            text, self._text = self._text, None
            loader = _Loader(text)
            try:
                self._root = loader.get_single_node()
            except (yaml.YAMLError, RecursionError):
                self._root = None  # it loaded cleanly before; positions are then unknown
            finally:
                loader.dispose()
        return self._root

    def node_at(self, loc: Iterable[Any]) -> yaml.Node | None:
        """The deepest node along `loc` (mapping keys and sequence indexes).

        When the last step names a mapping key, the key node itself is
        returned, so "unknown key" points at the key.
        """
        node = self.root
        steps = list(loc)
        for i, step in enumerate(steps):
            if isinstance(node, yaml.MappingNode):
                found = None
                for key_node, value_node in node.value:
                    if getattr(key_node, "value", None) == str(step):
                        found = key_node if i == len(steps) - 1 else value_node
                        break
                if found is None:
                    return node
                node = found
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
                if not 0 <= step < len(node.value):
                    return node
                node = node.value[step]
            else:
                return node
        return node

    def line_of(self, loc: tuple) -> int | None:
        """The line of node_at(loc), without composing the tree when the
        cached lines hold it."""
        if self._lines is not None:
            found = self._lines.get(loc)
            if found is not None:
                return found
        node = self.node_at(loc)
        return node.start_mark.line + 1 if node is not None else None

    def error(self, loc: Iterable[Any], message: str) -> FileError:
        node = self.node_at(loc)
        if node is None:
            return FileError(self.path, None, None, message)
        return FileError(self.path, node.start_mark.line + 1, node.start_mark.column + 1, message)


def load_yaml(path: str | Path) -> YamlDoc:
    """Read and parse one YAML file; any problem raises FileError."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise FileError(path, None, None, f"cannot read file: {e.strerror or e}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise FileError(path, None, None, f"file is larger than {MAX_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise FileError(path, None, None, f"not UTF-8 text (byte {e.start})") from None
    key = yamlcache.key_of(raw, f"{_Loader.__name__} {MAX_ALIAS_NODES}")
    if key is not None:
        hit, entry = yamlcache.get(key)
        if hit and isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], dict):
            doc = YamlDoc(str(path), entry[0], None, text, entry[1])
            doc.raw = raw
            return doc
    doc = parse_yaml(text, path)
    if key is not None and doc.root is not None:
        yamlcache.put(key, (doc.data, collection_lines(doc.root)))
    doc.raw = raw
    return doc


def collection_lines(root: yaml.Node) -> dict[tuple, int]:
    """{loc: line} as node_at finds them, for every sequence item (a rule,
    a test case) by its index and every mapping or sequence under a key
    (the key's line, where node_at stops). A key's scalar value is left
    out: it is asked for only by errors, which compose the tree."""
    lines: dict[tuple, int] = {}
    stack: list[tuple[tuple, yaml.Node]] = [((), root)]
    while stack:
        loc, node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key_node, value in node.value:
                step = getattr(key_node, "value", None)
                if not isinstance(step, str) or not isinstance(value, _COLLECTIONS):
                    continue
                here = (*loc, step)
                if here not in lines:  # node_at takes a repeated key's first
                    lines[here] = key_node.start_mark.line + 1
                    stack.append((here, value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                here = (*loc, i)
                lines[here] = item.start_mark.line + 1
                if isinstance(item, _COLLECTIONS):
                    stack.append((here, item))
    return lines


def parse_yaml(text: str, path: str | Path = "<string>") -> YamlDoc:
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            _check_expansion(root)
        data = loader.construct_document(root) if root is not None else None
    except _AliasBomb as e:
        mark = e.node.start_mark
        raise FileError(path, mark.line + 1, mark.column + 1, e.message) from None
    except yaml.MarkedYAMLError as e:
        # The messages are worded for the pure-Python parser's wording; a
        # broken file is read again by it, for its own words and position.
        mark, problem = syntax_problem(_pure_error(text) or e, text)
        if mark is None:
            raise FileError(path, None, None, problem) from None
        raise FileError(path, mark.line + 1, mark.column + 1, problem) from None
    except yaml.YAMLError as e:
        raise FileError(path, None, None, f"YAML error: {e}") from None
    except RecursionError:
        raise FileError(path, None, None, "YAML nested too deeply") from None
    finally:
        loader.dispose()
    return YamlDoc(str(path), data, root)


def _pure_error(text: str) -> yaml.MarkedYAMLError | None:
    """The syntax error the pure-Python parser finds in `text`, if any."""
    if _Loader is yaml.SafeLoader:
        return None
    loader = yaml.SafeLoader(text)
    try:
        loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        return e
    except (yaml.YAMLError, RecursionError):
        return None
    finally:
        loader.dispose()
    return None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def validation_errors(
    doc: YamlDoc, exc: Any, model: Any = None, prefix: tuple = ()
) -> list[FileError]:
    """Turn a pydantic ValidationError into FileErrors pointing into `doc`.

    `model` is the pydantic model class validated at `prefix`, used to
    suggest the nearest known key for an unknown one.
    """
    out = []
    for err in exc.errors():
        loc = prefix + tuple(p for p in err["loc"] if not _is_union_tag(p))
        kind = err["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            known = _known_keys(model, loc[len(prefix) : -1])
            out.append(doc.error(loc, f"unknown key '{key}'{did_you_mean(key, known)}"))
        elif kind == "missing":
            out.append(doc.error(loc[:-1], f"missing required key '{loc[-1]}'"))
        else:
            out.append(doc.error(loc, value_problem(err, loc)))
    return out


def _is_union_tag(part: Any) -> bool:
    # pydantic puts the chosen union member's name ("function-after[...]",
    # "str", "list[...]") into loc; it is not a key of the file.
    return isinstance(part, str) and (
        "[" in part or part in {"str", "int", "list", "dict", "float", "bool"}
    )


def _known_keys(model: Any, loc: tuple) -> list[str]:
    """Field names (and aliases) of the sub-model at `loc`, best effort."""
    try:
        for step in loc:
            if isinstance(step, int):
                continue
            field = model.model_fields[step]
            ann = field.annotation
            model = _first_model(ann)
            if model is None:
                return []
        names = []
        for name, field in model.model_fields.items():
            names.append(field.alias or name)
        return names
    except Exception:
        return []


def _first_model(ann: Any) -> Any:
    import typing

    from pydantic import BaseModel

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in typing.get_args(ann):
        found = _first_model(arg)
        if found is not None:
            return found
    return None
