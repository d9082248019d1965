"""Watchers: one module per source kind, each turning fetched bytes into
Stories with no I/O of its own. The kinds are listed in registry.py.

    parse(source, result) -> list[Story]

raises SourceError(reason, message) with reason "not_a_feed", "parse_error"
or "selector_empty" and a one-line message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..identity import make_stories
from ..models import Story
from .errors import SourceError
from .registry import KINDS

if TYPE_CHECKING:
    from ..config import SourceConfig
    from ..fetch import FetchResult

__all__ = ["SourceError", "parse", "KINDS"]


def parse(
    source: SourceConfig,
    result: FetchResult,
    known: Callable[[list[str]], set[str]] | None = None,
) -> list[Story]:
    """Stories of one fetched document of `source` (empty for a 304).

    `known` (optional) returns which of the given story keys are stored
    already; a watcher may then leave those stories out without reading
    them. Callers must still treat every returned story as possibly known."""
    if result.not_modified:
        return []
    kind = KINDS.get(source.kind)
    try:
        if kind is None:
            raise SourceError("parse_error", f"unknown source kind '{source.kind}'")
        items = kind.parse(source, result, known)
    except SourceError:
        raise
    except RecursionError:
        raise SourceError("parse_error", "document is nested too deeply to parse") from None
    except Exception as e:  # a parser bug must not stop the service; say what happened in one line
        detail = " ".join(str(e).split())[:160]
        raise SourceError("parse_error", f"{type(e).__name__}: {detail}") from None
    return make_stories(source.name, items, lang=source.lang)
