"""The one error a watcher raises for a document it cannot read."""

from __future__ import annotations

# rate_limited: a service refused to serve (a quota, too many requests);
# query_rejected: a search service refused the query itself
REASONS = frozenset(
    {"not_a_feed", "parse_error", "selector_empty", "rate_limited", "query_rejected"}
)


class SourceError(Exception):
    """reason: one of REASONS; str(e) is one line."""

    def __init__(self, reason: str, message: str):
        assert reason in REASONS, reason
        message = " ".join(str(message).split())
        super().__init__(message)
        self.reason = reason
        self.message = message
