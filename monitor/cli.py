"""The `monitor` command."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from . import __version__, log
from .config import ConfigError, load_config, load_config_or_exit
from .store import StoreError, StoreUnavailable, state_exists


def bundled_rules_dir() -> Path:
    """./rules when run from a folder holding rules, else the rules shipped
    inside the package (a wheel maps rules/ to monitor/bundled_rules), else
    the rules/ of the source checkout (an editable install)."""
    local = Path("rules")
    if local.is_dir() and any(local.glob("*.y*ml")):
        return local
    here = Path(__file__).resolve().parent
    bundled = here / "bundled_rules"
    if bundled.is_dir():
        return bundled
    return here.parent / "rules"


def _load(args) -> tuple:
    """Config and rules for run/once; exits 2 with one line per problem
    when the config is unusable or no rule loads."""
    from .service import load_checked_rules

    config = load_config_or_exit(args.config)
    _apply_log_settings(args, config)
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


def _start(args):
    """A Monitor for run/once, stopped by SIGTERM or SIGINT (leaving at the
    latest STOP_GRACE seconds later)."""
    from .service import STOP_GRACE, Monitor

    config, ruleset, problems = _load(args)
    stop = threading.Event()
    _install_signals(stop, grace=STOP_GRACE)
    return Monitor(config, ruleset, stop=stop, problems=[str(p) for p in problems])


def cmd_run(args) -> int:
    from .httpapi import ListenError

    mon = _start(args)
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
    from .progress import Progress

    mon = _start(args)
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
    from .service import load_checked_rules

    try:
        config = load_config(args.config)
    except ConfigError as e:
        for err in e.errors:
            print(err)
        return 1
    ruleset, problems = load_checked_rules(config)
    for p in problems:
        print(p)
    if problems:
        return 1
    print(
        f"ok: {len(config.sources)} sources, {len(config.channels)} channels, {len(ruleset.rules)} rules"
    )
    return 0


def _rules_arg(args) -> list[Path]:
    return [Path(p) for p in args.rules] if args.rules else [bundled_rules_dir()]


def cmd_rules_match(args) -> int:
    from .engine import Context, load_rules

    ruleset, problems = load_rules(_rules_arg(args))
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 1
    stream = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8")
    bad = 0
    with stream:
        for n, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                if not isinstance(item, dict):
                    raise ValueError("expected a JSON object")
            except ValueError as e:
                print(f"{args.input}:{n}: not a JSON object: {e}", file=sys.stderr)
                bad += 1
                continue
            fields = {
                k: str(item.get(k) or "") for k in ("title", "summary", "body", "url", "source")
            }
            lang = item.get("lang")
            matches = ruleset.match_fields(
                fields,
                context=Context(source=fields["source"] or None, lang=str(lang) if lang else None),
            )
            out = {
                "id": item.get("id"),
                "matches": [
                    {"rule": m.rule_id, "tags": list(m.tags), "terms": list(m.terms)}
                    for m in matches
                ],
            }
            print(json.dumps(out, ensure_ascii=False))
    return 1 if bad else 0


def cmd_rules_test(args) -> int:
    from .engine import load_rules

    ruleset, problems = load_rules(_rules_arg(args))
    for p in problems:
        print(p)
    failures = ruleset.run_tests()
    for f in failures:
        print(f)
    n_tests = sum(
        len(r.tests.match) + len(r.tests.no_match) if r.tests else 0 for r in ruleset.rules
    )
    print(
        f"{len(ruleset.rules)} rules, {n_tests} tests, {len(failures)} failed, {len(problems)} problems"
    )
    return 1 if failures or problems else 0


def cmd_status(args) -> int:
    from .service import register_secrets
    from .store import Store

    config = load_config_or_exit(args.config)
    register_secrets(config)
    if args.health and config.http.address is not None:
        return _health_http(config)
    if not state_exists(config.state):
        print(f"no state yet at {config.state}")
        return 1 if args.health else 0
    store = Store(config.state)
    try:
        if args.health:
            return _health(config, store)
        if args.retry_dead:
            print(f"{store.retry_dead()} dead deliveries queued again")
        now = time.time()
        data = {
            "loop": {
                "last_cycle": store.get_meta("last_cycle"),
                "last_reload": store.get_meta("last_reload"),
                "start_problems": store.get_meta("start_problems") or [],
            },
            "sources": [dict(r) for r in store.sources()],
            "recent_stories": store.recent_stories(args.stories),
            "outbox": store.outbox_counts(),
            "failing_deliveries": [dict(r) for r in store.failing_deliveries()],
            "matches_last_day": store.matches_since(now - 86400),
            "matches_last_week": store.matches_since(now - 7 * 86400),
        }
    finally:
        store.close()
    for s in data["sources"]:
        s["url"] = log.mask(s["url"] or "")
        if s["last_error"]:
            s["last_error"] = log.mask(s["last_error"])
    for d in data["failing_deliveries"]:
        if d["last_error"]:
            d["last_error"] = log.mask(d["last_error"])
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    _print_status(data, args, now)
    return 0


def _print_status(data: dict, args, now: float) -> None:
    fmt = lambda t: time.strftime("%Y-%m-%d %H:%M", time.gmtime(t)) if t else "-"  # noqa: E731

    def ago(t: float | None) -> str:
        if not t:
            return "never"
        s = max(0, int(now - t))
        return f"{s}s ago" if s < 120 else f"{s // 60}m ago" if s < 7200 else f"{s // 3600}h ago"

    loop = data["loop"]
    cycle, reload = loop["last_cycle"], loop["last_reload"]
    print("MONITOR")
    print(
        f"  last cycle {ago(cycle['ended_at']) if cycle else 'never'}"
        + (f" (took {cycle['seconds']:.1f}s)" if cycle else "")
    )
    if reload and not reload["ok"]:
        print(
            f"  last reload FAILED {ago(reload['at'])}; the rules and sources loaded before it still run:"
        )
        for err in reload["errors"]:
            print(f"    {log.mask(err)}")
    elif reload:
        print(f"  last reload ok {ago(reload['at'])}")
    if loop["start_problems"] and not (reload and reload["ok"]):
        print("  problems at start (those files or rules were skipped):")
        for err in loop["start_problems"]:
            print(f"    {log.mask(err)}")
    print("SOURCES")
    for s in data["sources"]:
        health = (
            "ok"
            if not s["last_error"]
            else f"FAILING x{s['failures']} ({s['last_error_reason']}: {s['last_error']})"
        )
        print(f"  {s['name']:<24} {health}")
        print(
            f"  {'':<24} last success {fmt(s['last_success_at'])}  next check {fmt(s['next_check_at'])}  "
            f"stories {s['stories_seen']}"
        )
    print("LAST STORIES")
    for st in data["recent_stories"]:
        matched = f"  [{', '.join(st['rules'])}]" if st["rules"] else ""
        print(f"  {fmt(st['first_seen'])}  {st['source']:<20} {st['title'][:80]}{matched}")
    o = data["outbox"]
    print(f"OUTBOX  pending {o['pending']}  sent {o['sent']}  dead {o['dead']}")
    for d in data["failing_deliveries"]:
        print(f"  {d['status']:<8} {d['channel']:<16} attempts {d['attempts']}  {d['last_error']}")
    if o["dead"]:
        print(f"  retry dead letters: monitor status --config {args.config} --retry-dead")
    print("MATCHES (last day / last week)")
    for rule, n in data["matches_last_week"].items():
        print(f"  {rule:<32} {data['matches_last_day'].get(rule, 0):>5} / {n}")


def health_url(host: str, port: int) -> str:
    """Where a local client reaches /healthz of an endpoint bound to
    host:port (an any-address bind is reached on loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{host}]:{port}/healthz" if ":" in host else f"http://{host}:{port}/healthz"


