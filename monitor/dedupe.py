"""Near-duplicate stories across outlets: one wire story republished by
twenty outlets is one alert that lists the outlets.

A story's text (title, summary and, with full text, the article body) is cut
into shingles: three-word runs for spaced scripts, character pairs for
Chinese and Japanese. A MinHash signature of 64 values estimates the Jaccard
similarity of two shingle sets; 32 bands of two values each find the
candidates through an index in the store, so a new story is compared with a
handful of recent ones, not all of them. Outlets rewrite the headline, trim
the lede and add a paragraph; such copies keep well over half of their
shingles in common, while two different stories on the same subject share
few.
"""

from __future__ import annotations

import hashlib
import re
import struct

from .models import Story

PERMUTATIONS = 64
BANDS = 32
ROWS = PERMUTATIONS // BANDS
THRESHOLD = 0.5  # estimated Jaccard similarity at which two stories are one
WINDOW = 3 * 86400.0  # how far back a copy's original is looked for

_PRIME = (1 << 61) - 1
_MASK = (1 << 64) - 1


def _coefficients() -> list[tuple[int, int]]:
    out = []
    for i in range(PERMUTATIONS):
        d = hashlib.blake2b(f"minhash-{i}".encode(), digest_size=16).digest()
        a, b = struct.unpack("<QQ", d)
        out.append((a % (_PRIME - 1) + 1, b % _PRIME))
    return out


_COEFFS = _coefficients()
_WORD = re.compile(r"[^\W\d_]+|\d+", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def shingles(text: str) -> set[str]:
    text = text.lower()
    out: set[str] = set()
    words: list[str] = []
    for w in _WORD.findall(text):
        if _CJK.search(w):
            chars = [c for c in w if _CJK.match(c)]
            out.update(a + b for a, b in zip(chars, chars[1:]))
        else:
            words.append(w)
    out.update(" ".join(words[i : i + 3]) for i in range(max(len(words) - 2, 0)))
    if not out and words:
        out.update(words)
    return out


def story_text(story: Story) -> str:
    return " ".join(x for x in (story.title, story.summary, story.body) if x)


def signature(text: str) -> tuple[int, ...] | None:
    """The MinHash signature of a text, None when it has too little text to say."""
    sh = shingles(text)
    if len(sh) < 8:
        return None
    hashes = [
        int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little") for s in sh
    ]
    return tuple(min((a * h + b) % _PRIME for h in hashes) for a, b in _COEFFS)


def bands(sig: tuple[int, ...]) -> list[str]:
    """The LSH keys of a signature: band number and a short hash of its rows."""
    out = []
    for i in range(BANDS):
        rows = sig[i * ROWS : (i + 1) * ROWS]
        h = hashlib.blake2b(
            struct.pack(f"<{ROWS}Q", *(r & _MASK for r in rows)), digest_size=6
        ).hexdigest()
        out.append(f"{i}:{h}")
    return out


def similarity(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    return sum(x == y for x, y in zip(a, b)) / len(a)


def pack(sig: tuple[int, ...]) -> bytes:
    return struct.pack(f"<{len(sig)}Q", *sig)


def unpack(blob: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(blob) // 8}Q", blob)
