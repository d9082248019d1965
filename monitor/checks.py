"""What the service and hot reload both need, so neither imports the
other: the checks a config and its rules pass before they run, and the part
of the monitor a reload drives (`Reloadable`)."""

from __future__ import annotations

import difflib
from typing import Protocol

import yaml

from . import log
from .alerts.deliver import is_valid_url, mask_url
from .config import Config, SourceConfig
from .engine import RuleSet, load_rules
from .yamlfile import FileError, YamlDoc, did_you_mean, load_yaml


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
    expected = (
        f"expected one of {', '.join(sorted(known))}" if known else "no channels are configured"
    )
    docs = _Docs()
    for rule in ruleset.rules:
        for ch in rule.channels:
            if ch not in known:
                line, col = docs.rule_channel(rule.path, rule.line, ch)
                problems.append(
                    FileError(
                        rule.path,
                        line,
                        col,
                        f"rule {rule.id}: unknown channel '{ch}'; {expected}"
                        f"{did_you_mean(ch, known)}",
                    )
                )
    where = config.path or "config"
    for i, ch in enumerate(config.health.channels):
        if ch not in known:
            problems.append(
                docs.config_error(
                    where,
                    ("health", "channels", i),
                    f"health.channels: unknown channel '{ch}'; {expected}{did_you_mean(ch, known)}",
                )
            )
    for name, channel in config.channels.items():
        for i, url in enumerate(channel.urls):
            if not is_valid_url(url):
                problems.append(
                    docs.config_error(where, ("channels", name, "urls", i), url_problem(url))
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


def url_problem(url: str) -> str:
    """Why an Apprise URL is refused, and what would be taken instead."""
    if "://" not in url:
        return "this value is not an Apprise URL; expected scheme://..., e.g. slack://, mailtos://, json://"
    scheme = url.split("://", 1)[0]
    schemes = apprise_schemes()
    if scheme.lower() not in schemes:
        close = difflib.get_close_matches(scheme.lower(), sorted(schemes), n=1, cutoff=0.75)
        hint = f" (did you mean '{close[0]}://'?)" if close else ""
        return (
            f"unknown Apprise scheme '{scheme}://'; expected a service Apprise knows, "
            f"e.g. slack://, mailtos://, json://{hint}"
        )
    return (
        f"not a valid Apprise URL for '{scheme}://': its parts do not fit that service; "
        "expected the form its Apprise page gives"
    )


def apprise_schemes() -> set[str]:
    import apprise

    out: set[str] = set()
    for entry in apprise.Apprise().details().get("schemas", []):
        for key in ("protocols", "secure_protocols"):
            value = entry.get(key) or ()
            out.update([value] if isinstance(value, str) else value)
    return {s.lower() for s in out}


class _Docs:
    """Positions for problems found after loading: the config's and rule
    files' YAML read again (only when there is a problem to place)."""

    def __init__(self) -> None:
        self._cache: dict[str, YamlDoc | None] = {}

    def doc(self, path) -> YamlDoc | None:
        key = str(path)
        if key not in self._cache:
            try:
                self._cache[key] = load_yaml(path)
            except (FileError, OSError):
                self._cache[key] = None
        return self._cache[key]

    def config_error(self, path, loc: tuple, message: str) -> FileError:
        doc = self.doc(path) if path != "config" else None
        if doc is None:
            return FileError(path, None, None, message)
        # the value itself, not its key
        node = doc.node_at(loc)
        return FileError(
            path,
            node.start_mark.line + 1 if node is not None else None,
            node.start_mark.column + 1 if node is not None else None,
            message,
        )

    def rule_channel(self, path, line: int | None, channel: str) -> tuple[int | None, int | None]:
        """line:col of `channel` in the rule starting at `line`."""
        doc = self.doc(path)
        if doc is None or line is None or not isinstance(doc.data, dict):
            return line, None
        items = doc.root.value if isinstance(doc.root, yaml.MappingNode) else []
        seq = next((v for k, v in items if getattr(k, "value", None) == "rules"), None)
        for node in getattr(seq, "value", []):
            if not isinstance(node, yaml.MappingNode) or node.start_mark.line + 1 != line:
                continue
            for found in _scalars(node, channel):
                return found.start_mark.line + 1, found.start_mark.column + 1
        return line, None


def _scalars(node, value: str):
    """Scalar nodes equal to `value` under the `channels` keys of a rule
    (its own, or under replace/add)."""
    for key, val in getattr(node, "value", []):
        name = getattr(key, "value", None)
        if name == "channels" and isinstance(val, yaml.SequenceNode):
            yield from (v for v in val.value if getattr(v, "value", None) == value)
        elif name in ("replace", "add") and isinstance(val, yaml.MappingNode):
            yield from _scalars(val, value)


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
