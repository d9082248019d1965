"""Text normalisation for matching, word boundaries, and snippets.

Stories and rule terms go through the same steps: Unicode NFKC (full-width
Latin becomes ASCII, ligatures split), invisible format characters dropped
(zero-width spaces and bidi controls are used to dodge filters), whitespace
runs collapsed to one space, then case folding. Case folding can change
length (German sharp s becomes "ss"), so the folded text keeps a map from
each of its characters back to the display text, which is what snippets
and reported regex hits are cut from.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

ELLIPSIS = "…"

# Scripts written without spaces between words: a term may match inside a
# run of these characters, because there is no word boundary to look for.
_UNSPACED_RANGES: tuple[tuple[int, int], ...] = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x31FF),  # Bopomofo, Hangul compatibility Jamo, Katakana ext.
    (0x3200, 0x33FF),  # enclosed CJK, CJK compatibility
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xA000, 0xA4CF),  # Yi
    (0xA960, 0xA97F),  # Hangul Jamo extended A
    (0xAC00, 0xD7FF),  # Hangul syllables, Jamo extended B
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFFDC),  # half-width Katakana and Hangul
    (0x1B000, 0x1B16F),  # Kana supplement and extensions
    (0x20000, 0x3134F),  # CJK extensions B..G
)


@lru_cache(maxsize=4096)
def is_spaced_word_char(ch: str) -> bool:
    """A letter, digit or mark of a script that separates words with spaces."""
    if ch == "_":
        return True
    cat = unicodedata.category(ch)
    if cat[0] not in "LNM":
        return False
    cp = ord(ch)
    for lo, hi in _UNSPACED_RANGES:
        if lo <= cp <= hi:
            return False
    return True


def at_word_boundaries(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] is not glued to spaced-script letters.

    A hit is rejected when the characters on both sides of its start (or of
    its end) are word characters of a spaced script: "face" in "surface".
    A Han neighbour never blocks a hit, so "AI" matches in "AI人脸识别".
    """
    if start > 0 and is_spaced_word_char(text[start - 1]) and is_spaced_word_char(text[start]):
        return False
    if end < len(text) and is_spaced_word_char(text[end - 1]) and is_spaced_word_char(text[end]):
        return False
    return True


# Format characters (Unicode category Cf): zero-width spaces and joiners,
# soft hyphens, bidi controls, tags. Invisible, and used to split a word so
# a filter misses it. Listed as ranges because `re` has no \p{Cf}; a test
# checks the list against unicodedata.
_FORMAT = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f]"
)
_SPACES = re.compile(r"\s+")
_ASCII_SPACES = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"  # whitespace other than " " in ASCII
_FULLWIDTH = re.compile("[\uff01-\uff5e\u3000]+")
_HALFWIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def _to_halfwidth(m: re.Match) -> str:
    return m.group().translate(_HALFWIDTH)


def _display(text: str) -> str:
    """Format characters dropped, NFKC, whitespace runs collapsed, stripped."""
    if not text.isascii():  # ASCII text has no format characters and is already NFKC
        text = _FORMAT.sub("", text)
        # Full-width ASCII and the ideographic space, common in Chinese text,
        # replaced by their compatibility forms first: NFKC gives the same
        # result, and the text is then often normalised already, which is
        # far cheaper to check than to normalise.
        text = _FULLWIDTH.sub(_to_halfwidth, text)
        if not unicodedata.is_normalized("NFKC", text):
            text = unicodedata.normalize("NFKC", text)
    elif "  " not in text and not any(c in text for c in _ASCII_SPACES):
        return text.strip()  # single spaces only: nothing to collapse
    # str.split() splits on exactly the characters re's \s matches
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class NormText:
    """One field prepared for matching.

    display: NFKC, whitespace-collapsed, not case-folded (cased terms and
    snippets use it). folded: display case-folded. index[i] is the position
    in display of folded[i].
    """

    display: str
    folded: str
    index: Sequence[int]

    def display_span(self, start: int, end: int) -> tuple[int, int]:
        """Map a folded span [start, end) back to a display span."""
        if start >= end:
            pos = self.index[start] if start < len(self.index) else len(self.display)
            return pos, pos
        return self.index[start], self.index[end - 1] + 1