def _health_http(config) -> int:
    """Ask the running monitor's own /healthz (the container's HEALTHCHECK:
    slim images have no curl)."""
    import urllib.error
    import urllib.request

    url = health_url(*config.http.address)
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            body = r.read().decode("utf-8", "replace").strip()
            print(f"healthy: {body}")
            return 0
    except urllib.error.HTTPError as e:
        print(f"unhealthy: {e.code} {e.read().decode('utf-8', 'replace').strip()}")
    except OSError as e:
        print(f"unhealthy: no answer from {url}: {getattr(e, 'reason', e)}")
    return 1


def _state(args, create: bool = False):
    """Config and the store for the state-file commands (no store when there
    is no state yet). Only a command that writes (silence add) creates a
    missing state file."""
    from .store import Store

    config = load_config_or_exit(args.config)
    if not create and not state_exists(config.state):
        print(f"no state yet at {config.state}")
        return config, None
    return config, Store(config.state)


def cmd_outbox(args) -> int:
    from .alerts.admin import outbox_report

    config, store = _state(args)
    if store is None:
        return 0
    try:
        return outbox_report(
            config,
            store,
            sys.stdout,
            as_json=args.json,
            retry_dead=args.retry_dead,
            config_arg=args.config,
        )
    finally:
        store.close()


