"""`monitor rules explain` and `monitor replay`: trying rules on real text
before they alert anyone. Nothing here sends an alert."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from .config import parse_duration

FIELD_NAMES = ("title", "summary", "body", "url", "source")


def item_from_file(path: str) -> dict[str, str]:
    """A JSON object with title/summary/body/url/source, or plain text: its
    first line is the title, the rest the body."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("{"):
        data = json.loads(stripped)
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        item = {k: str(data.get(k) or "") for k in FIELD_NAMES}
        if data.get("lang"):
            item["lang"] = str(data["lang"])
        return item
    title, _, body = stripped.partition("\n")
    return {"title": title.strip(), "body": body.strip()}


def item_from_url(url: str, settings=None) -> dict[str, str]:
    """A page fetched through the monitor's one HTTP door, read as a story:
    its headline, description and paragraphs."""
    from bs4 import BeautifulSoup

    from .config import FetchSettings
    from .fetch import Fetcher
    from .textdecode import decode_html

    with Fetcher(settings or FetchSettings()) as fetcher:
        result = fetcher.get(url)
    soup = BeautifulSoup(decode_html(result.body, result.content_type), "html.parser")

    def meta(*names: str) -> str:
        for name in names:
            tag = soup.find("meta", attrs={"property": name}) or soup.find(
                "meta", attrs={"name": name}
            )
            if tag and tag.get("content"):
                return str(tag["content"]).strip()
        return ""

    h1 = soup.find("h1")
    title = (
        meta("og:title")
        or (h1.get_text(" ", strip=True) if h1 else "")
        or (soup.title.get_text(" ", strip=True) if soup.title else "")
    )
    body = "\n".join(p.get_text(" ", strip=True) for p in soup.find_all("p"))
    lang = (soup.html.get("lang") if soup.html else None) or ""
    item = {
        "title": title,
        "summary": meta("og:description", "description"),
        "body": body,
        "url": result.url,
    }
    if lang:
        item["lang"] = str(lang)
    return item


def cmd_rules_explain(args, rules_arg) -> int:
    from .engine import Context, load_rules

    ruleset, problems = load_rules(rules_arg(args))
    for p in problems:
        print(p, file=sys.stderr)
    if ruleset.get(args.rule_id) is None:
        from .yamlfile import did_you_mean

        print(
            f"error: no rule '{args.rule_id}'{did_you_mean(args.rule_id, [r.id for r in ruleset.rules])}",
            file=sys.stderr,
        )
        return 2
    try:
        if args.text is not None:
            item = {"title": args.text}
        elif args.file is not None:
            item = item_from_file(args.file)
        else:
            item = item_from_url(args.url)
    except (OSError, ValueError) as e:
        print(f"error: cannot read the story: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a FetchError names the reason (dns, timeout, http...)
        print(f"error: cannot fetch {args.url}: {e}", file=sys.stderr)
        return 2
    if args.source:
        item["source"] = args.source
    context = Context(
        source=item.get("source") or None,
        lang=args.lang or item.pop("lang", None),
        source_tags=frozenset(args.source_tag or ()),
    )
    item.pop("lang", None)
    explanation = ruleset.explain(args.rule_id, item, context)
    print(explanation.render(args.snippet_chars))
    return 0 if explanation.matched else 1


def cmd_replay(args, rules_arg) -> int:
    """Stored stories of the last --since, through the rules; prints what
    would have matched. Sends nothing unless --send: then the matches go
    through the normal routing and outbox, and a destination that already
    received a story is not sent it again."""
    from .config import load_config_or_exit
    from .engine import load_rules
    from .store import Store, state_exists

    try:
        since = parse_duration(args.since)
    except ValueError as e:
        print(f"error: --since: {e}", file=sys.stderr)
        return 2
    config = load_config_or_exit(args.config)
    paths = rules_arg(args) if args.rules else config.rule_paths
    ruleset, problems = load_rules(paths)
    for p in problems:
        print(p, file=sys.stderr)
    if not state_exists(config.state):
        print(f"no state yet at {config.state}: nothing to replay", file=sys.stderr)
        return 1
    tags = {s.name: tuple(getattr(s, "tags", ()) or ()) for s in config.sources}
    store = Store(config.state)
    sender = _ReplaySender(config, store) if args.send else None
    stories = matched = 0
    per_rule: dict[str, int] = {}
    try:
        for story in store.stories_since(time.time() - since):
            stories += 1
            matches = ruleset.match(
                story, config.delivery.snippet_chars, source_tags=tags.get(story.source, ())
            )
            if not matches:
                continue
            matched += 1
            for m in matches:
                per_rule[m.rule_id] = per_rule.get(m.rule_id, 0) + 1
            if sender is not None:
                sender.queue(story, matches)
            when = story.published.strftime("%Y-%m-%d") if story.published else "----------"
            if args.json:
                print(
                    json.dumps(
                        {
                            "source": story.source,
                            "title": story.title,
                            "link": story.link,
                            "published": story.published.isoformat() if story.published else None,
                            "matches": [
                                {"rule": m.rule_id, "terms": list(m.terms), "snippet": m.snippet}
                                for m in matches
                            ],
                        },
                        ensure_ascii=False,
                    )
                )
            else:
                print(f"{when}  {story.source:<16} {story.title[:100]}")
                for m in matches:
                    print(f"    {m.rule_id} [{m.severity}]: {', '.join(m.terms)}")
        if sender is not None:
            sender.deliver()
    finally:
        store.close()
    summary = f"{stories} stored stories since {args.since}, {matched} would have matched"
    if sender is not None:
        summary += f"; {sender.queued} deliveries queued, {sender.stats.sent} sent, {sender.stats.failed} failed"
    if per_rule:
        summary += ": " + ", ".join(
            f"{r} {n}" for r, n in sorted(per_rule.items(), key=lambda x: -x[1])
        )
    print(summary, file=sys.stderr if args.json else sys.stdout)
    return 1 if problems else 0


class _ReplaySender:
    """What `replay --send` does with a match: the service's own routing
    (channels, silences, quiet period) and outbox."""

    def __init__(self, config, store):
        from .alerts.route import Router, destinations

        self.config, self.store = config, store
        self.dests = destinations({name: list(c.urls) for name, c in config.channels.items()})
        self.router = Router(self.dests, dict(config.channels), config.delivery, store)
        self.queued = 0
        self.stats = None

    def queue(self, story, matches) -> None:
        from .store import Planned

        now = time.time()
        fp, deliveries = self.router.plan(story, matches, now)
        self.queued += self.store.record_replay(
            story, Planned(story, tuple(matches), tuple(deliveries), fp), now
        )

    def deliver(self) -> None:
        from .alerts.outbox import deliver_due

        self.stats = deliver_due(
            self.store, self.dests, self.config.delivery, configs=dict(self.config.channels)
        )


def add_parsers(sub, rules_sub, with_config, rules_arg) -> None:
    e = rules_sub.add_parser("explain", help="show how one rule decides on one story")
    e.add_argument("rule_id")
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--url", help="fetch a page and read it as a story")
    src.add_argument(
        "--file",
        help="a JSON object {title, summary, body, ...} or a text file (first line = title); - for stdin",
    )
    src.add_argument("--text", help="a headline")
    e.add_argument("--rules", action="append", help="rules directory or file (repeatable)")
    e.add_argument("--lang", help="the story's language, for rules with a languages filter")
    e.add_argument("--source", help="the source name, for rules with a sources filter")
    e.add_argument("--source-tag", action="append", help="a tag of the source (repeatable)")
    e.add_argument("--snippet-chars", type=int, default=240)
    e.set_defaults(func=lambda a: cmd_rules_explain(a, rules_arg))

    r = with_config(
        sub.add_parser(
            "replay", help="run the rules over stored stories; sends nothing unless --send"
        )
    )
    r.add_argument("--since", default="30d", help="how far back: 30d, 12h, 90m (default 30d)")
    r.add_argument(
        "--rules", action="append", help="rules directory or file (default: the config's rules)"
    )
    r.add_argument("--json", action="store_true", help="one JSON object per matched story")
    r.add_argument(
        "--send",
        action="store_true",
        help="also alert the matches through the channels (never twice to a destination)",
    )
    r.set_defaults(func=lambda a: cmd_replay(a, rules_arg))
