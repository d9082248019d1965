"""config.yaml: pydantic models, ${VAR} interpolation, errors as file:line."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator

from .configbase import Strict as _Strict
from .configbase import parse_duration as parse_duration
from .interpolate import hide_secrets, interpolate

# re-exported: these moved beside the source kinds
from .sources.config import SourceConfig as SourceConfig
from .sources.options import JsonPaths as JsonPaths
from .sources.options import Select as Select
from .yamlfile import FileError, YamlDoc, load_yaml, shown, validation_errors

SEVERITIES = ("info", "low", "medium", "high", "critical")


class TemplateConfig(_Strict):
    """An operator's message layout: `{field}` placeholders (see
    alerts/formats.py TEMPLATE_FIELDS) filled with escaped story values."""

    title: str | None = None
    body: str | None = None

    @field_validator("title", "body")
    @classmethod
    def _valid(cls, v: str | None) -> str | None:
        from .alerts.formats import check_template

        if v is not None:
            check_template(v)
        return v


class ChannelConfig(_Strict):
    urls: list[str] = Field(default_factory=list)  # Apprise URLs; empty prints to stdout
    default: bool = False  # receives the rules that name no channel
    severities: list[str] | None = None  # only matches of these severities
    tags: list[str] | None = None  # only matches of rules with one of these tags
    burst: float | None = None  # fold matches arriving within this window into one message
    digest: str | None = None  # hourly | daily | a cron expression (UTC)
    digest_bypass: str | None = None  # this severity and above skip the digest
    template: TemplateConfig | None = None

    @field_validator("burst", mode="before")
    @classmethod
    def _burst(cls, v: Any) -> float | None:
        return None if v is None else parse_duration(v)

    @field_validator("severities")
    @classmethod
    def _severities(cls, v: list[str] | None) -> list[str] | None:
        for sev in v or ():
            if sev not in SEVERITIES:
                raise ValueError(
                    f"unknown severity '{sev}' (expected one of {', '.join(SEVERITIES)})"
                )
        return v

    @field_validator("digest_bypass")
    @classmethod
    def _bypass(cls, v: str | None) -> str | None:
        if v is not None and v not in SEVERITIES:
            raise ValueError(f"unknown severity '{v}' (expected one of {', '.join(SEVERITIES)})")
        return v

    @field_validator("digest")
    @classmethod
    def _digest(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from .alerts.digest import schedule_of

        schedule_of(v)  # raises ValueError naming what is wrong
        return v

    @model_validator(mode="after")
    def _one_fold(self) -> ChannelConfig:
        if self.burst is not None and self.digest is not None:
            raise ValueError("a channel takes either 'burst' or 'digest', not both")
        if self.digest_bypass is not None and self.digest is None:
            raise ValueError("'digest_bypass' needs 'digest'")
        return self


class FetchSettings(_Strict):
    user_agent: str | None = None  # default names the project and version
    contact: str | None = None  # a URL or e-mail appended to the User-Agent
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    deadline: float = 60.0  # whole fetch, including a slow trickle of bytes
    max_bytes: int = 10 * 1024 * 1024  # decompressed body cap
    workers: int = Field(default=8, ge=1, le=64)  # fetch threads
    per_host_concurrency: int = Field(default=2, ge=1)  # fetches in flight to one host
    per_host_delay: float = Field(default=1.0, ge=0)  # seconds between starting fetches to one host
    jitter: float = Field(
        default=0.1, ge=0, le=0.5
    )  # +- this fraction of each interval, stable per source
    max_interval: float = 6 * 3600.0  # cap on backoff and on intervals servers ask for
    # Links found in content (article pages) may reach loopback, private,
    # link-local and metadata addresses only when this is set ...
    # Full text: the most time a poll's article pages (and their robots.txt) take together
    full_text_budget: float = 120.0
    allow_private_links: bool = False
    # ... or when the address is inside one of these networks (CIDR).
    allow_networks: list[str] = Field(default_factory=list)

    @field_validator("allow_networks")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        import ipaddress

        for n in v:
            try:
                ipaddress.ip_network(n, strict=False)
            except ValueError:
                raise ValueError(
                    f"'{n}' is not a network (expected CIDR such as 10.20.0.0/16)"
                ) from None
        return v

    @field_validator("per_host_delay", "max_interval", mode="before")
    @classmethod
    def _delays(cls, v: Any) -> float:
        if v in (0, "0"):
            return 0.0
        return parse_duration(v)

    @field_validator(
        "connect_timeout", "read_timeout", "deadline", "full_text_budget", mode="before"
    )
    @classmethod
    def _durations(cls, v: Any) -> float:
        return parse_duration(v)


class DeliverySettings(_Strict):
    max_attempts: int = Field(default=10, ge=1)  # then the outbox row is dead
    retry_base: float = 30.0  # first retry after this; doubles up to retry_max
    retry_max: float = 3600.0
    snippet_chars: int = Field(default=240, ge=40)
    max_age: float = 2 * 86400.0  # an undelivered alert older than this is a dead letter
    quiet: float | None = None  # one alert per rule and story within this period
    # Stories one poll may alert on; the rest are stored and told of in one summary alert
    max_alerts_per_poll: int | None = Field(default=50, ge=1)

    @field_validator("retry_base", "retry_max", "max_age", mode="before")
    @classmethod
    def _durations(cls, v: Any) -> float:
        return parse_duration(v)

    @field_validator("quiet", mode="before")
    @classmethod
    def _quiet(cls, v: Any) -> float | None:
        return None if v is None else parse_duration(v)


def parse_listen(value: str) -> tuple[str, int]:
    """(host, port) from "127.0.0.1:9108", "[::1]:9108", "0.0.0.0:9108" or
    ":9108" (loopback)."""
    m = re.match(r"^\s*(?:\[([0-9A-Fa-f:.]+)\]|([^:\[\]\s]*)):(\d{1,5})\s*$", value)
    if not m or not 0 <= int(m.group(3)) < 65536:
        raise ValueError(
            f"'{value}' is not an address to listen on (expected host:port, e.g. 127.0.0.1:9108)"
        )
    host = m.group(1) or m.group(2) or "127.0.0.1"
    return host, int(m.group(3))


class HttpSettings(_Strict):
    """The health and metrics endpoint; off unless `listen` is set."""

    listen: str | None = None  # host:port; loopback unless a host is named; empty = off
    stale_after: float = 600.0  # /healthz fails when no cycle has ended for this long
    # The dashboard's pages beside the probes (off loopback they need
    # MONITOR_WEB_PASSWORD); false serves only /healthz, /readyz, /metrics.
    pages: bool = True
    # Where readers reach the pages (https://monitor.example.org): alerts then
    # link to the story's page, and the session cookie is Secure on https.
    public_url: str | None = None
    max_connections: int = Field(default=200, ge=1, le=10000)
    header_timeout: float = 10.0  # a request's headers must arrive within this
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        if not re.match(r"^https?://[^/\s]+", v.strip()):
            raise ValueError(
                f"'{v}' is not an http(s) URL (expected e.g. https://monitor.example.org)"
            )
        return v.strip().rstrip("/")

    @field_validator("header_timeout", mode="before")
    @classmethod
    def _header_timeout(cls, v: Any) -> float:
        return parse_duration(v)

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        parse_listen(v)
        return v.strip()

    @field_validator("stale_after", mode="before")
    @classmethod
    def _durations(cls, v: Any) -> float:
        return parse_duration(v)

    @property
    def address(self) -> tuple[str, int] | None:
        return parse_listen(self.listen) if self.listen else None


class LogSettings(_Strict):
    format: Literal["text", "json"] = "text"
    level: Literal["debug", "info", "warning", "error"] | None = (
        None  # default: --log-level, else info
    )


class ReloadSettings(_Strict):
    """Hot reload of rule files and the config's sources and channels."""

    watch: bool = True  # watch the files; SIGHUP reloads either way
    interval: float = 2.0  # how often the files are looked at

    @field_validator("interval", mode="before")
    @classmethod
    def _durations(cls, v: Any) -> float:
        return parse_duration(v)


