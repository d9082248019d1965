"""Log lines are written straight to the configured stream while nothing
else listens, and through logging when something does (a capture, a
handler added later); either way the line is the same, masked and made
printable. A level that is off builds nothing. The metrics count every
poll event per source."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from monitor import log
from monitor.metrics import Metrics


@pytest.fixture
def buf():
    stream = io.StringIO()
    log.setup("info", stream=stream, fmt="text")
    yield stream
    log.setup("info", fmt="text")
    log.forget_secrets()


def test_a_line_names_its_fields_masked_and_printable(buf):
    log.add_secret("hunter2-token")
    log.event(
        "source.failed",
        level="warning",
        source="wire",
        error="GET https://u:pw@x.example/?k=hunter2-token failed\x1b[2J",
        failures=3,
        counted=None,
        ok=True,
    )
    (line,) = buf.getvalue().splitlines()
    assert re.fullmatch(
        r"ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ level=warning event=source.failed source=wire "
        r'error="GET https://u:\*\*\*@x.example/\?k=\*\*\* failed\\\\x1b\[2J" failures=3 ok=true',
        line,
    ), line


def test_json_lines_carry_the_same_fields(buf):
    log.set_format("json")
    try:
        log.event("source.polled", source="wire", status=304, new=0, title="a\nb")
    finally:
        log.set_format("text")
    data = json.loads(buf.getvalue())
    assert data["event"] == "source.polled" and data["status"] == 304 and data["title"] == "a\nb"


def test_a_handler_added_after_setup_hears_every_line(buf):
    heard: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            heard.append(record.getMessage())

    capture = Capture()
    logging.getLogger("monitor").addHandler(capture)
    try:
        log.event("source.polled", source="wire", new=2)
    finally:
        logging.getLogger("monitor").removeHandler(capture)
    log.event("source.polled", source="desk", new=1)
    assert len(heard) == 1 and "source=wire new=2" in heard[0]
    lines = buf.getvalue().splitlines()
    assert "source=wire new=2" in lines[0] and "source=desk new=1" in lines[1]


def test_a_level_that_is_off_formats_nothing(buf):
    formatted: list[str] = []

    class Loud:
        def __str__(self) -> str:
            formatted.append("yes")
            return "loud"

    log.event("debug.detail", level="debug", value=Loud())
    assert formatted == [] and buf.getvalue() == ""
    log.event("info.detail", value=Loud())
    assert formatted == ["yes"] and "value=loud" in buf.getvalue()


def test_every_poll_is_counted_by_source():
    metrics = Metrics()
    for source, new in (("wire", 0), ("wire", 2), ("desk", 0), ("wire", 0)):
        metrics.on_event("source.polled", {"source": source, "new": new})
    text = metrics.exposition().decode()
    assert 'monitor_source_polls_total{source="wire"} 3.0' in text
    assert 'monitor_source_polls_total{source="desk"} 1.0' in text
    assert 'monitor_stories_new_total{source="wire"} 2.0' in text
