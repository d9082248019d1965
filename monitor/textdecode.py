"""Bytes of a web page -> text, the way a careful browser would.

Order of evidence: a byte-order mark, then the charset the HTTP Content-Type
header actually states, then a <meta charset> / http-equiv (or an XML
declaration) in the first 4 KB, then charset-normalizer's guess, then UTF-8
with replacement characters.

Labels are widened to the superset that real sites mean (as the WHATWG
Encoding Standard does): Chinese pages labelled gb2312 routinely contain
GBK-only characters such as 镕, so gb2312/gbk become gb18030; big5 becomes
big5hkscs; latin-1 and ascii become windows-1252.

Note: requests reports ISO-8859-1 for any text/* response whose header names
no charset. That is requests' default, not the server's word, so this module
reads the raw header itself and never takes ``Response.encoding``.
"""

from __future__ import annotations

import codecs
import re

_WIDEN = {
    codecs.lookup(narrow).name: wide
    for narrow, wide in {
        "gb2312": "gb18030",
        "gbk": "gb18030",
        "big5": "big5hkscs",
        "cp950": "big5hkscs",
        "iso-8859-1": "cp1252",
        "ascii": "cp1252",
        "shift_jis": "cp932",
        "euc-kr": "cp949",
        "iso-8859-9": "cp1254",
        "iso-8859-11": "cp874",
    }.items()
}
# Labels Python does not know (or knows differently) that pages use.
_ALIASES = {
    "x-gbk": "gbk",
    "gb_2312-80": "gb2312",
    "csgb2312": "gb2312",
    "x-euc-cn": "gb2312",
    "euc-cn": "gb2312",
    "chinese": "gb2312",
    "iso-ir-58": "gb2312",
    "x-sjis": "shift_jis",
    "windows-31j": "shift_jis",
    "ks_c_5601-1987": "euc_kr",
    "x-mac-roman": "mac_roman",
    "unicode-1-1-utf-8": "utf-8",
    "utf8": "utf-8",
    "x-user-defined": "cp1252",
}

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

_HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([^"';,\s]+)""", re.I)
_META_CHARSET = re.compile(rb"""<meta[^>]*?\bcharset\s*=\s*["']?\s*([A-Za-z0-9_:.+-]+)""", re.I)
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9_.:+-]+)["']""", re.I)
_SNIFF = 4096


def normalize_charset(label: str | None) -> str | None:
    """A Python codec name for a charset label, widened to its superset;
    None for a label Python cannot decode."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _ALIASES.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    return _WIDEN.get(name, name)


def charset_from_content_type(content_type: str | None) -> str | None:
    """The charset label the header states, or None when it states none."""
    if not content_type:
        return None
    m = _HEADER_CHARSET.search(content_type)
    return m.group(1) if m else None


def sniff_bom(body: bytes) -> tuple[str, int] | None:
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name, len(bom)
    return None


def sniff_declared(body: bytes) -> str | None:
    """The charset declared inside the document: an XML declaration or a
    <meta charset> / <meta http-equiv content="...; charset=..."> in the
    first 4 KB."""
    head = body[:_SNIFF]
    m = _XML_DECL.match(head) or _META_CHARSET.search(head)
    if not m:
        return None
    label = m.group(1).decode("ascii", "replace")
    # A UTF-16 page cannot declare itself in ASCII bytes; browsers read utf-8.
    if label.lower().replace("_", "-").startswith("utf-16"):
        return "utf-8"
    return label


def _errors(body: bytes, codec: str) -> int:
    """How many undecodable sequences `body` has in `codec` (0: clean)."""
    try:
        body.decode(codec)
        return 0
    except UnicodeDecodeError:
        pass
    text = body.decode(codec, errors="replace")
    return max(1, text.count("\ufffd"))


def detect(body: bytes) -> str | None:
    """charset-normalizer's best guess, widened; None when it has none."""
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - a declared dependency
        return None
    best = from_bytes(body[: 256 * 1024]).best()
    if best is None:
        return None
    return normalize_charset(best.encoding)


def choose_encoding(body: bytes, content_type: str | None) -> str:
    """The codec decode_html would use for these bytes."""
    bom = sniff_bom(body)
    if bom:
        return bom[0]
    declared: list[str] = []
    for label in (charset_from_content_type(content_type), sniff_declared(body)):
        codec = normalize_charset(label)
        if codec and codec not in declared:
            declared.append(codec)
    # Trust what the page says when its bytes agree (or nearly: one stray
    # byte in a long page must not send us guessing).
    scored = []
    for codec in declared:
        errs = _errors(body, codec)
        if errs == 0:
            return codec
        scored.append((errs, codec))
    if scored:
        errs, codec = min(scored)
        if errs <= max(2, len(body) // 2000):
            return codec
    if body.isascii():
        return declared[0] if declared else "utf-8"
    if _errors(body, "utf-8") == 0:
        return "utf-8"
    guess = detect(body)
    if guess:
        return guess
    return declared[0] if declared else "utf-8"


def decode_html(body: bytes, content_type: str | None) -> str:
    """Text of an HTML (or XML) document from its bytes and HTTP Content-Type."""
    if not body:
        return ""
    bom = sniff_bom(body)
    if bom:
        return body[bom[1] :].decode(bom[0], errors="replace")
    return body.decode(choose_encoding(body, content_type), errors="replace")
