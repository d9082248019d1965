"""The one HTTP door (DESIGN.md): conditional GET, size cap, total deadline,
bounded redirects, cancellation and an honest User-Agent. See fetcher.py."""

from monitor.fetch.errors import MAX_REDIRECTS, REASONS, FetchError, FetchResult
from monitor.fetch.fetcher import Fetcher, default_user_agent
from monitor.fetch.guard import BlockedAddress, address_kind

__all__ = [
    "MAX_REDIRECTS",
    "REASONS",
    "BlockedAddress",
    "FetchError",
    "FetchResult",
    "Fetcher",
    "address_kind",
    "default_user_agent",
]
