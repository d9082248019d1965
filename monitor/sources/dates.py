"""Date parsing for listing pages and feeds.

Returns an aware UTC datetime, to the second, or None; never raises. An
out-of-range date (year 9999 pushed past the calendar by its zone, an offset
of 99 hours) is an unknown date. Times without a zone are taken as UTC (a
page's local zone is not knowable from the page).

`parse_date` is lenient: it finds a date inside longer text. `parse_feed_date`
reads a feed's date field: a value shaped like RFC 822 (``Mon, 10 Jun 2024
14:00:00 EDT``) or W3C-DTF (``2024-06-10T14:00:00+02:00``) is read by those
grammars alone, so a malformed one is unknown rather than half-read, the way
feedparser reads it; anything else goes to the lenient parser.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ]
    )
    for m in names
}
_MONTH_RE = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
_TIME_RE = r"(?:[ ,T]+(?:at\s+)?(\d{1,2})[:：](\d{2})(?:[:：](\d{2}))?\s*([ap]\.?m\.?)?)?"
_TZ_RE = r"(?:\s*(Z|UTC|GMT|[+-]\d{2}:?\d{2}|(?:[ECMP][SD]T|MES?T|CES?T|EES?T|WES?T|BST|JST|KST|HKT|SGT|AES?T|AEDT)\b))?"

_ISO_LIKE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})" + _TIME_RE + _TZ_RE, re.I)
_CJK = re.compile(
    r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日"
    + r"(?:\s*(\d{1,2})[:：时時](\d{2})(?:[:：分](\d{2}))?)?"
)
_MDY = re.compile(_MONTH_RE + r"\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})" + _TIME_RE + _TZ_RE, re.I)
_RFC2822 = re.compile(
    r"^(?:[A-Za-z]{3},?\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{2,4}\s+\d{1,2}:\d{2}(?::\d{2})?(?:\s+\S+)?$"
)
_DMY = re.compile(
    r"(\d{1,2})(?:st|nd|rd|th)?\s+" + _MONTH_RE + r",?\s+(\d{4})" + _TIME_RE + _TZ_RE, re.I
)


# Zone names RFC 822 allows and those feeds use beside them (hours from UTC).
_ZONES = {
    "ut": 0, "utc": 0, "gmt": 0, "z": 0, "etc/gmt": 0, "etc/utc": 0,
    "est": -5, "edt": -4, "cst": -6, "cdt": -5, "mst": -7, "mdt": -6, "pst": -8, "pdt": -7,
    "at": -4, "et": -5, "ct": -6, "mt": -7, "pt": -8,
    "met": 1, "mest": 2, "cet": 1, "cest": 2, "eet": 2, "eest": 3, "wet": 0, "west": 1,
    "bst": 1, "jst": 9, "kst": 9, "hkt": 8, "sgt": 8, "aest": 10, "aedt": 11,
}  # fmt: skip
_OFFSET = re.compile(r"^(?:gmt|utc)?([+-])(\d{1,2}):?(\d{2})?$", re.I)


def _tz(label: str | None, default: tzinfo = UTC) -> tzinfo:
    """The zone a label names; ValueError for one it does not."""
    if not label:
        return default
    hours = _ZONES.get(label.lower())
    if hours is not None:
        return timezone(timedelta(hours=hours)) if hours else UTC
    m = _OFFSET.match(label)
    if not m:
        raise ValueError(f"unknown zone {label!r}")
    sign = -1 if m.group(1) == "-" else 1
    return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0)))


def _build(
    y, mo, d, h=None, mi=None, s=None, ampm=None, tz=None, *, default: tzinfo = UTC
) -> datetime | None:
    try:
        hour = int(h or 0)
        if ampm:
            pm = ampm.lower().startswith("p")
            if hour == 12:
                hour = 12 if pm else 0
            elif pm:
                hour += 12
        dt = datetime(
            int(y), int(mo), int(d), hour, int(mi or 0), int(s or 0), tzinfo=_tz(tz, default)
        )
        return dt.astimezone(UTC).replace(microsecond=0)
    except (ValueError, OverflowError):
        return None


def to_utc(dt: datetime, default: tzinfo = UTC) -> datetime:
    """`dt` in UTC; a time that names no zone is read in `default`."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=default)
    return dt.astimezone(UTC).replace(microsecond=0)


_WEEKDAY = r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?"
_RFC_TIME = r"(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?(?:\s*([A-Za-z][A-Za-z/]*(?:[+-]\d{1,2}(?::?\d{2})?)?|[+-]\d{1,4}(?::?\d{2})?))?"
_RFC_SHAPE = re.compile(
    r"^(?:" + _WEEKDAY + r"\s*,?\s*)?(?:\d{1,2}\s+[a-z]{3}|[a-z]{3,9}\.?\s+\d{1,2}\s)", re.I
)
_RFC_DMY = re.compile(
    r"^(?:"
    + _WEEKDAY
    + r"\s*,?\s*)?(\d{1,2})\s+"
    + _MONTH_RE
    + r",?\s+(\d{2}|\d{4}),?"
    + _RFC_TIME
    + "$",
    re.I,
)
_RFC_MDY = re.compile(
    r"^(?:" + _WEEKDAY + r"\s*,?\s*)?" + _MONTH_RE + r"\s+(\d{1,2}),?\s+(\d{4})" + _RFC_TIME + "$",
    re.I,
)
_W3C_SHAPE = re.compile(r"^\d{4}(?:-\d|$)")
_W3C = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?$",
    re.I,
)


