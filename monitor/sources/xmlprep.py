"""XML bytes made safe to hand to any parser: feeds and sitemaps.

Three things happen before lxml or feedparser sees a document:

- A document in UTF-16, UTF-32 or EBCDIC is re-encoded as UTF-8 (and its
  XML declaration says so), so every check below reads it as it is.
- A document whose DTD declares entities is refused, wherever the
  declaration sits and whatever comments surround it: entities have no place
  in a news feed and are how XML bombs and external entities arrive.
- Character references to code points XML forbids (``&#xD800;``, ``&#0;``,
  C0 controls) and raw C0 control bytes are removed. Such a character makes
  lxml refuse the document and feedparser raise, and one story carrying it
  would otherwise fail its whole source on every poll.
"""

from __future__ import annotations

import codecs
import re

from .errors import SourceError

_DECL = re.compile(rb"""^(\s*<\?xml[^>]*?\bencoding\s*=\s*["'])([A-Za-z0-9_.:+-]+)(["'])""", re.I)
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.I)
_ENTITY = re.compile(rb"<!ENTITY", re.I)
_CHARREF = re.compile(rb"&#(?:[xX]([0-9A-Fa-f]{1,8})|([0-9]{1,10}));")
# C0 controls other than tab, newline and carriage return
_C0 = bytes(b for b in range(32) if b not in (9, 10, 13))

# (prefix, codec): BOMs first, then the first four bytes of "<?xm" (XML 1.0, appendix F)
_WIDE = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x4c\x6f\xa7\x94", "cp037"),
)


def _bad_code_point(n: int) -> bool:
    return (
        n < 0x20
        and n not in (9, 10, 13)
        or 0xD800 <= n <= 0xDFFF
        or n in (0xFFFE, 0xFFFF)
        or n > 0x10FFFF
    )


def _charref(m: re.Match) -> bytes:
    hexa, dec = m.groups()
    n = int(hexa, 16) if hexa else int(dec)
    return b"" if _bad_code_point(n) else m.group(0)


def to_utf8(body: bytes) -> tuple[bytes, bool]:
    """`body` re-encoded as UTF-8 when it is in a wide or EBCDIC encoding;
    True when it was re-encoded."""
    for prefix, codec in _WIDE:
        if body.startswith(prefix):
            text = body.decode(codec, errors="replace").lstrip("\ufeff")
            data = text.encode("utf-8")
            data = _DECL.sub(lambda m: m.group(1) + b"utf-8" + m.group(3), data, count=1)
            return data, True
    return body, False


def refuse_entities(body: bytes) -> None:
    """SourceError when a DTD in `body` declares an entity, anywhere."""
    if b"!" not in body:  # one byte found at memchr's speed; most feeds lack it
        return
    doctype = _DOCTYPE.search(body)
    if doctype is not None and _ENTITY.search(body, doctype.start()):
        raise SourceError(
            "parse_error",
            "document declares XML entities (refused: entity expansion and "
            "external entities are not read)",
        )


def prepare(body: bytes, content_type: str | None = None) -> tuple[bytes, str | None]:
    """The bytes any XML parser here is given (see the module's notes), and
    the Content-Type to read them by (its charset is UTF-8 once re-encoded)."""
    body, recoded = to_utf8(body)
    if recoded and content_type and "charset" in content_type.lower():
        content_type = content_type.split(";")[0].strip() + "; charset=utf-8"
    refuse_entities(body)
    if b"#" in body and b"&#" in body:  # "&" is everywhere in feeds, "#" is not
        body = _CHARREF.sub(_charref, body)
    return body.translate(None, _C0), content_type
