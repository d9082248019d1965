"""Loaded rule sets, kept by the hash of what they were read from.

Parsing rules (every term normalised, every regex compiled and checked,
the automata built) is most of what loading them costs, and every start of
`monitor once` pays it, while the files rarely change between two starts.
So a rule set that loaded without a single problem is kept (pickled) under
the SHA-256 of the text and path of every file read (rule files and the
list files they include, in order) and of what turns them into rules (the
engine's own source, Python, and the RE2, Aho-Corasick and OpenCC modules).
The same files give the same rules; any change to them is another name.

A load with a problem is never kept, so its problems are found and shown as
before; nor is a rule set with a semantic condition, which reads a model
file. Regexes come back uncompiled and are compiled when first searched.
The entries live beside the YAML cache (yamlcache.py), at most CACHE_ENTRIES
of them; a cache that cannot be read or written is no cache, never an error.
An entry is read only when this user owns it and its folder, and no one
else can write either.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pickle
import sys
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from monitor import yamlcache

if TYPE_CHECKING:
    from monitor.engine import RuleSet

CACHE_ENTRIES = 8
_FORMAT = b"rulecache 1"
_SUFFIX = ".pickle"
_ENGINE = Path(__file__).resolve().parent
# what else a rule set is made with: its source and its compiled modules
_SOURCES = (_ENGINE.parent / "semantic" / "conditions.py",)
_MODULES = ("re2", "_re2", "ahocorasick", "opencc")


def cache_dir() -> Path:
    return yamlcache.cache_dir().parent / "rules"


@lru_cache(maxsize=1)
def _maker() -> bytes:
    """The hash of what turns rule files into a rule set."""
    h = hashlib.sha256(_FORMAT)
    h.update(sys.version.encode())
    for path in sorted(_ENGINE.glob("*.py")) + list(_SOURCES):
        h.update(b"\0" + path.name.encode() + b"\0")
        try:
            h.update(path.read_bytes())
        except OSError:
            pass
    for name in _MODULES:
        try:
            spec = importlib.util.find_spec(name)
            origin = spec.origin if spec is not None else None
            st = os.stat(origin) if origin else None
        except (ImportError, ValueError, OSError):
            st = None
        h.update(
            f"\0{name} {origin if st else None} {st and st.st_size} {st and st.st_mtime_ns}".encode()
        )
    return h.digest()


def key_of(files: list[tuple[str, bytes]]) -> str:
    """The cache name of a rule set read from these (path, bytes) pairs."""
    h = hashlib.sha256(_maker())
    for path, data in files:
        h.update(f"\0{path}\0{len(data)}\0".encode("utf-8", "surrogatepass"))
        h.update(data)
    return h.hexdigest()


def _private(path: Path) -> bool:
    """Only this user can have written `path`: owned by them and writable by
    no one else. Unpickling runs what the entry says, so an entry in a
    folder others can write (a shared volume, say) is not read."""
    try:
        st = path.stat()
    except OSError:
        return False
    owner = os.getuid() if hasattr(os, "getuid") else st.st_uid
    return st.st_uid == owner and not st.st_mode & 0o022


def get(key: str) -> RuleSet | None:
    from monitor.engine import RuleSet

    path = cache_dir() / (key + _SUFFIX)
    if not (_private(path.parent) and _private(path)):
        return None
    blob = yamlcache.read_entry(path, _FORMAT)
    if blob is None:
        return None
    try:
        ruleset = pickle.loads(blob)
    except Exception:  # written by other code, or damaged: read the files instead
        return None
    return ruleset if isinstance(ruleset, RuleSet) else None


def put(key: str, ruleset: RuleSet) -> None:
    try:
        blob = pickle.dumps(ruleset, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # something in it cannot be pickled: not kept
        return
    yamlcache.write_entry(cache_dir(), key + _SUFFIX, _FORMAT + blob, keep=CACHE_ENTRIES)
