"""What config.py and the source kinds' option models share: durations
and the strict, frozen model base (unknown keys are errors)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict

_DURATION = re.compile(r"^\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$")


def parse_duration(value: Any) -> float:
    """Seconds from 90, "90" (as typed on a command line), "90s", "15m",
    "1h30m" or "2d"."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 15m, 1h or 90s")
    if isinstance(value, str) and re.fullmatch(r"\s*\d+(?:\.\d+)?\s*", value):
        value = float(value)
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m or not any(m.groups()):
            raise ValueError(f"'{value}' is not a duration (expected e.g. 90s, 15m, 1h30m, 1d)")
        d, h, mi, s = (int(g or 0) for g in m.groups())
        seconds = float(((d * 24 + h) * 60 + mi) * 60 + s)
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
