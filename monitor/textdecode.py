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
    if guess and not declared:
        return prefer_chinese(body, guess)
    if guess:
        return guess
    return declared[0] if declared else "utf-8"


# The commonest characters of Chinese news text, simplified and traditional:
# a page read in the right codec is full of them, one read in the wrong one
# is not.
_COMMON_HAN = set(
    "的一是不了在人有我他这這中大来來上国國个個到说說们們为為子和你地出道也时時年得就那要下以生会會"
    "自着著去之过過家学學对對可她里裡后後小么麼心多天而能好都然没沒日于於起还還发發成事只作当當想看文"
    "无無开開手十用主行方又如前所本见見经經头頭面公同三已老从從动動两兩长長知民样樣现現分将將外但身些与"
    "與高意进進把法此实實回二理美点點月明其种種声聲全工己话話儿兒者向情部正名定女问問力机機给給等几幾很"
    "业業最间間新什打便位因重被走电電四第门門相次东東政海口使教西再平真听聽世气氣信北少关關并內加化由却"
    "代军軍产產入先山五太水万萬市眼体體别別处處总總才场場师師书書比住员員九笑性通目华華报報立马馬命张張"
    "活难難神数數件安表原车車白应應路期叫死常提感金何更反合放做系计計或司利受光王果亲親界及今京务務制解"
    "各任至清物台象记記边邊共风風战戰干接它许許八特觉覺望直服毛林题題建南度统統色字请請交爱愛让讓认認算"
    "论論百吃义義科怎元社术術结結六功指思非流每青管夫连連远遠资資队隊跟带帶花快条條院变變联聯言权權往展"
    "该該领領传傳近留红紅治决決周保达達办辦运運武半候七必城父强強步完革深区區即求品士转轉量空甚众眾技轻"
    "輕程告江语語英基派满滿式李息写寫呢识識极極令黄黃德收脸臉据據网網警信息泄露"
)
_HIRAGANA = re.compile(r"[\u3040-\u309f]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")


def _common_share(text: str) -> float:
    han = [c for c in text if "\u4e00" <= c <= "\u9fff"]
    return sum(c in _COMMON_HAN for c in han) / len(han) if len(han) >= 8 else 0.0


def prefer_chinese(body: bytes, guess: str) -> str:
    """`guess`, or a Chinese codec when the page is Chinese text that the
    guess misreads: detection on a short unlabelled page often proposes a
    single-byte codec (cp1250) or Shift JIS for GB18030 or Big5 bytes. A
    Chinese codec wins when it decodes the bytes cleanly into common Chinese
    characters and the guess gives no Japanese or Korean text."""
    if guess in ("gb18030", "big5hkscs", "utf-8"):
        return guess
    guessed = body.decode(guess, errors="replace")
    if _HIRAGANA.search(guessed) or _HANGUL.search(guessed):
        return guess
    best, share = guess, 0.25  # below this share, the text is not Chinese
    for codec in ("gb18030", "big5hkscs"):
        if _errors(body, codec) == 0:
            s = _common_share(body.decode(codec))
            if s > share:
                best, share = codec, s
    return best


def decode_html(body: bytes, content_type: str | None) -> str:
    """Text of an HTML (or XML) document from its bytes and HTTP Content-Type."""
    if not body:
        return ""
    bom = sniff_bom(body)
    if bom:
        return body[bom[1] :].decode(bom[0], errors="replace")
    return body.decode(choose_encoding(body, content_type), errors="replace")