def cmd_silence(args) -> int:
    from .alerts.admin import silence_add, silence_list

    config, store = _state(args, create=args.silence_command == "add")
    if store is None:
        return 0
    try:
        if args.silence_command == "add":
            from .engine import load_rules

            ruleset, _ = load_rules(config.rule_paths)
            known = {r.id for r in ruleset.rules} or None
            return silence_add(
                store, args.rule, args.duration, args.reason or "", known, sys.stdout
            )
        if args.silence_command == "remove":
            found = store.remove_silence(args.id)
            print(f"silence {args.id} removed" if found else f"no silence {args.id}")
            return 0 if found else 1
        return silence_list(store, sys.stdout)
    finally:
        store.close()


def source_rows(config, store) -> list[dict]:
    """One row per configured source, as `monitor sources` shows them."""
    rows = {r["name"]: dict(r) for r in store.sources()} if store is not None else {}
    out = []
    for src in config.sources:
        r = rows.get(src.name, {})
        if not src.enabled:
            state = "disabled"
        elif not r or r.get("last_polled_at") is None:
            state = "new"
        elif r.get("last_error_reason") == "no_new_items":
            state = "stale"
        elif r.get("last_error"):
            state = (
                "broken" if r.get("broken_alerted") else "failing"
            ) + f" x{r.get('failures', 0)}"
        else:
            state = "ok"
        reason = r.get("last_error_reason")
        out.append(
            {
                "name": src.name,
                "kind": src.kind,
                "state": state,
                "last_success_at": r.get("last_success_at"),
                "next_check_at": r.get("next_check_at"),
                "last_error": f"{reason}: {r.get('last_error')}" if reason else None,
                "stories_seen": r.get("stories_seen", 0),
                "url": r.get("permanent_url") or src.url,
            }
        )
    return out


def cmd_sources(args) -> int:
    from .store import Store

    config = load_config_or_exit(args.config)
    store = Store(config.state) if state_exists(config.state) else None
    try:
        rows = source_rows(config, store)
    finally:
        if store is not None:
            store.close()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    fmt = lambda t: time.strftime("%Y-%m-%d %H:%M", time.gmtime(t)) if t else "-"  # noqa: E731
    width = max([len("SOURCE")] + [len(r["name"]) for r in rows])
    print(
        f"{'SOURCE':<{width}}  {'KIND':<5} {'STATE':<12} {'LAST SUCCESS':<16}  {'NEXT CHECK':<16}  "
        f"{'STORIES':>7}  LAST ERROR"
    )
    for r in rows:
        error = (r["last_error"] or "-")[:100]
        print(
            f"{r['name']:<{width}}  {r['kind']:<5} {r['state']:<12} {fmt(r['last_success_at']):<16}  "
            f"{fmt(r['next_check_at']):<16}  {r['stories_seen']:>7}  {error}"
        )
    return 0


