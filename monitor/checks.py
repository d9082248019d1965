"""What the service and hot reload both need, so neither imports the
other: the checks a config and its rules pass before they run, and the part
of the monitor a reload drives (`Reloadable`)."""

from __future__ import annotations

from typing import Protocol

from . import log
from .alerts.deliver import is_valid_url, mask_url
from .config import Config, SourceConfig
from .engine import RuleSet, load_rules
from .yamlfile import FileError


class Reloadable(Protocol):
    """The monitor as hot reload sees it (monitor.service.Monitor)."""

    config: Config
    dests: dict[str, list[str]]

    @property
    def sources(self) -> list[SourceConfig]: ...

    def apply(self, config: Config, ruleset: RuleSet) -> None: ...

    def record_reload(self, ok: bool, errors: list[str]) -> None: ...


def load_checked_rules(config: Config) -> tuple[RuleSet, list[FileError]]:
    """The rules named by the config, plus every problem found in them or in
    how they refer to the config (unknown channels, invalid Apprise URLs)."""
    ruleset, problems = load_rules(config.rule_paths)
    problems = list(problems)
    known = set(config.channels)
    for rule in ruleset.rules:
        for ch in rule.channels:
            if ch not in known:
                hint = (
                    f"; configured channels: {', '.join(sorted(known))}"
                    if known
                    else "; no channels are configured"
                )
                problems.append(
                    FileError(
                        rule.path, rule.line, None, f"rule {rule.id}: unknown channel '{ch}'{hint}"
                    )
                )
    for i, ch in enumerate(config.health.channels):
        if ch not in known:
            problems.append(
                FileError(
                    config.path or "config",
                    None,
                    None,
                    f"health.channels.{i}: unknown channel '{ch}'",
                )
            )
    for name, channel in config.channels.items():
        for i, url in enumerate(channel.urls):
            if not is_valid_url(url):
                scheme = url.split("://", 1)[0] if "://" in url else url[:12]
                problems.append(
                    FileError(
                        config.path or "config",
                        None,
                        None,
                        f"channels.{name}.urls.{i}: not a valid Apprise URL (scheme '{scheme}')",
                    )
                )
    from .sources.search import queries_for

    for i, src in enumerate(config.sources):
        if src.enabled and src.queries is not None and not queries_for(src, ruleset.rules):
            problems.append(
                FileError(
                    config.path or "config",
                    None,
                    None,
                    f"sources.{i} ({src.name}): 'queries: from_rules' but no enabled rule has "
                    "'discover: true' with a term to search for, so it searches nothing",
                )
            )
    return ruleset, problems


def register_secrets(config: Config) -> None:
    """Make the log mask this config's secrets: values it took from the
    environment, and every Apprise URL (printed in its masked form)."""
    for value in config.secrets:
        log.add_secret(value)
    for channel in config.channels.values():
        for url in channel.urls:
            log.add_secret(url, mask_url(url))


def hide_moved_secret(configured: str, moved: str) -> None:
    """A source whose configured URL is a secret (url: ${FEED_URL}) keeps
    it secret where it moved to: the new address is printed as its scheme
    and host only."""
    if log.mask(configured) == configured or log.mask(moved) != moved:
        return
    from urllib.parse import urlsplit

    parts = urlsplit(moved)
    log.add_secret(moved, f"{parts.scheme}://{parts.hostname or ''}/***")


def register_moved_secrets(config: Config, rows: list) -> None:
    """hide_moved_secret for the moved sources the state remembers."""
    urls = {s.name: s.url for s in config.sources}
    for r in rows:
        if r["name"] in urls and r["permanent_url"]:
            hide_moved_secret(urls[r["name"]], r["permanent_url"])
