"""Text the database can hold: every value the store writes passes here.

Sources clean their text at the edge (identity.clean_text); this is the
last line, for whatever any part of the monitor writes.
"""

from __future__ import annotations

import re
from typing import Any

# Text the database cannot hold, or holds only to hand back as a poison:
# NUL (PostgreSQL refuses it in text) and lone UTF-16 surrogates (neither
# driver can encode them).
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(value: str) -> str:
    if _storable(value):
        return value
    return _SURROGATE.sub("\ufffd", value.replace("\x00", ""))


def _storable(text: str) -> bool:
    """Whether `text` needs no cleaning: no NUL, and encodable as UTF-8."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def clean_params(params: Any) -> Any:
    """`params` with every string made storable (the same object when
    nothing needed it, which is nearly always). The strings are checked
    joined, in one pass of C code, and cleaned one by one only when that
    finds something (a lone surrogate stays lone when joined: Python never
    pairs two of them into one character)."""
    if isinstance(params, dict):
        if any(type(v) is str for v in params.values()):
            return {k: clean_text(v) if type(v) is str else v for k, v in params.items()}
        return params
    if _storable("".join([v for v in params if type(v) is str])):
        return params
    return tuple(clean_text(v) if type(v) is str else v for v in params)


def clean_rows(rows: Any) -> list:
    """clean_params for every row of an executemany, all rows' strings
    checked in one pass; the rows themselves when nothing needed it."""
    rows = rows if isinstance(rows, list) else list(rows)
    if rows and not isinstance(rows[0], dict):
        if _storable("".join([v for row in rows for v in row if type(v) is str])):
            return rows
    return [clean_params(r) for r in rows]
