"""The first hour: `monitor init` writes a config that works with no
account, and `monitor notify` sends a test alert to see a channel work.

The starter config prints alerts on the console, polls the public feeds
that config.example.yaml lists, and reads a copy of the shipped rules to
edit. `notify` goes through the same rendering and Apprise path as a live
alert, without a feed or the state file."""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

STARTER_CONFIG = """\
# Starter configuration written by `monitor init`. It needs no account:
# alerts are printed on the console. Add a channel with your own Apprise
# URL (https://appriseit.com/services/) when you want them elsewhere, e.g.
#   slack:
#     urls: ["${SLACK_WEBHOOK_URL}"]     # export SLACK_WEBHOOK_URL=https://hooks.slack.com/...
# and try it with `monitor notify --config config.yaml --channel slack`.
# config.example.yaml in the project documents every key.

state: ./data/monitor.db     # created on the first run
rules: ./rules               # your copy of the shipped rules: edit, add, remove

channels:
  console:
    urls: []                 # no URL: alerts are printed on standard output
    default: true

sources:
  - name: biometric-update
    kind: rss
    url: https://www.biometricupdate.com/feed
    interval: 15m
  - name: eff-updates
    kind: rss
    url: https://www.eff.org/rss/updates.xml
    interval: 30m
  - name: the-record
    kind: rss
    url: https://therecord.media/feed
    interval: 15m
  - name: databreaches-net
    kind: rss
    url: https://databreaches.net/feed/
    interval: 30m
  - name: krebs-on-security
    kind: rss
    url: https://krebsonsecurity.com/feed/
    interval: 1h
  - name: solidot
    kind: rss
    url: https://www.solidot.org/index.rss
    interval: 30m
    lang: zh
  - name: freebuf
    kind: rss
    url: https://www.freebuf.com/feed
    interval: 30m
    lang: zh

fetch:
  contact: https://example.org/contact   # put yours: site owners see it in the User-Agent
"""


def write_starter(folder: Path, rules_from: Path, out: TextIO) -> int:
    """config.yaml and rules/ in `folder`; refuses (exit 1) when either is
    there already, and then writes nothing."""
    config, rules = folder / "config.yaml", folder / "rules"
    taken = [p for p in (config, rules) if p.exists()]
    if taken:
        names = " and ".join(str(p) for p in taken)
        print(
            f"error: {names} already {'exists' if len(taken) == 1 else 'exist'}; "
            "init writes only new files (move them away or name another folder)",
            file=sys.stderr,
        )
        return 1
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(
        rules_from,
        rules,
        ignore=lambda d, names: [
            n
            for n in names
            if not (Path(d, n).is_dir() or n.endswith((".yaml", ".yml"))) or n == "__pycache__"
        ],
    )
    config.write_text(STARTER_CONFIG, encoding="utf-8")
    n_rules = len(list(rules.rglob("*.y*ml")))
    shown = config if folder != Path(".") else Path("config.yaml")
    print(
        f"wrote {shown} (a console channel, 7 sources) and {rules}/ ({n_rules} rule files)",
        file=out,
    )
    print("next:", file=out)
    print(f"  monitor check --config {shown}   # validate the config and the rules", file=out)
    print(
        f"  monitor once  --config {shown}   # poll every source once (the first poll alerts nothing)",
        file=out,
    )
    print(f"  monitor run   --config {shown}   # keep polling; alerts appear here", file=out)
    return 0


@dataclass(frozen=True)
class NotifyResult:
    channel: str
    destination: str  # masked, as logs show it
    ok: bool
    error: str | None


def sample_alert():
    """A story and match that say what they are, for `monitor notify`."""
    from .models import Alert, Match, Story

    now = datetime.now(UTC).replace(microsecond=0)
    story = Story(
        source="monitor notify",
        key=f"test:{int(time.time())}",
        title="Test alert: the monitor can reach this channel",
        link="https://example.org/privacy-monitor/test-alert",
        summary="This is a test alert sent by `monitor notify`. No story was matched.",
        published=now,
    )
    match = Match(
        rule_id="notify-test",
        rule_title="Test alert",
        severity="info",
        tags=("test",),
        channels=(),
        terms=("test alert",),
        snippet="This is a test alert sent by `monitor notify`; when you read it, "
        "alerts of the rules routed to this channel will arrive the same way.",
    )
    return lambda channel: Alert(channel, story, (match,))


def notify(config, channels: list[str], out: TextIO) -> list[NotifyResult]:
    """Send the test alert to every destination of these channels, each
    rendered for its service as a live alert is; one line per destination."""
    from .alerts.deliver import kind_of_url, mask_url, send, size_limit
    from .alerts.formats import render
    from .alerts.outbox import _template
    from .alerts.route import destinations

    dests = destinations({n: list(c.urls) for n, c in config.channels.items()})
    alert_for = sample_alert()
    results = []
    for name in channels:
        for url in dests[name]:
            msg = render(
                alert_for(name),
                kind_of_url(url),
                _template(dict(config.channels), name),
                size_limit(url),
            )
            got = send(url, msg.title, msg.body, out=out, body_format=msg.format)
            results.append(NotifyResult(name, mask_url(url), got.ok, got.error))
    return results