def _health(config, store) -> int:
    """Without the HTTP endpoint: healthy while no enabled source is overdue
    and a cycle ended within http.stale_after. Never asks the network, so an
    outage elsewhere cannot get the container restarted."""
    grace = 300.0 + config.fetch.deadline
    now = time.time()
    enabled = {s.name for s in config.sources if s.enabled}
    overdue = [
        r["name"]
        for r in store.sources()
        if r["name"] in enabled and (r["next_check_at"] is None or r["next_check_at"] < now - grace)
    ]
    if overdue:
        print(f"unhealthy: overdue sources: {', '.join(overdue)}")
        return 1
    cycle = store.get_meta("last_cycle")
    if cycle and cycle["ended_at"] < now - config.http.stale_after:
        print(f"unhealthy: no cycle ended for {now - cycle['ended_at']:.0f}s")
        return 1
    print("healthy")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(
        rules=Path(args.rules) if args.rules else bundled_rules_dir(), verbose=args.verbose
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="monitor", description="Privacy and surveillance news monitor."
    )
    p.add_argument("--version", action="version", version=f"monitor {__version__}")
    p.add_argument(
        "--log-level",
        default=os.environ.get("MONITOR_LOG_LEVEL") or None,
        choices=["debug", "info", "warning", "error"],
        help="default: $MONITOR_LOG_LEVEL, else the config's log.level, else info",
    )
    p.add_argument(
        "--log-format",
        default=os.environ.get("MONITOR_LOG_FORMAT") or None,
        choices=list(log.FORMATS),
        help="one line per event as key=value text or JSON "
        "(default: $MONITOR_LOG_FORMAT, else the config's log.format, else text)",
    )
    sub = p.add_subparsers(dest="command", required=True)

    def with_config(sp):
        sp.add_argument(
            "--config",
            "-c",
            default=os.environ.get("MONITOR_CONFIG", "config.yaml"),
            help="config file (default: $MONITOR_CONFIG or config.yaml)",
        )
        return sp

    with_config(
        sub.add_parser("run", help="poll sources forever, alerting on new matches")
    ).set_defaults(func=cmd_run)
    with_config(sub.add_parser("once", help="poll every source once, deliver, exit")).set_defaults(
        func=cmd_once
    )
    with_config(
        sub.add_parser("check", help="validate the config and every rule file")
    ).set_defaults(func=cmd_check)
    st = with_config(
        sub.add_parser("status", help="sources, outbox and matches from the state file")
    )
    st.add_argument("--json", action="store_true")
    st.add_argument("--retry-dead", action="store_true", help="queue dead deliveries again")
    st.add_argument(
        "--health",
        action="store_true",
        help="exit 0 if the loop is alive (asks /healthz when http.listen is set), else 1",
    )
    st.add_argument(
        "--stories", type=int, default=10, metavar="N", help="how many of the last stories to show"
    )
    st.set_defaults(func=cmd_status)
    ob = with_config(
        sub.add_parser(
            "outbox", help="deliveries: pending, sent, dead, last errors; retry dead letters"
        )
    )
    ob.add_argument("--json", action="store_true")
    ob.add_argument("--retry-dead", action="store_true", help="queue the dead letters again")
    ob.set_defaults(func=cmd_outbox)
    si = sub.add_parser("silence", help="silence a rule for a while").add_subparsers(
        dest="silence_command", required=True
    )
    sa = with_config(
        si.add_parser("add", help="silence a rule: its matches are stored but not alerted")
    )
    sa.add_argument("--rule", required=True, help="rule id")
    sa.add_argument("--for", dest="duration", required=True, help="how long: 30m, 2h, 1d")
    sa.add_argument("--reason", help="a note shown by `silence list`")
    with_config(si.add_parser("list", help="active silences"))
    sr = with_config(si.add_parser("remove", help="end a silence now"))
    sr.add_argument("id", type=int)
    for name in ("add", "list", "remove"):
        si.choices[name].set_defaults(func=cmd_silence)
    so = with_config(
        sub.add_parser("sources", help="every source: state, last success, last error, next check")
    )
    so.add_argument("--json", action="store_true")
    so.set_defaults(func=cmd_sources)
    demo = sub.add_parser("demo", help="run the whole pipeline offline on bundled pages and feeds")
    demo.add_argument("--rules", help="rules directory (default: ./rules or the shipped rules)")
    demo.add_argument("--verbose", action="store_true", help="show the log lines too")
    demo.set_defaults(func=cmd_demo)

    rules = sub.add_parser("rules", help="work with rule files").add_subparsers(
        dest="rules_command", required=True
    )
    m = rules.add_parser("match", help="match JSON lines {id,title,summary,body} against the rules")
    m.add_argument("--rules", action="append", help="rules directory or file (repeatable)")
    m.add_argument("--input", required=True, help="JSON Lines file, or - for standard input")
    m.set_defaults(func=cmd_rules_match)
    t = rules.add_parser("test", help="run the tests written inside the rule files")
    t.add_argument("--rules", action="append", help="rules directory or file (repeatable)")
    t.set_defaults(func=cmd_rules_test)
    from .ruletools import add_parsers

    add_parsers(sub, rules, with_config, _rules_arg)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    log.setup(args.log_level or "info", fmt=args.log_format or "text")
    try:
        return args.func(args)
    except (StoreError, StoreUnavailable) as e:
        # the state could not be opened: an unreachable database, a bad URL,
        # a refused password, a state written by a newer version
        print(f"error: state: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
