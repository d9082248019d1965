"""What every family of commands shares: loading the config and rules, the state."""

from __future__ import annotations

import sys
from pathlib import Path

from monitor import log
from monitor.config import load_config_or_exit
from monitor.store import state_exists


def shipped_rules_dir() -> Path:
    """The rules that come with the package (never ./rules)."""
    here = Path(__file__).resolve().parent.parent  # monitor/
    bundled = here / "bundled_rules"
    return bundled if bundled.is_dir() else here.parent / "rules"


def bundled_rules_dir() -> Path:
    """./rules when run from a folder holding rules, else the rules shipped
    inside the package (a wheel maps rules/ to monitor/bundled_rules), else
    the rules/ of the source checkout (an editable install)."""
    local = Path("rules")
    if local.is_dir() and any(local.glob("*.y*ml")):
        return local
    here = Path(__file__).resolve().parent.parent  # monitor/
    bundled = here / "bundled_rules"
    if bundled.is_dir():
        return bundled
    return here.parent / "rules"


def _load(args) -> tuple:
    """Config and rules for run/once; exits 2 with one line per problem
    when the config is unusable or no rule loads."""
    from monitor.checks import load_checked_rules

    config = load_config_or_exit(args.config)
    _apply_log_settings(args, config)
    for warning in config.warnings:
        log.event("channel.disabled", level="warning", problem=warning)
    ruleset, problems = load_checked_rules(config)
    for p in problems:
        log.event("rules.problem", level="error", problem=str(p))
    if not ruleset.rules:
        print("error: no rule could be loaded; see `monitor check`", file=sys.stderr)
        sys.exit(2)
    return config, ruleset, problems


def _apply_log_settings(args, config) -> None:
    """The config's `log` settings, where the command line and environment
    said nothing."""
    if args.log_level is None and config.log.level:
        log.set_level(config.log.level)
    if args.log_format is None:
        log.set_format(config.log.format)


def plural(n: int, word: str) -> str:
    """'1 rule', '2 rules'."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _rules_arg(args) -> list[Path]:
    """--rules when given; else the rules of the config (named by --config or
    $MONITOR_CONFIG, or a config.yaml here); else ./rules or the shipped ones."""
    if getattr(args, "rules", None):
        return [Path(p) for p in args.rules]
    config = getattr(args, "config", None)
    if config and (getattr(args, "config_given", False) or Path(config).is_file()):
        return load_config_or_exit(config).rule_paths
    return [bundled_rules_dir()]


def _state(args, create: bool = False):
    """Config and the store for the state-file commands (no store when there
    is no state yet). Only a command that writes (silence add) creates a
    missing state file."""
    from monitor.store import Store

    config = load_config_or_exit(args.config)
    if not create and not state_exists(config.state):
        print(f"no state yet at {config.state}")
        return config, None
    return config, Store(config.state)
