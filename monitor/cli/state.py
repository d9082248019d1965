"""`monitor status`, `sources`, `outbox` and `silence`: reads and small writes of the state."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from monitor import log
from monitor.cli.common import _state
from monitor.config import load_config_or_exit
from monitor.store import state_exists


def cmd_status(args) -> int:
    if args.health:
        return _health_check(args)
    return _status(args)


def _health_check(args) -> int:
    """`status --health`, the container's HEALTHCHECK: exit 0 or 1, never
    anything else (Docker reserves 2), whatever went wrong."""
    from monitor.store import StoreError, StoreUnavailable

    try:
        return 0 if _status(args) == 0 else 1
    except SystemExit as e:  # the config did not load: its errors are printed
        print(f"unhealthy: the config {args.config} did not load")
        return 0 if e.code == 0 else 1
    except (StoreError, StoreUnavailable) as e:
        print(f"unhealthy: state: {e}")
        return 1
    except Exception as e:  # a bug must still answer 1, not a traceback's exit code
        print(f"unhealthy: {type(e).__name__}: {e}")
        return 1


def _status(args) -> int:
    from monitor.checks import register_moved_secrets
    from monitor.service import register_secrets
    from monitor.store import Store

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
            from monitor.alerts.admin import requeue_dead

            print(requeue_dead(config, store))
        now = time.time()
        data: dict[str, Any] = {
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
    register_moved_secrets(config, data["sources"])
    for s in data["sources"]:
        s["url"] = log.mask(s["url"] or "")
        if s["permanent_url"]:
            s["permanent_url"] = log.mask(s["permanent_url"])
        if s["last_error"]:
            s["last_error"] = log.mask(s["last_error"])
    for d in data["failing_deliveries"]:
        if d["last_error"]:
            d["last_error"] = log.mask(d["last_error"])
    if args.json:
        _print_json(data)
        return 0
    _print_status(data, args, now)
    return 0


def print(*values: object, **kw: Any) -> None:  # noqa: A001
    """The text these commands print: story titles, errors and reason
    phrases come from outside and may carry terminal escapes."""
    import builtins

    builtins.print(*(log.printable(str(v)) for v in values), **kw)


def _print_json(data: object) -> None:
    """JSON escapes C0 controls itself; DEL and the C1 controls (CSI) too."""
    import builtins
    import re

    text = json.dumps(data, ensure_ascii=False, indent=2)
    builtins.print(re.sub("[\x7f-\x9f]", lambda m: f"\\u{ord(m.group()):04x}", text))


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
        error = error_text(s["last_error_reason"], s["last_error"])
        if not s["last_error"]:
            health = "ok"
        elif not s["failures"]:
            health = f"not checked, the network was down ({error})"
        else:
            health = f"FAILING x{s['failures']} ({error})"
        print(f"  {s['name']:<24} {health}")
        print(
            f"  {'':<24} last success {fmt(s['last_success_at'])}  next check {fmt(s['next_check_at'])}  "
            f"stories {s['stories_seen']}"
        )
    print("LAST STORIES")
    for st in data["recent_stories"]:
        matched = f"  [{', '.join(st['rules'])}]" if st["rules"] else ""
        print(f"  {fmt(st['first_seen'])}  {st['source']:<20} {st['title'][:80]}{matched}")
        if st.get("copy_of"):  # folded into another outlet's alert, not lost
            c = st["copy_of"]
            print(f"  {'':<16}  {'':<20} copy of {c['source']}: {c['title'][:70]}")
    o = data["outbox"]
    print(f"OUTBOX  pending {o['pending']}  sent {o['sent']}  dead {o['dead']}")
    for d in data["failing_deliveries"]:
        print(f"  {d['status']:<8} {d['channel']:<16} attempts {d['attempts']}  {d['last_error']}")
    if o["dead"] and not args.retry_dead:
        print(f"  retry dead letters: monitor status --config {args.config} --retry-dead")
    print("MATCHES (last day / last week)")
    for rule, n in data["matches_last_week"].items():
        print(f"  {rule:<32} {data['matches_last_day'].get(rule, 0):>5} / {n}")


def error_text(reason: str | None, error: str | None) -> str:
    """'http 404 Not Found', not 'http: http 404 Not Found': the reason is
    named once."""
    if not error:
        return reason or ""
    if not reason or error.split(" ", 1)[0].rstrip(":") == reason:
        return error
    return f"{reason}: {error}"


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
    # The monitor's own endpoint: never through HTTP_PROXY, which would ask
    # the proxy about its own loopback instead.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as r:
            body = r.read().decode("utf-8", "replace").strip()
            print(f"healthy: {body}")
            return 0
    except urllib.error.HTTPError as e:
        print(f"unhealthy: {e.code} {e.read().decode('utf-8', 'replace').strip()}")
    except OSError as e:
        print(f"unhealthy: no answer from {url}: {getattr(e, 'reason', e)}")
    return 1


def cmd_outbox(args) -> int:
    from monitor.alerts.admin import outbox_report

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
    from monitor.alerts.admin import silence_add, silence_list

    config, store = _state(args, create=args.silence_command == "add")
    if store is None:
        return 0
    try:
        if args.silence_command == "add":
            from monitor.engine import load_rules

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


def _source_row(src, name: str, r: dict) -> dict:
    if not src.enabled:
        state = "disabled"
    elif not r or r.get("last_polled_at") is None:
        state = "new"
    elif r.get("last_error_reason") == "no_new_items":
        state = "stale"
    elif r.get("last_error") and not r.get("failures"):
        # failed only while the network was down: not counted against it
        state = "unchecked"
    elif r.get("last_error"):
        state = ("broken" if r.get("broken_alerted") else "failing") + f" x{r.get('failures', 0)}"
    else:
        state = "ok"
    reason = r.get("last_error_reason")
    error = error_text(reason, r.get("last_error")) if reason else None
    if state == "unchecked":
        error = f"not checked, the network was down ({error})"
    return {
        "name": name,
        "kind": src.kind,
        "state": state,
        "last_success_at": r.get("last_success_at"),
        "next_check_at": r.get("next_check_at"),
        "last_error": error,
        "stories_seen": r.get("stories_seen", 0),
        "url": r.get("permanent_url") or (r.get("url") if name != src.name else None) or src.url,
    }


def source_rows(config, store) -> list[dict]:
    """One row per configured source, as `monitor sources` shows them."""
    rows = {r["name"]: dict(r) for r in store.sources()} if store is not None else {}
    out = []
    for src in config.sources:
        names = [src.name]
        if src.queries is not None:  # polled as one source per query: NAME#LANG-HASH
            names = sorted(n for n in rows if n.startswith(src.name + "#")) or names
        for name in names:
            out.append(_source_row(src, name, rows.get(name, {})))
    return out


def cmd_sources(args) -> int:
    from monitor.checks import register_moved_secrets, register_secrets
    from monitor.store import Store

    if getattr(args, "queries", False):
        from monitor.cli.search import cmd_queries

        return cmd_queries(args)
    config = load_config_or_exit(args.config)
    register_secrets(config)
    store = Store(config.state) if state_exists(config.state) else None
    try:
        if store is not None:
            register_moved_secrets(config, store.sources())
        rows = source_rows(config, store)
        for r in rows:
            r["url"] = log.mask(r["url"])
            if r["last_error"]:
                r["last_error"] = log.mask(r["last_error"])
    finally:
        if store is not None:
            store.close()
    if args.json:
        _print_json(rows)
        return 0
    fmt = lambda t: time.strftime("%Y-%m-%d %H:%M", time.gmtime(t)) if t else "-"  # noqa: E731
    width = max([len("SOURCE")] + [len(r["name"]) for r in rows])
    kind = max([len("KIND")] + [len(r["kind"]) for r in rows])
    state = max([len("STATE")] + [len(r["state"]) for r in rows])
    print(
        f"{'SOURCE':<{width}}  {'KIND':<{kind}}  {'STATE':<{state}}  {'LAST SUCCESS':<16}  "
        f"{'NEXT CHECK':<16}  {'STORIES':>7}  LAST ERROR"
    )
    for r in rows:
        error = (r["last_error"] or "-")[:100]
        print(
            f"{r['name']:<{width}}  {r['kind']:<{kind}}  {r['state']:<{state}}  "
            f"{fmt(r['last_success_at']):<16}  {fmt(r['next_check_at']):<16}  "
            f"{r['stories_seen']:>7}  {error}"
        )
    return 0


def _not_running(store, now: float) -> str | None:
    """Why the `monitor run` of this host is known not to run: it stopped,
    or its process is gone. None when it runs, or nothing says otherwise
    (no record: a state from `once`, or from an older version)."""
    import os

    from monitor.service import process_key

    rec = store.get_meta(process_key())
    if not isinstance(rec, dict):
        return None
    if rec.get("stopped_at"):
        cycle = store.get_meta("last_cycle")
        if isinstance(cycle, dict) and cycle.get("ended_at", 0) > rec["stopped_at"]:
            return None  # a `once` ran since: the cycles tell the health
        return f"it stopped {int(now - rec['stopped_at'])}s ago"
    try:
        os.kill(int(rec["pid"]), 0)
    except ProcessLookupError:
        return f"its process {rec['pid']} is gone"
    except (PermissionError, OSError, ValueError, KeyError, TypeError):
        return None
    return None


def _health(config, store) -> int:
    """Without the HTTP endpoint: healthy while no enabled source is overdue
    and a cycle ended within http.stale_after. Never asks the network, so an
    outage elsewhere cannot get the container restarted."""
    grace = 300.0 + config.fetch.deadline
    now = time.time()
    gone = _not_running(store, now)
    if gone:
        print(f"unhealthy: the monitor is not running ({gone})")
        return 1
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