def _year(text: str) -> int:
    y = int(text)
    if len(text) == 2:  # RFC 822's two-digit years
        y += 2000 if y < 90 else 1900
    return y


def _rfc822(text: str) -> datetime | None:
    if m := _RFC_DMY.match(text):
        d, mon, y, h, mi, s, zone = m.groups()
    elif m := _RFC_MDY.match(text):
        mon, d, y, h, mi, s, zone = m.groups()
    else:
        return None
    month = _MONTHS[mon.lower().rstrip(".")]
    return _build(_year(y), month, d, h, mi, s, None, zone or "UTC")


def _w3cdtf(text: str) -> datetime | None:
    m = _W3C.match(text)
    if m:
        y, mo, d, h, mi, s, zone = m.groups()
        return _build(y, mo or 1, d or 1, h, mi, s, None, zone and zone.upper())
    if "T" not in text.upper():  # "2013-01-27-01" is no time of day
        return None
    try:
        return to_utc(datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" else text))
    except (ValueError, OverflowError):
        return None


# The forms nearly every feed writes, read without the general grammars at
# a fraction of their cost per item: RFC 822 as "Mon, 01 Dec 2025 10:00:00
# GMT" (or "+0200") and W3C-DTF as "2025-12-01T10:00:00Z" (or "+02:00",
# with or without fractions of a second). Anything else (another zone name,
# a missing field, extra spaces) takes the general path, which reads these
# forms to the same datetimes.
_RFC_COMMON = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?([0-9]{1,2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([0-9]{4}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) (?:GMT|UTC|UT|Z|([+-])([0-9]{2})([0-9]{2}))"
)
_W3C_COMMON = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?"
    r"(?:Z|([+-])([0-9]{2}):([0-9]{2}))"
)
_MONTH_NO = {
    m: str(i) for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)
}


def _common(text: str) -> tuple[bool, datetime | None]:
    """(True, its date) for a value in one of the common forms, else (False, None)."""
    m = _RFC_COMMON.fullmatch(text)
    if m is not None:
        d, mon, y, h, mi, s, sign, zh, zm = m.groups()
        mo = _MONTH_NO[mon]
    else:
        m = _W3C_COMMON.fullmatch(text)
        if m is None:
            return False, None
        y, mo, d, h, mi, s, sign, zh, zm = m.groups()
    try:
        dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=UTC)
        if sign is None:
            return True, dt
        offset = int(zh) * 60 + int(zm)
        if offset >= 24 * 60:  # no such zone: timezone() refuses it
            return True, None
        return True, dt - timedelta(minutes=offset if sign == "+" else -offset)
    except (ValueError, OverflowError):
        return True, None


def parse_feed_date(text: str | None) -> datetime | None:
    """A feed's date field: RFC 822 and W3C-DTF shapes by their grammars
    only (a malformed one is unknown), anything else leniently."""
    if not text:
        return None
    if type(text) is str:
        common, dt = _common(text.strip())
        if common:
            return dt
    text = " ".join(str(text).split())
    if _W3C_SHAPE.match(text) and " " not in text.strip():
        return _w3cdtf(text)
    if _RFC_SHAPE.match(text):
        return _rfc822(text)
    return parse_date(text)


def parse_date(text: str | None, default_tz: tzinfo = UTC) -> datetime | None:
    """ISO 8601, RFC 2822, 'Dec 20, 2019 02:35 PM', '20 December 2019',
    '2019-12-20', '2019/12/20 14:35', '2019年12月20日', also inside longer
    text such as 'By A. Writer / Dec 20, 2019 02:35 PM / Society'."""
    if not text:
        return None
    text = " ".join(str(text).split())
    if not text:
        return None
    try:
        return _lenient(text, default_tz)
    except (ValueError, OverflowError, KeyError):  # never raise: an unknown date
        return None


def _lenient(text: str, default_tz: tzinfo) -> datetime | None:
    try:
        return to_utc(
            datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text),
            default_tz,
        )
    except ValueError:
        pass
    if _RFC2822.match(text) and (dt := _rfc822(text)) is not None:
        return dt
    if m := _CJK.search(text):
        return _build(*m.groups(), default=default_tz)
    if m := _ISO_LIKE.search(text):
        y, mo, d, h, mi, s, ampm, tz = m.groups()
        return _build(y, mo, d, h, mi, s, ampm, tz, default=default_tz)
    if m := _MDY.search(text):
        mon, d, y, h, mi, s, ampm, tz = m.groups()
        return _build(
            y, _MONTHS[mon.lower().rstrip(".")], d, h, mi, s, ampm, tz, default=default_tz
        )
    if m := _DMY.search(text):
        d, mon, y, h, mi, s, ampm, tz = m.groups()
        return _build(
            y, _MONTHS[mon.lower().rstrip(".")], d, h, mi, s, ampm, tz, default=default_tz
        )
    return None
