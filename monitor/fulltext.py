"""Full text: the article page of a new story, its main text extracted.

Only for sources with ``full_text: true`` and only for stories that are new
and not part of a baseline, so the backlog is never fetched. The article
link was found inside fetched content, so the fetch is a *content link*:
robots.txt is honoured and every hop must reach a public address (see
fetch.py). trafilatura extracts the main text; it is imported on first use,
so a monitor without full-text sources does not carry it in memory.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import replace

from . import log
from .fetch import Fetcher, FetchError
from .identity import clean_text
from .models import Story
from .robots import Robots
from .scheduler import host_of
from .sources.text import collapse
from .textdecode import decode_html

MAX_CHARS = 50_000  # rules read text; a longer page adds nothing but time


# Below this, a precise extraction may have caught a comment policy or a
# block of teasers instead of the article; the default settings get a try.
SHORT = 300
_BOILERPLATE = re.compile(
    r"comment policy|comments are (?:open|closed)|around the web|you (?:won't|will not) believe"
    r"|sponsored content|recommended for you|sign up for our newsletter|all rights reserved"
    r"|we use cookies|share this article|read more stories",
    re.I,
)


def _extract(html: str, precise: bool) -> str:
    import trafilatura

    text = trafilatura.extract(
        html,
        include_comments=False,
        include_tables=False,
        favor_precision=precise,
        deduplicate=True,
    )
    return collapse(text or "")


def _looks_like_boilerplate(text: str) -> bool:
    return bool(_BOILERPLATE.search(text[:400])) and len(text) < 2 * SHORT


def extract_main_text(html: str) -> str:
    """The article text of a page, without navigation, footers and comments:
    trafilatura's precise extraction, and its default one when the precise
    result is short or boilerplate."""
    text = _extract(html, precise=True)
    if len(text) < SHORT or _looks_like_boilerplate(text):
        candidates = [t for t in (text, _extract(html, precise=False)) if t]
        good = [t for t in candidates if not _looks_like_boilerplate(t)]
        text = max(good, key=len) if good else ""
    return _trim_tail(text)[:MAX_CHARS]


def _trim_tail(text: str) -> str:
    """The text up to a block of teasers or a comment policy after it."""
    m = _BOILERPLATE.search(text, SHORT)
    return text[: m.start()].rstrip() if m else text


class Pacer:
    """The per-host minimum delay (fetch.per_host_delay) for article pages,
    which are fetched one after another on the service's thread."""

    def __init__(self, delay: float, stop: threading.Event | None = None, clock=time.monotonic):
        self.delay = delay
        self.stop = stop or threading.Event()
        self.clock = clock
        self._last: dict[str, float] = {}

    def wait(self, url: str) -> None:
        host = host_of(url)
        last = self._last.get(host)
        if last is not None and self.delay > 0:
            self.stop.wait(max(0.0, last + self.delay - self.clock()))
        self._last[host] = self.clock()


def with_full_text(
    story: Story,
    fetcher: Fetcher,
    robots: Robots,
    pacer: Pacer | None = None,
    *,
    proxy: str | None = None,
    headers: dict | None = None,
    deadline: float | None = None,
) -> Story:
    """`story` with its body set to the article's main text; the story as it
    was when the page cannot be had (the reason is logged). The page and its
    robots.txt go the source's way: its `proxy`, and its `headers` (which
    the caller passes only for pages on the source's own origin)."""
    if not story.link:
        return story
    try:
        until = None if deadline is None else time.monotonic() + deadline
        left = lambda: None if until is None else until - time.monotonic()  # noqa: E731
        robots.check(
            story.link, content_link=True, proxy=proxy, headers=headers or None, deadline=left()
        )
        if pacer is not None:
            pacer.wait(story.link)
        result = fetcher.get(
            story.link, content_link=True, proxy=proxy, headers=headers or None, deadline=left()
        )
        text = extract_main_text(decode_html(result.body, result.content_type))
    except FetchError as e:
        log.event(
            "article.failed",
            level="warning",
            source=story.source,
            url=story.link,
            reason=e.reason,
            error=str(e),
        )
        return story
    except Exception as e:  # an extractor bug must not lose the story
        log.event(
            "article.failed",
            level="warning",
            source=story.source,
            url=story.link,
            reason="parse_error",
            error=f"{type(e).__name__}: {e}"[:200],
        )
        return story
    text = clean_text(text)  # the article page is content too (identity.clean_text)
    if not text:
        return story
    return replace(story, body=text)