class HealthSettings(_Strict):
    # A "source broken" alert after this many failures in a row (one per
    # episode, then one "recovered" alert).
    alert_after: int = Field(default=3, ge=1)
    channels: list[str] = Field(default_factory=list)  # default: every channel


class Config(_Strict):
    # a file path (SQLite, the default) or a postgresql:// URL (replicas)
    state: Path | str = Path("./data/monitor.db")
    rules: Path | list[Path] = Path("./rules")
    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    sources: list[SourceConfig] = Field(default_factory=list)
    fetch: FetchSettings = FetchSettings()
    delivery: DeliverySettings = DeliverySettings()
    http: HttpSettings = HttpSettings()
    log: LogSettings = LogSettings()
    reload: ReloadSettings = ReloadSettings()
    health: HealthSettings = HealthSettings()
    path: Path | None = Field(default=None, exclude=True)  # set by load_config
    # Values taken from the environment for channels, headers and source
    # URLs: never printed (monitor.log masks them). Set by load_config.
    secrets: frozenset[str] = Field(default=frozenset(), exclude=True, repr=False)
    # Channels left out because a secret they name is not set: name -> the
    # variables. Rules may still name them. Set by load_config.
    disabled_channels: dict[str, tuple[str, ...]] = Field(default_factory=dict, exclude=True)
    # One line each (file:line:col: ...) about the channels above.
    warnings: tuple[str, ...] = Field(default=(), exclude=True)

    @field_validator("state", mode="before")
    @classmethod
    def _state(cls, v: Any) -> Any:
        if isinstance(v, str) and "://" in v:
            scheme = v.split("://", 1)[0]
            if scheme not in ("postgresql", "postgres"):
                raise ValueError(
                    f"expected a file path or a postgresql:// URL, not a '{scheme}://' URL"
                )
            try:
                parts = urlsplit(v)
                parts.port  # noqa: B018 - raises on a port that is not a number
            except ValueError as e:
                raise ValueError(f"not a valid postgresql:// URL ({e})") from None
            if not parts.path.strip("/"):
                raise ValueError(
                    "a postgresql:// URL names its database: postgresql://user@host:5432/monitor"
                )
            return v
        return Path(v) if isinstance(v, str) else v

    @property
    def rule_paths(self) -> list[Path]:
        return list(self.rules) if isinstance(self.rules, list) else [self.rules]


