"""Every source kind, by name: adding a kind is one module (its entry point
and options, see kind.py) and one line here. The order is the order in which
misplaced options are reported.

A kind's module is imported when the kind is first asked for (a plain
kind's, below, when it first reads a document), so a config of rss sources
never imports the listing-page or search kinds."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from importlib import import_module
from typing import TYPE_CHECKING

from monitor.sources.kind import Kind, Known

if TYPE_CHECKING:
    from monitor.config import SourceConfig
    from monitor.fetch import FetchResult
    from monitor.identity import RawItem

Parse = Callable[["SourceConfig", "FetchResult", Known], "list[RawItem]"]

# name -> (module under monitor.sources, the name of its Kind there)
_WHERE: dict[str, tuple[str, str]] = {
    "rss": ("rss", "KIND"),
    "html": ("html", "KIND"),
    "sitemap": ("sitemap", "KIND"),
    "json": ("jsonapi", "KIND"),
    "google_news": ("newsrss", "GOOGLE"),
    "bing_news": ("newsrss", "BING"),
    "gdelt": ("gdelt", "KIND"),
    "mastodon": ("mastodon", "KIND"),
    "hackernews": ("hackernews", "KIND"),
    "telegram": ("telegram", "KIND"),
}

# The kinds that own no option, check nothing of their own, search no
# service and ask no robots.txt. Their Kind is all defaults but `parse`, so
# a stand-in serves until a document is read: a source of one is checked
# and fetched without loading its module (a poll answered 304 never does).
# A test keeps this in step with the kinds' own declarations.
PLAIN = frozenset({"rss", "sitemap"})


def _stand_in(name: str, module: str, attribute: str) -> Kind:
    real: list[Parse] = []

    def parse(source: SourceConfig, result: FetchResult, known: Known) -> list[RawItem]:
        if not real:
            real.append(getattr(import_module(f"monitor.sources.{module}"), attribute).parse)
        return real[0](source, result, known)

    return Kind(name, parse)


class _Kinds(Mapping[str, Kind]):
    """The kinds by name, each loaded on first use."""

    def __init__(self) -> None:
        self._loaded: dict[str, Kind] = {}

    def __getitem__(self, name: str) -> Kind:
        kind = self._loaded.get(name)
        if kind is None:
            module, attribute = _WHERE[name]
            if name in PLAIN:
                kind = _stand_in(name, module, attribute)
            else:
                kind = getattr(import_module(f"monitor.sources.{module}"), attribute)
            self._loaded[name] = kind
        return kind

    def __setitem__(self, name: str, kind: Kind) -> None:
        """Another Kind in a known kind's place (tests change a kind's pace)."""
        if name not in _WHERE:
            raise KeyError(name)
        self._loaded[name] = kind

    def __contains__(self, name: object) -> bool:
        return name in _WHERE

    def __iter__(self) -> Iterator[str]:
        return iter(_WHERE)

    def __len__(self) -> int:
        return len(_WHERE)


KINDS = _Kinds()
