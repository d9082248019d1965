"""Every source kind, by name: adding a kind is one module (its entry point
and options, see kind.py) and one line here. The order is the order in which
misplaced options are reported.

A kind's module is imported when the kind is first asked for, so a config
of rss sources never imports the listing-page or search kinds."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module

from monitor.sources.kind import Kind

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


class _Kinds(Mapping[str, Kind]):
    """The kinds by name, each loaded on first use."""

    def __init__(self) -> None:
        self._loaded: dict[str, Kind] = {}

    def __getitem__(self, name: str) -> Kind:
        kind = self._loaded.get(name)
        if kind is None:
            module, attribute = _WHERE[name]
            kind = self._loaded[name] = getattr(
                import_module(f"monitor.sources.{module}"), attribute
            )
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
