"""`monitor run`, `once`, `check` and `demo`: the pipeline itself."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from monitor import log
from monitor.cli import signals, startup
from monitor.cli.common import _load, bundled_rules_dir, plural
from monitor.config import ConfigError, load_config
from monitor.yamlfile import shown


def _install_signals(stop: threading.Event, grace: float | None = None) -> None:
    """SIGTERM and SIGINT stop the monitor: in-flight work ends or is
    abandoned, state is closed, exit 0. Works as PID 1 in a container (the
    handler is installed, so the kernel delivers the signal). A second signal,
    or `grace` seconds without the loop ending, leave at once."""

    def handler(signum, frame):
        if stop.is_set():
            os._exit(128 + signum)  # a second signal: leave at once
        log.event("monitor.stopping", signal=signal.Signals(signum).name)
        stop.set()
        if grace is not None:
            timer = threading.Timer(grace, _stop_deadline, args=(grace,))
            timer.daemon = True
            timer.start()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _stop_deadline(grace: float) -> None:
    # Committed state is safe in SQLite's WAL; an alert whose send was still
    # in flight is sent again at the next start (never lost).
    log.event(
        "monitor.stop_deadline",
        level="warning",
        grace=f"{grace:g}s",
        note="in-flight work abandoned",
    )
    os._exit(0)


def _start(args, wait_for_store: bool = False, metrics: bool = True):
    """A Monitor for run/once, stopped by SIGTERM or SIGINT (leaving at the
    latest STOP_GRACE seconds later); None when a signal came during
    start-up (the program's first import installed a handler for it).
    With `wait_for_store` (run), a state that is locked by another
    process or away is waited for, never a reason to exit. Without
    `metrics` (once), nothing is counted for a /metrics that never serves."""
    from monitor.service import STOP_GRACE, Monitor
    from monitor.store import StoreUnavailable

    stop = threading.Event()
    if signals.STOP.is_set():
        return _stopped_early()
    _install_signals(stop, grace=STOP_GRACE)
    if signals.STOP.is_set():  # came just before the handler above replaced the early one
        return _stopped_early()
    config, ruleset, problems = _load(args)
    if stop.is_set():
        return _stopped_early()
    while True:
        try:
            mon = Monitor(
                config, ruleset, stop=stop, problems=[str(p) for p in problems], metrics=metrics
            )
            break
        except StoreUnavailable as e:
            if not wait_for_store or stop.is_set():
                raise
            startup.done()  # waiting may be long: the collector runs meanwhile
            log.event("store.unavailable", level="warning", error=str(e), retry_in="5s")
            if stop.wait(5.0):
                return _stopped_early()
    startup.done()
    if stop.is_set():
        mon.close()
        return _stopped_early()
    return mon


def _stopped_early() -> None:
    """A stop signal before the first cycle: nothing to finish, exit 0."""
    if signals.received:
        name = signal.Signals(signals.received[0]).name
        log.event("monitor.stopping", signal=name, during="start-up")
    log.event("monitor.stopped", during="start-up")
    return None


def cmd_run(args) -> int:
    from monitor.httpapi import ListenError

    mon = _start(args, wait_for_store=True)
    if mon is None:
        return 0
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda signum, frame: mon.request_reload())
    try:
        mon.run_forever()
    except ListenError as e:
        print(f"error: {mon.config.path}: {e}", file=sys.stderr)
        return 2
    finally:
        mon.close()
    return 0


def cmd_once(args) -> int:
    from monitor.progress import Progress

    mon = _start(args, metrics=False)
    if mon is None:
        return 0
    try:
        with Progress("once") as progress:
            outcome = mon.cycle(mon.sources, progress=progress)
    finally:
        mon.close()
    failed = [p for p in outcome.polls if not p.ok]
    log.event(
        "once.done",
        sources=len(outcome.polls),
        failed=len(failed),
        sent=outcome.delivery.sent,
        delivery_failed=outcome.delivery.failed,
    )
    return 0


def cmd_check(args) -> int:
    from monitor.checks import load_checked_rules, register_secrets

    try:
        config = load_config(args.config)
    except ConfigError as e:
        for err in e.errors:
            print(shown(err))
        return 1
    register_secrets(config)
    for warning in config.warnings:
        print(f"warning: {log.printable(log.mask(shown(warning)))}")
    ruleset, problems = load_checked_rules(config)
    for p in problems:
        print(log.printable(log.mask(shown(p))))
    if problems:
        return 1
    print(
        f"ok: {plural(len(config.sources), 'source')}, {plural(len(config.channels), 'channel')}, "
        f"{plural(len(ruleset.rules), 'rule')}"
    )
    return 0


def cmd_demo(args) -> int:
    from monitor.demo import run_demo

    return run_demo(
        rules=Path(args.rules) if args.rules else bundled_rules_dir(), verbose=args.verbose
    )


def cmd_init(args) -> int:
    from monitor.cli.common import shipped_rules_dir
    from monitor.starter import write_starter

    return write_starter(Path(args.dir), shipped_rules_dir(), sys.stdout)


def cmd_notify(args) -> int:
    """A test alert to the named channels (or all), through the real
    rendering and Apprise; exit 1 when a destination did not accept it."""
    from monitor.checks import register_secrets
    from monitor.config import load_config_or_exit
    from monitor.starter import notify
    from monitor.yamlfile import did_you_mean

    config = load_config_or_exit(args.config)
    register_secrets(config)
    names = list(config.channels) if args.all else list(dict.fromkeys(args.channel))
    for name in names:
        if name in config.disabled_channels:
            missing = ", ".join(config.disabled_channels[name])
            print(f"error: channel '{name}' is disabled: {missing} not set", file=sys.stderr)
            return 2
        if name not in config.channels:
            known = ", ".join(config.channels) or "none"
            print(
                f"error: no channel '{name}' in {config.path}{did_you_mean(name, config.channels)}; "
                f"configured channels: {known}",
                file=sys.stderr,
            )
            return 2
    if not names:
        print(f"error: {config.path} configures no channel", file=sys.stderr)
        return 2
    results = notify(config, names, sys.stdout)
    for r in results:
        verdict = "accepted" if r.ok else f"FAILED: {log.mask(r.error or 'not accepted')}"
        print(f"{r.channel}  {r.destination}  {verdict}")
    bad = sum(not r.ok for r in results)
    print(
        f"test alert: {plural(len(results) - bad, 'destination')} accepted"
        + (f", {bad} failed" if bad else "")
    )
    return 1 if bad else 0
