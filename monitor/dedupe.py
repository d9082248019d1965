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

import functools
import hashlib
import operator
import re
import struct
from collections.abc import Callable

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
_BAND = struct.Struct(f"<{ROWS}Q")
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
    return " ".join(filter(None, (story.title, story.summary, story.body)))


def signature(text: str) -> tuple[int, ...] | None:
    """The MinHash signature of a text, None when it has too little text to say."""
    sh = shingles(text)
    if len(sh) < 8:
        return None
    hashes = [
        int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little") for s in sh
    ]
    return tuple(min([(a * h + b) % _PRIME for h in hashes]) for a, b in _COEFFS)


# A matched story's bands are asked for twice: to look for its copies, then
# to store them with it. The latest few are kept.
@functools.lru_cache(maxsize=64)
def bands(sig: tuple[int, ...]) -> tuple[str, ...]:
    """The LSH keys of a signature: band number and a short hash of its rows."""
    out = []
    for i in range(BANDS):
        rows = sig[i * ROWS : (i + 1) * ROWS]
        h = hashlib.blake2b(_BAND.pack(*(r & _MASK for r in rows)), digest_size=6).hexdigest()
        out.append(f"{i}:{h}")
    return tuple(out)


def similarity(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    return sum(map(operator.eq, a, b)) / len(a)


def pack(sig: tuple[int, ...]) -> bytes:
    return struct.pack(f"<{len(sig)}Q", *sig)


def unpack(blob: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(blob) // 8}Q", blob)


# -- the decision: is a new story a copy of a stored one? ----------------------------
#
# A MinHash estimate says two texts share most of their words; it cannot tell
# a copy from the next story off the same template ("Data breach at X exposes
# N records", one for each X). Candidates found through the bands are judged
# on their text:
#
# - two items with their own GUIDs from one source are two stories;
# - each naming a place, organisation or figure the other never mentions
#   (Latin names and numbers; for Chinese, numbers and any words of the lede
#   that each has and the other lacks) are two stories, and so are two
#   headlines off one template, each with words of its own;
# - otherwise a copy keeps most of the shorter lede: a trimmed or extended
#   lede under a rewritten headline is still folded.

CANDIDATE_THRESHOLD = 0.2  # estimated Jaccard at which a stored story is judged at all
# Stories off one template share bands with every earlier one; without a
# bound each new story would be judged against all of them in the window.
# The candidates sharing the most bands (the likeliest copies) are judged.
MAX_CANDIDATES = 64
CONTAINMENT = 0.6  # share of the shorter lede's shingles the other must hold

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_CAPITAL = re.compile(r"\b[A-Z][\w'’-]*")
_SENTENCE = re.compile(r"(?<=[.!?:;])\s+|\s+[-–—|]\s+")
_COMMON = frozenset(
    """a an the this that these those its it is are was were be will would can could may
    in on at for with from by to of and or but as after before over under into about
    how why what who when where which your our their my his her we you they i he she
    new live more most breaking update updated exclusive watch video analysis opinion
    report reports says said say mr mrs ms dr""".split()
)


# The store judges each new story against every candidate its bands find,
# and a stored story is a candidate for many new ones: what distinct() reads
# off one text (its numbers, words, names, bigrams) is kept for the latest
# few hundred texts, so a poll's work follows its new stories rather than
# their candidates. Long texts (article bodies) are not kept, which bounds
# the memory this takes to a few MB.
_MEMO_SIZE = 256
_MEMO_CHARS = 1000


def _per_text(fn: Callable[[str], frozenset[str]]) -> Callable[[str], frozenset[str]]:
    cached = functools.lru_cache(maxsize=_MEMO_SIZE)(fn)

    def read(text: str) -> frozenset[str]:
        return cached(text) if len(text) <= _MEMO_CHARS else fn(text)

    return read


@_per_text
def _numbers(text: str) -> frozenset[str]:
    return frozenset(n.replace(",", "") for n in _NUMBER.findall(text))


@_per_text
def _lower_words(text: str) -> frozenset[str]:
    """Words written in lower case somewhere in the text."""
    return frozenset(re.findall(r"\b[a-z][\w'’-]*", text))


@_per_text
def _words(text: str) -> frozenset[str]:
    return frozenset(w.lower() for w in _WORD.findall(text))


@_per_text
def _inner_capitals(field: str) -> frozenset[str]:
    """Capitalised words inside a sentence of the field (a sentence's first
    word is capitalised whatever it is, unless the sentence opens in lower
    case or a digit), lower-cased."""
    inner: set[str] = set()
    for sentence in _SENTENCE.split(field):
        inner.update(w.lower().strip("'’") for w in _CAPITAL.findall(sentence)[1:])
        first = _CAPITAL.match(sentence.strip())
        if first is None:  # a sentence opening in lower case or a digit
            inner.update(w.lower().strip("'’") for w in _CAPITAL.findall(sentence)[:1])
    return frozenset(inner)


def _names(fields: list[str], lower_words: frozenset[str] | set[str]) -> set[str]:
    """Capitalised words never written in lower case in either story, and
    capitalised inside a sentence somewhere: names of places,
    organisations, people."""
    inner: set[str] = set()
    for field in fields:
        inner |= _inner_capitals(field)
    return {w for w in inner if w not in _COMMON and w not in lower_words}


@_per_text
def _cjk_bigrams(text: str) -> frozenset[str]:
    chars = [c if _CJK.match(c) else " " for c in text]
    return frozenset(a + b for a, b in zip(chars, chars[1:]) if a != " " and b != " ")


@_per_text
def _title_units(title: str) -> frozenset[str]:
    return _cjk_bigrams(title) | {w.lower() for w in _WORD.findall(title) if not _CJK.search(w)}


def _template_titles(title_a: str, title_b: str, text_a: str, text_b: str) -> bool:
    """Two headlines off one template: mostly the same words, each with its
    own that the other story never uses (the place, the organisation)."""
    ua, ub = _title_units(title_a), _title_units(title_b)
    if not ua or not ub or len(ua & ub) / len(ua | ub) < 0.5:
        return False
    only_a = ua - ub - _title_units(text_b)
    only_b = ub - ua - _title_units(text_a)
    return bool(only_a and only_b)


def _lede(story: Story) -> str:
    return " ".join(filter(None, (story.summary, story.body))) or story.title


def distinct(a: Story, b: Story) -> bool:
    """True when the two can only be different stories (see above)."""
    if a.source == b.source and a.guid and b.guid and a.guid != b.guid:
        return True
    ta, tb = story_text(a), story_text(b)
    na, nb = _numbers(ta), _numbers(tb)
    if na - nb and nb - na:
        return True
    lower = _lower_words(ta) | _lower_words(tb)
    words_a, words_b = _words(ta), _words(tb)
    names_a = _names([a.title, a.summary, a.body], lower)
    names_b = _names([b.title, b.summary, b.body], lower)
    if (names_a - words_b) and (names_b - words_a):
        return True
    if _template_titles(a.title, b.title, ta, tb):
        return True
    la, lb = _cjk_bigrams(_lede(a)), _cjk_bigrams(_lede(b))
    if la and lb:
        only_a = la - _cjk_bigrams(tb)
        only_b = lb - _cjk_bigrams(ta)
        if only_a and only_b:
            return True
    return False


def containment(a: Story, b: Story) -> float:
    """Share of the shorter lede's shingles found in the other story's text
    (0 when a lede is too short to say)."""
    la, lb = shingles(_lede(a)), shingles(_lede(b))
    if min(len(la), len(lb)) < 8:
        la, lb = shingles(story_text(a)), shingles(story_text(b))
        if min(len(la), len(lb)) < 8:
            return 0.0
    small, big = (la, lb) if len(la) <= len(lb) else (lb, la)
    return len(small & big) / len(small)


def same_story(a: Story, b: Story) -> bool:
    """Whether `b` is a copy of `a` (or `a` of `b`): one alert, not two."""
    if distinct(a, b):
        return False
    return containment(a, b) >= CONTAINMENT