class ConfigError(Exception):
    """Every problem found in a config file, one FileError each."""

    def __init__(self, errors: list[FileError]):
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


def load_config(path: str | Path, env: dict[str, str] | None = None) -> Config:
    path = Path(path)
    try:
        doc = load_yaml(path)
    except FileError as e:
        raise ConfigError([e]) from None
    if doc.data is None:
        doc.data = {}
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.error((), "expected a mapping of settings at the top level")])
    secrets: set[str] = set()
    unset: dict[str, list[tuple[tuple, str]]] = {}
    data, errors = interpolate(doc, env, secrets, unset)
    disabled, warnings = _disable_channels(doc, data, unset)
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        raise ConfigError(
            hide_secrets(errors + validation_errors(doc, e, Config), secrets)
        ) from None
    names: dict[str, int] = {}
    for i, src in enumerate(cfg.sources):
        if src.name in names:
            errors.append(doc.error(("sources", i, "name"), f"duplicate source name '{src.name}'"))
        names[src.name] = i
    if errors:
        raise ConfigError(hide_secrets(errors, secrets))
    base = path.resolve().parent
    rules = [base / p for p in cfg.rule_paths] if isinstance(cfg.rules, list) else base / cfg.rules
    state = cfg.state if isinstance(cfg.state, str) else base / cfg.state
    return cfg.model_copy(
        update={
            "state": state,
            "rules": rules,
            "path": path,
            "secrets": frozenset(secrets),
            "disabled_channels": disabled,
            "warnings": warnings,
        }
    )


def _disable_channels(
    doc: YamlDoc, data: Any, unset: dict[str, list[tuple[tuple, str]]]
) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """Leave out the channels whose secrets are not set, so a config with
    one account configured runs with that one: one warning per channel,
    naming the variables. Rules that name such a channel still load."""
    channels = data.get("channels") if isinstance(data, dict) else None
    disabled: dict[str, tuple[str, ...]] = {}
    warnings: list[str] = []
    for name, found in unset.items():
        names = tuple(dict.fromkeys(var for _, var in found))
        disabled[name] = names
        if isinstance(channels, dict):
            channels.pop(name, None)
        what = " and ".join(", ".join(names).rsplit(", ", 1))
        noun, verb, it = (
            ("variable", "is", "it") if len(names) == 1 else ("variables", "are", "them")
        )
        files = ", ".join(f"{n}_FILE" for n in names)
        warnings.append(
            str(
                doc.error(
                    found[0][0],
                    f"channel '{name}' is disabled: environment {noun} {what} {verb} not set; "
                    f"set {it} (or {files}) to send to it",
                )
            )
        )
    return disabled, tuple(warnings)


def load_config_or_exit(path: str | Path) -> Config:
    """load_config for commands: every problem on standard error as one
    `error: file:line:col: ...` line, then exit status 2."""
    try:
        return load_config(path)
    except ConfigError as e:
        for err in e.errors:
            print(f"error: {shown(err)}", file=sys.stderr)
        raise SystemExit(2) from None
