"""What a source kind registers: its name, its one entry point, and the
source options it owns (with the check of them that only it can make).

    parse(source, result, known) -> list[RawItem]

The options stay fields of SourceConfig, so a config file reads the same;
a kind only says which of them are its own. Another kind's option on a
source is refused with "'select' is only for html sources, not rss".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.config import SourceConfig
    from monitor.fetch import FetchResult
    from monitor.identity import RawItem

Known = Callable[[list[str]], set[str]] | None


@dataclass(frozen=True)
class Kind:
    name: str
    parse: Callable[[SourceConfig, FetchResult, Known], list[RawItem]]
    # SourceConfig fields only this kind may set
    options: tuple[str, ...] = ()
    # raises ValueError (one line) when the kind's own options do not fit
    check: Callable[[SourceConfig], None] | None = None


def content_type(result: FetchResult) -> str | None:
    return result.headers.get("content-type") if result.headers else None
