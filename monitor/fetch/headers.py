"""The headers of a response, looked up without regard to case.

A repeated header reads as its values joined with ", " (Set-Cookie is read
value by value through getlist), as HTTP allows for every header but that
one."""

from __future__ import annotations

from collections.abc import Iterator, Mapping


class Headers(Mapping[str, str]):
    """Header lines of one response, in the order they came."""

    __slots__ = ("_lines", "_index")

    def __init__(self, lines: list[tuple[str, str]] | None = None):
        self._lines: list[tuple[str, str]] = lines or []
        self._index: dict[str, str] | None = None

    def _map(self) -> dict[str, str]:
        index = self._index
        if index is None:
            index = {}
            for name, value in self._lines:
                key = name.lower()
                index[key] = f"{index[key]}, {value}" if key in index else value
            self._index = index
        return index

    def __getitem__(self, name: str) -> str:
        return self._map()[name.lower()]

    def get(self, name: str, default=None):
        return self._map().get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._map()

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for name, _ in self._lines:
            if name.lower() not in seen:
                seen.add(name.lower())
                yield name

    def __len__(self) -> int:
        return len(self._map())

    def getlist(self, name: str) -> list[str]:
        key = name.lower()
        return [v for n, v in self._lines if n.lower() == key]

    def __repr__(self) -> str:
        return f"Headers({self._lines!r})"
