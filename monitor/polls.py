"""Handling one poll's result: parse, read what the plan needs, decide
(plan.py), write the plan in one transaction, and name a failure. The part
of the monitor's loop that deals with one source, kept apart from the loop
itself (service.py), which schedules, fetches, delivers and reloads.

`Polls` is a mixin of `Monitor`: it uses the monitor's config, rules, store,
router, fetch pool and clock, and holds no state of its own.

Size: the steps of one poll in order (parse, plan, write, failure); the
decisions are in plan.py and the unchanged polls' writes in pollgroup.py.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import ThreadPoolExecutor

    from .alerts.route import Router
    from .config import Config
    from .engine import RuleSet
    from .fetch import Fetcher
    from .fulltext import Pacer
    from .health import HealthKeeper
    from .robots import Robots
    from .store import Store

from . import log, plan
from .alerts.route import fingerprint
from .articles import full_texts
from .bodyhash import HashingFetcher, hash_body
from .checks import hide_moved_secret
from .config import SourceConfig
from .dedupe import WINDOW as DEDUPE_WINDOW
from .dedupe import signature, story_text
from .fetch import FetchError, FetchResult
from .fetch.fetcher import same_origin
from .fulltext import with_full_text
from .health import (
    looks_like_bot_wall,
    name_fetch_error,
)
from .identity import story_url
from .models import Story
from .pollgroup import Pending, PollGroup, WriteGroup, Written
from .scheduler import backoff_interval, next_interval, server_hint
from .sources import SourceError, parse
from .sources.search import name_search_error, search_of
from .store import LeaseLost, NotModified, SourceState, StoreUnavailable


@dataclass
class PollOutcome:
    source: str
    ok: bool
    new: int = 0
    baseline: bool = False
    matched: int = 0
    queued: int = 0
    not_modified: bool = False
    reason: str | None = None
    error: str | None = None


def _one_line(e: BaseException, limit: int = 300) -> str:
    """An exception as one line of a log or of the state: its type and message."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}"[:limit] if text else type(e).__name__


