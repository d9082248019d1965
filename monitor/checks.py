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
    known = set(config.channels) | set(config.disabled_channels)
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
    return ruleset, problems


def register_secrets(config: Config) -> None:
    """Make the log mask this config's secrets: values it took from the
    environment, and every Apprise URL (printed in its masked form)."""
    for value in config.secrets:
        log.add_secret(value)
    for channel in config.channels.values():
        for url in channel.urls:
            log.add_secret(url, mask_url(url))
