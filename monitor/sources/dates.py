"""Lenient date parsing for listing pages and feeds.

Returns an aware UTC datetime or None; never raises. Times without a zone
are taken as UTC (a page's local zone is not knowable from the page)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime

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
_TZ_RE = r"(?:\s*(Z|UTC|GMT|[+-]\d{2}:?\d{2}))?"

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


def _tz(label: str | None, default: tzinfo = UTC) -> tzinfo:
    if not label:
        return default
    if label.upper() in ("Z", "UTC", "GMT"):
        return UTC
    sign = -1 if label[0] == "-" else 1
    digits = label[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4])))


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
    except (ValueError, OverflowError):
        return None
    return dt.astimezone(UTC)


def to_utc(dt: datetime, default: tzinfo = UTC) -> datetime:
    """`dt` in UTC; a time that names no zone is read in `default`."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=default)
    return dt.astimezone(UTC)


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
        return to_utc(
            datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text),
            default_tz,
        )
    except ValueError:
        pass
    if _RFC2822.match(text):
        try:
            dt = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            dt = None
        if dt is not None:
            return to_utc(dt)
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
