"""The one error a watcher raises for a document it cannot read."""

from __future__ import annotations

REASONS = frozenset({"not_a_feed", "parse_error", "selector_empty"})


class SourceError(Exception):
    """reason: "not_a_feed", "parse_error" or "selector_empty"; str(e) is one line."""

    def __init__(self, reason: str, message: str):
        assert reason in REASONS, reason
        message = " ".join(str(message).split())
        super().__init__(message)
        self.reason = reason
        self.message = message
