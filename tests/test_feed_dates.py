"""Feed dates in the forms nearly every feed writes are read by a short
path of their own; it gives what the RFC 822 and W3C-DTF grammars give,
invalid values (a 31st of February, an hour 24, a zone of 24 hours or
more, a year pushed past the calendar) included."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.sources import dates
from monitor.sources.dates import parse_feed_date

day = st.sampled_from(["1", "9", "01", "28", "29", "30", "31", "32", "0", "00"])
year = st.sampled_from(["0000", "0001", "1999", "2024", "2025", "9999"])
hour = st.sampled_from(["00", "09", "23", "24"])
minute = st.sampled_from(["00", "30", "59", "60"])
offset = st.builds(
    lambda sign, h, m: f"{sign}{h}{m}",
    st.sampled_from("+-"),
    st.sampled_from(["00", "02", "05", "23", "24", "99"]),
    st.sampled_from(["00", "30", "59", "60", "99"]),
)


@st.composite
def rfc822(draw) -> str:
    weekday = draw(st.sampled_from(["", "Mon, ", "Sun, "]))
    month = draw(st.sampled_from("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()))
    zone = draw(st.sampled_from(["GMT", "UTC", "UT", "Z"]) | offset)
    when = f"{draw(hour)}:{draw(minute)}:{draw(minute)}"
    return f"{weekday}{draw(day)} {month} {draw(year)} {when} {zone}"


@st.composite
def w3cdtf(draw) -> str:
    month = draw(st.sampled_from(["01", "02", "12", "13", "00"]))
    fraction = draw(st.sampled_from(["", ".5", ".123456789"]))
    zone = draw(st.sampled_from(["Z"]) | offset.map(lambda o: f"{o[:3]}:{o[3:]}"))
    when = f"{draw(hour)}:{draw(minute)}:{draw(minute)}{fraction}"
    return f"{draw(year)}-{month}-{draw(day).zfill(2)}T{when}{zone}"


@settings(max_examples=1000, deadline=None)
@given(rfc822())
def test_common_rfc822_reads_as_the_grammar_reads_it(value):
    assert dates._common(value)[0]  # the short path took it
    assert parse_feed_date(value) == dates._rfc822(value)
    assert parse_feed_date(f"  {value}\n") == dates._rfc822(value)


@settings(max_examples=1000, deadline=None)
@given(w3cdtf())
def test_common_w3cdtf_reads_as_the_grammar_reads_it(value):
    assert dates._common(value)[0]
    assert parse_feed_date(value) == dates._w3cdtf(value)


def test_common_forms_give_aware_utc():
    got = parse_feed_date("Mon, 01 Dec 2025 10:00:00 +0200")
    assert got == datetime(2025, 12, 1, 8, 0, tzinfo=UTC) and got.tzinfo is UTC
    assert parse_feed_date("2025-12-01T10:00:00.75-05:30") == datetime(
        2025, 12, 1, 15, 30, tzinfo=UTC
    )
    assert parse_feed_date("Mon, 31 Feb 2025 10:00:00 GMT") is None
    assert parse_feed_date("Fri, 31 Dec 9999 23:00:00 -0500") is None  # past the calendar in UTC


def test_other_forms_take_the_grammar():
    for value in (
        "Mon, 01 Dec 2025 10:00:00 EST",
        "1 Dec 2025 10:00 GMT",
        "mon, 01 dec 2025 10:00:00 gmt",
    ):
        assert not dates._common(value)[0]
    assert parse_feed_date("Mon, 01 Dec 2025 10:00:00 EST") == datetime(
        2025, 12, 1, 15, 0, tzinfo=UTC
    )
