"""`monitor replay`: the rules over stored stories, to try them on real
text before they alert anyone. Sends nothing unless --send."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING

from monitor.cli.common import _rules_arg
from monitor.config import parse_duration
from monitor.identity import canonical_url
from monitor.yamlfile import shown

if TYPE_CHECKING:
    from monitor.alerts.outbox import DeliveryStats


def cmd_replay(args) -> int:
    """Stored stories of the last --since, through the rules; prints what
    would have matched. Sends nothing unless --send: then the matches go
    through the normal routing and outbox, and a destination that already
    received a story is not sent it again."""
    from monitor.config import load_config_or_exit
    from monitor.engine import load_rules
    from monitor.store import Store, state_exists

    try:
        since = parse_duration(args.since)
    except ValueError as e:
        print(f"error: --since: {e}", file=sys.stderr)
        return 2
    config = load_config_or_exit(args.config)
    paths = _rules_arg(args) if args.rules else config.rule_paths
    ruleset, problems = load_rules(paths)
    for p in problems:
        print(shown(p), file=sys.stderr)
    if not state_exists(config.state):
        print(f"no state yet at {config.state}: nothing to replay", file=sys.stderr)
        return 1
    tags = {s.name: tuple(getattr(s, "tags", ()) or ()) for s in config.sources}
    store = Store(config.state)
    sender = _ReplaySender(config, store) if args.send else None
    stories = matched = copies = 0
    per_rule: dict[str, int] = {}
    try:
        start = time.time() - since
        copy_of = store.copies_since(start)
        found = list(store.stories_since(start))
        vectors = _vectors(ruleset, store, found, start)
        for story in found:
            stories += 1
            matches = ruleset.match(
                story,
                config.delivery.snippet_chars,
                source_tags=tags.get(story.source, ()),
                vector=vectors.get((story.source, story.key)),
            )
            if not matches:
                continue
            matched += 1
            for m in matches:
                per_rule[m.rule_id] = per_rule.get(m.rule_id, 0) + 1
            original = copy_of.get((story.source, story.key))
            copies += original is not None
            if sender is not None and original is None:  # a copy rides on its original's alert
                sender.queue(story, matches)
            when = story.published.strftime("%Y-%m-%d") if story.published else "unknown   "
            link = canonical_url(story.link) or story.link  # tracking parameters off, as alerts
            if args.json:
                print(
                    json.dumps(
                        {
                            "source": story.source,
                            "title": story.title,
                            "link": link,
                            "published": story.published.isoformat() if story.published else None,
                            "matches": [
                                {"rule": m.rule_id, "terms": list(m.terms), "snippet": m.snippet}
                                for m in matches
                            ],
                            "copy_of": (
                                {"source": original[0], "title": original[1]} if original else None
                            ),
                        },
                        ensure_ascii=False,
                    )
                )
            else:
                print(f"{when}  {story.source:<16} {story.title[:100]}")
                for m in matches:
                    print(f"    {m.rule_id} [{m.severity}]: {', '.join(m.terms)}")
                if original:
                    print(f"    copy of {original[0]}: {original[1][:90]} (reported on its alert)")
        if sender is not None:
            sender.deliver()
    finally:
        store.close()
    summary = f"{stories} stored stories since {args.since}, {matched} would have matched"
    if copies:
        summary += f" ({copies} of them copies of another outlet's story)"
    if sender is not None:
        stats = sender.stats
        assert stats is not None  # deliver() ran
        summary += f"; {sender.queued} deliveries queued, {stats.sent} sent, {stats.failed} failed"
    if per_rule:
        summary += ": " + ", ".join(
            f"{r} {n}" for r, n in sorted(per_rule.items(), key=lambda x: -x[1])
        )
    print(summary, file=sys.stderr if args.json else sys.stdout)
    return 1 if problems else 0


def _vectors(ruleset, store, stories, since: float) -> dict:
    """With a semantic rule enabled: each story's stored embedding, and for
    stories stored without one (before such a rule was enabled) one made
    now, in a batch, and kept, so the next replay reads it."""
    if not ruleset.needs_vector or not stories:
        return {}
    from monitor.semantic import encoder

    enc = encoder.encoder_id()
    stored = store.vectors_since(since, enc)
    missing = [s for s in stories if (s.source, s.key) not in stored]
    if missing:
        made = encoder.embed(
            [encoder.story_text({"title": s.title, "summary": s.summary}) for s in missing]
        )
        fresh = {(s.source, s.key): encoder.to_bytes(v) for s, v in zip(missing, made)}
        store.save_vectors(fresh, enc)
        stored.update(fresh)
    return {k: encoder.from_bytes(v) for k, v in stored.items()}


class _ReplaySender:
    """What `replay --send` does with a match: the service's own routing
    (channels, silences, quiet period) and outbox."""

    def __init__(self, config, store):
        from monitor.alerts.route import Router, destinations

        self.config, self.store = config, store
        self.dests = destinations(
            {name: list(c.urls) for name, c in config.channels.items()},
            len(config.disabled_channels),
        )
        self.router = Router(
            self.dests, dict(config.channels), config.delivery, store, config.http.public_url
        )
        self.queued = 0
        self.stats: DeliveryStats | None = None

    def queue(self, story, matches) -> None:
        from monitor.store import Planned

        now = time.time()
        fp, deliveries = self.router.plan(story, matches, now)
        self.queued += self.store.record_replay(
            story, Planned(story, tuple(matches), tuple(deliveries), fp), now
        )

    def deliver(self) -> None:
        from monitor.alerts.outbox import deliver_due

        self.stats = deliver_due(
            self.store, self.dests, self.config.delivery, configs=dict(self.config.channels)
        )