class Polls:
    """The per-source half of `Monitor` (see the module's notes)."""

    # set by Monitor: its config and parts
    config: Config
    rules: RuleSet
    store: Store
    router: Router
    dests: dict
    leases: dict[str, int]
    source_health: HealthKeeper
    clock: Callable[[], float]
    fetcher: Fetcher
    robots: Robots
    pacer: Pacer
    pool: ThreadPoolExecutor
    # the cycle's group of unchanged polls, None outside a cycle
    group: PollGroup | None
    # the cycle's open group of written polls, None outside a cycle
    writes: WriteGroup | None
    # the cycle's fetcher, which hashes bodies as they come; None outside a cycle
    hashing: HashingFetcher | None

    def handle(
        self, src: SourceConfig, state: SourceState | None, result: FetchResult
    ) -> PollOutcome:
        """A fetched document: skip it when unchanged, else parse, match and store."""
        now = self.clock()
        fs = self.config.fetch
        if result.permanent_url:
            hide_moved_secret(src.url, result.permanent_url)
            self.store.record_permanent_url(src.name, result.permanent_url)
            log.event("source.moved", source=src.name, to=result.permanent_url)
        next_at = now + next_interval(src.name, src.interval, fs, server_hint(result, now))
        body_hash = (
            None
            if result.not_modified
            else self.hashing.take(src, result)
            if self.hashing is not None
            else hash_body(src, result.body)
        )
        unchanged = result.not_modified or (
            state is not None and state.baseline_done and body_hash == state.body_hash
        )
        if unchanged:
            outcome = PollOutcome(src.name, True, not_modified=True)
            row = NotModified(
                src.name,
                next_at,
                now,
                result.etag,
                result.last_modified,
                result.status,
                self.leases.get(src.name),
            )
            fields: dict[str, object] = {
                "source": src.name,
                "status": result.status,
                "new": 0,
                "unchanged": "same_body" if not result.not_modified else "not_modified",
            }

            def written() -> None:
                log.event("source.polled", "info", **fields)
                self.source_health.success(src, state, now, new=0)

            if self.group is not None:  # a cycle's: written with others (pollgroup.py)
                self.group.add(Pending(src, row, written, outcome))
                return outcome
            self.store.record_unchanged(row)
            written()
            return outcome
        # The fast feed path asks which of its keys are stored and leaves
        # those stories unread; its answers are kept, so no key is asked
        # twice and no canonical URL is computed for a story already known.
        answered: dict[str, bool] = {}
        # Before its first poll is written a source has no story stored
        # (record_poll sets baseline_done with the stories): nothing to ask.
        first = state is None or not state.baseline_done

        def known_keys(keys: list[str]) -> set[str]:
            found = set() if first else self.store.known_keys(src.name, keys)
            answered.update((k, k in found) for k in keys)
            return found

        try:
            stories = parse(src, result, known_keys)
        except SourceError as e:
            reason = e.reason
            if looks_like_bot_wall(result.status, result.headers, result.body[:8192]):
                reason, msg = "bot_wall", f"blocked by a bot wall ({e})"
            else:
                msg = str(e)
            return self._failed(src, state, reason, msg)
        except Exception as e:  # a parser bug must not take the loop down
            return self._failed(src, state, "parse_error", f"{type(e).__name__}: {e}")

        fresh = [s for s in stories if not answered.get(s.key, False)]
        canonical = {s.key: story_url(s) for s in fresh}
        if first:
            # A baseline matches nothing, so whether another source stored
            # these URLs changes nothing, and this source has stored nothing
            keys: set[str] = set()
            urls: set[str] = set()
        else:
            keys, urls = self.store.known_stories(
                src.name, [s.key for s in fresh if s.key not in answered], list(canonical.values())
            )
            keys |= {k for k, stored in answered.items() if stored}
        sorted_ = plan.triage(
            state, stories, plan.Known(frozenset(keys), frozenset(urls), canonical)
        )
        full = self._full_texts(src, sorted_.to_match) if src.full_text else {}
        vectors = self._embed(sorted_.to_match)
        checked = [
            self._check_one(src, full.get(story.key, story), now, vec)
            for story, vec in zip(sorted_.to_match, vectors, strict=True)
        ]
        pairs = [
            (m.rule_id, fingerprint(c.story))
            for c in checked
            if c.original is None
            for m in c.matches
        ]
        delivery = self.config.delivery
        routing = plan.Routing(
            self.dests,
            dict(self.config.channels),
            delivery.quiet,
            delivery.max_alerts_per_poll,
            self.config.http.public_url,
        )
        poll = plan.plan_poll(
            src.name,
            sorted_,
            checked,
            self.router.noise(pairs, now) if pairs else plan.Noise(),
            routing,
            now,
        )
        for note in poll.notes:
            log.event(note.event, **dict(note.fields))
        baseline, new, matched = poll.baseline, sorted_.new, poll.matched
        write = functools.partial(
            self._record_poll,
            src.name,
            list(poll.stories),
            etag=result.etag,
            last_modified=result.last_modified,
            next_check_at=next_at,
            now=now,
            body_hash=body_hash,
            status=result.status,
            lease=self.leases.get(src.name),
        )
        queued = write(grouped=True)
        if src.full_text:  # the poll is written: its pages need not be remembered
            self.store.drop_meta_under(f"article:{src.name}:")
        outcome = PollOutcome(src.name, True, len(new), baseline, matched, queued)
        polled: dict[str, object] = {
            "source": src.name,
            "status": result.status,
            "stories": len(stories),
            "new": len(new),
            "baseline": str(baseline).lower(),
            "matched": matched,
            "queued": queued,
        }

        def committed() -> None:
            # the alerts' quiet periods start once they are stored for good
            self.router.remember(poll.routed, now)
            log.event("source.polled", "info", **polled)
            self.source_health.success(src, state, now, new=len(new))

        if self.writes is not None and self.writes.open:  # committed with its group
            self.writes.add(Written(src, write, committed, outcome))
        else:
            committed()
        return outcome

    def _check_one(self, src: SourceConfig, story: Story, now: float, vector=None) -> plan.Checked:
        """_check, for one story whose handling may meet a bug: such a story
        is stored unmatched and named in the log; its neighbours go on."""
        try:
            return self._check(src, story, now, vector)
        except (LeaseLost, StoreUnavailable):
            raise
        except Exception as e:
            log.event(
                "story.failed",
                level="error",
                source=src.name,
                story=story.title[:120],
                error=_one_line(e),
                note="stored without matching",
            )
            return plan.Checked(story)

    def _record_poll(self, source: str, planned: list, *, grouped: bool = False, **kw) -> int:
        """Store.record_poll; when the whole poll cannot be written (a value
        the database refuses), each story is written on its own so one
        story cannot keep the others, or the source, from the store.
        `grouped`: in the cycle's open group (pollgroup.WriteGroup), which
        this opens if need be; each write is then a savepoint of it."""
        if grouped and self.writes is not None:
            self.writes.begin()
        try:
            return self.store.record_poll(source, planned, **kw)
        except (LeaseLost, StoreUnavailable):
            raise
        except Exception as e:
            log.event("poll.write_failed", level="error", source=source, error=_one_line(e))
        queued, wrote = 0, False
        for p in planned:
            try:
                queued += self.store.record_poll(source, [p], **kw)
                wrote = True
            except (LeaseLost, StoreUnavailable):
                raise
            except Exception as e:
                log.event(
                    "story.dropped",
                    level="error",
                    source=source,
                    story=p.story.title[:120],
                    error=_one_line(e),
                )
        if not wrote:  # the source's own state is written all the same
            self.store.record_poll(source, [], **kw)
        return queued

    def _full_texts(self, src: SourceConfig, stories: tuple[Story, ...]) -> dict[str, Story]:
        """The article text of new stories (never the backlog), on the pool
        within the poll's budget; each page done is kept in the state until
        the poll is written, so a poll cut short does not fetch it again."""
        if not stories:
            return {}
        prefix = f"article:{src.name}:"

        def fetch_one(story: Story, seconds: float) -> Story:
            return with_full_text(
                story,
                self.fetcher,
                self.robots,
                self.pacer,
                proxy=src.proxy,
                headers=src.headers if same_origin(story.link, src.url) else None,
                deadline=seconds,
            )

        return full_texts(
            stories,
            fetch_one,
            self.pool,
            self.config.fetch.full_text_budget,
            self.store.meta_under(prefix),
            lambda key, text: self.store.set_meta(prefix + key, text),
        )

    def _embed(self, stories) -> list:
        """Each story's embedding, in one batch, when an enabled rule has a
        semantic condition; otherwise nothing is computed (None each)."""
        if not stories or not self.rules.needs_vector:
            return [None] * len(stories)
        from .semantic.encoder import embed
        from .semantic.encoder import story_text as semantic_text

        return list(
            embed([semantic_text({"title": s.title, "summary": s.summary}) for s in stories])
        )

    def _check(self, src: SourceConfig, story: Story, now: float, vector=None) -> plan.Checked:
        """The I/O a story to match needs before the plan decides: its
        matches, and for a matched story its signature and the stored story
        it nearly duplicates (its full text was fetched before, when the
        source asks for it). `vector` (the story's embedding, when a
        semantic rule is enabled) is stored with the story, matched or not,
        so replay reuses it."""
        matches = self.rules.match(
            story, self.config.delivery.snippet_chars, source_tags=src.tags, vector=vector
        )
        kept = None
        if vector is not None:
            from .semantic.encoder import encoder_id, to_bytes

            kept = (encoder_id(), to_bytes(vector))
        if not matches:
            return plan.Checked(story, vector=kept)
        sig = signature(story_text(story))
        original = self.store.find_near_duplicate(sig, now - DEDUPE_WINDOW, story) if sig else None
        if original is None and search_of(src) is not None:
            # a search result often carries its headline alone, too little
            # text for the signature: the same headline matched from another
            # source is that story again
            original = self.store.same_title_elsewhere(
                src.name, [m.rule_id for m in matches], fingerprint(story), now - DEDUPE_WINDOW
            )
        return plan.Checked(story, tuple(matches), sig, original, vector=kept)

    def failed_fetch(
        self, src: SourceConfig, state: SourceState | None, e: FetchError, *, count: bool = True
    ) -> PollOutcome:
        reason, message = name_search_error(src, e) or name_fetch_error(e)
        return self._failed(
            src,
            state,
            reason,
            message,
            hint=server_hint(e, self.clock()),
            status=e.status,
            count=count,
        )

    def _failed(
        self,
        src: SourceConfig,
        state,
        reason: str,
        error: str,
        *,
        hint: float | None = None,
        status: int | None = None,
        count: bool = True,
    ) -> PollOutcome:
        now = self.clock()
        failures = (state.failures if state else 0) + (1 if count else 0)
        if reason == "cancelled":
            delay = 0.0  # stopping, not the source's fault: poll it first next time
        elif not count:
            delay = next_interval(src.name, src.interval, self.config.fetch)
        else:
            delay = backoff_interval(src.name, src.interval, failures, self.config.fetch, hint)
        self.store.record_failure(
            src.name,
            reason,
            error,
            now + delay,
            now,
            count=count,
            status=status,
            lease=self.leases.get(src.name),
        )
        log.event(
            "source.failed",
            level="warning",
            source=src.name,
            reason=reason,
            error=error,
            # while the network is down a failure is not held against the source
            failures=failures if count else None,
            counted=None if count else "no: the network was down",
            retry_in=f"{delay:.0f}s",
        )
        if count and reason != "cancelled":
            self.source_health.failure(src, state, reason, error, failures, now)
        return PollOutcome(src.name, False, reason=reason, error=error)

    # -- cycles ---------------------------------------------------------