def normalise(text: str) -> NormText:
    display = _display(text)
    folded = display.casefold()
    if len(folded) == len(display):
        # casefold never maps a character to nothing, so equal lengths mean
        # every character folded to exactly one: the index is the identity
        return NormText(display, folded, range(len(display)))
    parts: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(display):
        f = ch.casefold()
        parts.append(f)
        index.extend([i] * len(f))
    return NormText(display, "".join(parts), tuple(index))


def normalise_term(term: str, cased: bool = False) -> str:
    """A rule's term in the form it is searched for."""
    display = _display(term)
    return display if cased else display.casefold()


def snippet(display: str, start: int, end: int, width: int) -> str:
    """About `width` characters of `display` centred on [start, end).

    Cuts prefer a nearby space so words stay whole, never split a letter
    from its combining marks, and are marked with an ellipsis.
    """
    n = len(display)
    width = max(width, 1)
    if n <= width:
        return display
    hit_len = max(end - start, 0)
    if hit_len >= width:
        lo = start
    else:
        lo = start - (width - hit_len) // 2
    lo = max(0, min(lo, n - width))
    hi = lo + width
    slack = max(width // 10, 0)
    if lo > 0:
        space = display.find(" ", lo, min(lo + slack, start))
        if space != -1:
            lo = space + 1
        while lo < n and unicodedata.combining(display[lo]):
            lo += 1
    if hi < n:
        space = display.rfind(" ", max(hi - slack, end), hi)
        if space != -1:
            hi = space
        while hi > lo and hi < n and unicodedata.combining(display[hi]):
            hi -= 1
    text = display[lo:hi].strip()
    return (ELLIPSIS if lo > 0 else "") + text + (ELLIPSIS if hi < n else "")


# --- Traditional and Simplified Chinese ---------------------------------------


@lru_cache(maxsize=1)
def _zh_table() -> dict[int, str]:
    """Traditional -> Simplified, one character to one character.

    Read from the character table of the OpenCC project (shipped by the
    pure-Python opencc package). Only one-to-one entries are kept, so folded
    text keeps its length and positions in it are positions in the original.
    Phrase-level conversion is not needed to match a term: both the term and
    the text go through the same table.
    """
    from importlib.resources import files

    table: dict[int, str] = {}
    data = files("opencc").joinpath("dictionary", "TSCharacters.txt").read_text(encoding="utf-8")
    for line in data.splitlines():
        parts = line.split("\t")
        if len(parts) != 2:
            continue
        trad, simp = parts[0], parts[1].split(" ")[0]
        if len(trad) == 1 and len(simp) == 1 and trad != simp:
            table[ord(trad)] = simp
    return table


# Character classes over wide ranges take `re` milliseconds to compile, so
# these patterns are compiled when first used, not by every start.
@lru_cache(maxsize=1)
def _han() -> re.Pattern[str]:
    return re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")


def has_han(text: str) -> bool:
    return not text.isascii() and _han().search(text) is not None


@lru_cache(maxsize=1)
def _traditional() -> frozenset[str]:
    return frozenset(chr(c) for c in _zh_table())


def fold_chinese(text: str) -> str:
    """Traditional Chinese characters replaced by their Simplified forms; same length."""
    if _traditional().isdisjoint(text):
        return text  # no Traditional character: nothing to translate
    return text.translate(_zh_table())


# --- words, for proximity -----------------------------------------------------

_UNSPACED_CLASS = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _UNSPACED_RANGES)


# A token is one character of an unspaced script, or a run of letters and
# digits of a spaced one: `near` counts words in English and characters in Chinese.
@lru_cache(maxsize=1)
def _token() -> re.Pattern[str]:
    return re.compile(f"[{_UNSPACED_CLASS}]|[^\\W{_UNSPACED_CLASS}]+")


def tokens_between(text: str, start: int, end: int, limit: int) -> int:
    """Words (characters in unspaced scripts) in text[start:end], counting
    no further than limit + 1. A word cut by `start` is not counted."""
    while (
        start < end
        and start > 0
        and is_spaced_word_char(text[start - 1])
        and is_spaced_word_char(text[start])
    ):
        start += 1
    if end - start <= limit:
        # every token holds at least one character
        return sum(1 for _ in _token().finditer(text, start, end))
    count = 0
    for _ in _token().finditer(text, start, end):
        count += 1
        if count > limit:
            break
    return count
