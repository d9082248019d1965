"""A fetched body's hash: the source's settings and the body, sha256.

A poll whose body hashes as its last one did is unchanged and is not read
again. The settings are part of the hash: new selectors or paths must read
the same body again. In a cycle the bodies are hashed on the fetch
thread as each fetch ends (HashingFetcher), as hashlib lets go of the GIL
for a body of 2 KB or more, and the loop's thread parses and stores.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from .fetch.multi import Batch

if TYPE_CHECKING:
    from .config import SourceConfig
    from .fetch import Fetcher, FetchResult

# The settings part of each source's body hash, hashed once per config
# object: by name, with the object it was made from.
_SETTINGS_HASHED: dict[str, tuple[SourceConfig, hashlib._Hash]] = {}


def hash_body(src: SourceConfig, body: bytes) -> str:
    """sha256 of the source's settings, a NUL and the body."""
    known = _SETTINGS_HASHED.get(src.name)
    if known is None or known[0] is not src:
        known = (src, hashlib.sha256(src.model_dump_json().encode() + b"\0"))
        _SETTINGS_HASHED[src.name] = known
    h = known[1].copy()
    h.update(body)
    return h.hexdigest()


class HashingFetcher:
    """A cycle's fetcher: each body is hashed on the fetch thread that got
    it, once for each source of its URL."""

    def __init__(self, fetcher: Fetcher, sources_by_url: dict[str, list[SourceConfig]]):
        self.fetcher = fetcher
        self.by_url = sources_by_url
        # id of a result not yet handled -> source name -> body hash
        self.hashes: dict[int, dict[str, str]] = {}

    def get(self, url: str, **kw) -> FetchResult:
        result = self.fetcher.get(url, **kw)
        self._hash(url, result)
        return result

    def batch(self) -> Batch:
        """The fetcher's batch (fetch/multi.py), each body hashed as it ends."""
        return Batch(self.fetcher, after=self._hash)

    def _hash(self, url: str, result: FetchResult) -> None:
        if not result.not_modified:
            self.hashes[id(result)] = {
                s.name: hash_body(s, result.body) for s in self.by_url.get(url, ())
            }

    def take(self, src: SourceConfig, result: FetchResult) -> str:
        """The body hash of a result of this cycle's, computed here if need be."""
        known = self.hashes.pop(id(result), {}).get(src.name)
        return known if known is not None else hash_body(src, result.body)
