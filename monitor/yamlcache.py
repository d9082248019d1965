"""The data of big YAML files, kept by the hash of their bytes.

Composing a config of a few thousand sources (every node with its position,
then the data built from the nodes) is most of what reading it costs, and
the file rarely changes between two starts or reloads. So the data of a
file that loaded cleanly is kept in a small cache, named by the SHA-256 of
the file's bytes and of what reads them (PyYAML's version, the loader, the
alias bound): the same bytes give the same data, and any change to them is
another name. Positions are then composed only when a problem needs one
(yamlfile.YamlDoc.root).

Only files of CACHE_MIN_BYTES or more are kept (a small file composes in
well under a millisecond), only data marshal can write (a document with a
timestamp is read as before), and at most CACHE_ENTRIES files. The cache
lives in $XDG_CACHE_HOME/privacy-monitor (else ~/.cache/privacy-monitor);
a cache that cannot be read or written is no cache, never an error.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

CACHE_MIN_BYTES = 32 * 1024
CACHE_ENTRIES = 16
_FORMAT = b"yamlcache 2"
_SUFFIX = ".marshal"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "privacy-monitor" / "yaml"


def key_of(raw: bytes, reader: str) -> str | None:
    """The cache name of a file's bytes as `reader` reads them; None for a
    file too small to be worth keeping."""
    if len(raw) < CACHE_MIN_BYTES:
        return None
    h = hashlib.sha256(_FORMAT)
    h.update(f"\0{yaml.__version__}\0{reader}\0".encode())
    h.update(raw)
    return h.hexdigest()


def get(key: str) -> tuple[bool, Any]:
    """(True, data) when the cache holds `key`, else (False, None)."""
    blob = read_entry(cache_dir() / (key + _SUFFIX), _FORMAT)
    if blob is None:
        return False, None
    try:
        data = marshal.loads(blob)
    except (EOFError, ValueError, TypeError):
        return False, None
    return True, data


def put(key: str, data: Any) -> None:
    """Keep `data` under `key`, if marshal can write it and the cache
    folder can be written; the oldest entries beyond CACHE_ENTRIES go."""
    try:
        blob = marshal.dumps(data)
    except ValueError:  # a timestamp, say: not kept
        return
    write_entry(cache_dir(), key + _SUFFIX, _FORMAT + blob)


def read_entry(path: Path, head: bytes) -> bytes | None:
    """The bytes of a cache entry after its `head`; None when there is no
    such entry or it was written by another format. A read entry counts as
    recently used."""
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    if not blob.startswith(head):
        return None
    try:
        os.utime(path)  # recently used: kept when older entries go
    except OSError:
        pass
    return blob[len(head) :]


def write_entry(folder: Path, name: str, blob: bytes, keep: int = CACHE_ENTRIES) -> None:
    """Write a cache entry whole (a reader never sees half of one), then
    let only the `keep` most recently used entries of its kind stay."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".new-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.replace(tmp, folder / name)
        except BaseException:
            os.unlink(tmp)
            raise
        _prune(folder, "*" + Path(name).suffix, keep)
    except OSError:
        return


def _prune(folder: Path, pattern: str, keep: int) -> None:
    entries = []
    for p in folder.glob(pattern):
        try:
            entries.append((p.stat().st_mtime, p))
        except OSError:
            continue
    entries.sort(reverse=True)
    for _, p in entries[keep:]:
        try:
            p.unlink()
        except OSError:
            pass
