"""Full text for a poll's new stories: article pages fetched on the fetch
pool, one host at a time (its per-host delay holds), within one budget for
the whole poll (fetch.full_text_budget), so a handful of slow pages cannot
hold the loop past the health check's patience.

Each page that is done is remembered at once (`record`), and a poll that
is cut short (a restart, a crash, a container killed for staleness) finds
those next time (`known`) instead of fetching them again. A page not
reached within the budget leaves its story with the feed's own text.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, TimeoutError, as_completed
from dataclasses import replace

from . import log
from .models import Story
from .scheduler import host_of

# fetch_one(story, seconds left) -> the story with its full text, or as it was
FetchOne = Callable[[Story, float], Story]


def full_texts(
    stories: Sequence[Story],
    fetch_one: FetchOne,
    pool: Executor,
    budget: float,
    known: Mapping[str, object],
    record: Callable[[str, str], None],
) -> dict[str, Story]:
    """Story key -> the story with its article text (or as it was)."""
    out: dict[str, Story] = {}
    todo: list[Story] = []
    for story in stories:
        text = known.get(story.key)
        if isinstance(text, str):  # done in an earlier, unfinished try of this poll
            out[story.key] = replace(story, body=text) if text else story
        else:
            todo.append(story)
    if not todo:
        return out
    until = time.monotonic() + budget
    hosts = {host_of(s.link): threading.Lock() for s in todo}

    def task(story: Story) -> Story | None:
        with hosts[host_of(story.link)]:
            left = until - time.monotonic()
            return fetch_one(story, left) if left > 0 else None

    futures = {pool.submit(task, s): s for s in todo}
    try:
        for future in as_completed(futures, timeout=max(0.0, until - time.monotonic()) + 1.0):
            story = futures[future]
            try:
                got = future.result()
            except Exception as e:  # with_full_text keeps its own errors; this is a bug
                log.event("article.failed", level="warning", url=story.link, error=repr(e)[:200])
                got = story
            if got is None:
                continue
            out[story.key] = got
            record(story.key, got.body if got is not story else "")
    except TimeoutError:
        pass
    skipped = [s for s in todo if s.key not in out]
    for future, story in futures.items():
        if story.key not in out:
            future.cancel()
            out[story.key] = story
    if skipped:
        log.event(
            "article.budget_spent",
            level="warning",
            source=skipped[0].source,
            skipped=len(skipped),
            budget=f"{budget:g}s",
            note="these stories keep the feed's text",
        )
    return out
