"""The argument parser: every command and its options, each bound to its family's function."""

from __future__ import annotations

import argparse
import os

from monitor import __version__, log
from monitor.cli.feedback import cmd_feedback_export
from monitor.cli.replay import cmd_replay
from monitor.cli.rules import (
    cmd_rules_explain,
    cmd_rules_list,
    cmd_rules_match,
    cmd_rules_score,
    cmd_rules_test,
    cmd_rules_train,
)
from monitor.cli.run import cmd_check, cmd_demo, cmd_init, cmd_notify, cmd_once, cmd_run
from monitor.cli.state import (
    cmd_outbox,
    cmd_silence,
    cmd_sources,
    cmd_status,
)

RULES_HELP = (
    "rules directory or file, repeatable "
    "(default: the config's rules, else ./rules, else the shipped rules)"
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="monitor", description="Privacy and surveillance news monitor."
    )
    p.add_argument("--version", action="version", version=f"monitor {__version__}")
    _global_options(p, top=True)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(sp):
        _config_option(sp, argparse.SUPPRESS)
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
    st.add_argument("--json", action="store_true", help="print the same as one JSON document")
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
    ob.add_argument("--json", action="store_true", help="print the same as one JSON document")
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
    sr.add_argument("id", type=int, help="the silence's number, as `silence list` shows it")
    for name in ("add", "list", "remove"):
        si.choices[name].set_defaults(func=cmd_silence)
    so = with_config(
        sub.add_parser("sources", help="every source: state, last success, last error, next check")
    )
    so.add_argument("--json", action="store_true", help="print the rows as one JSON list")
    so.add_argument(
        "--queries",
        action="store_true",
        help="print the searches the search sources send (queries: from_rules built from the rules)",
    )
    so.set_defaults(func=cmd_sources)
    ini = sub.add_parser(
        "init", help="write a starter config.yaml and a copy of the rules that work with no account"
    )
    ini.add_argument(
        "dir", nargs="?", default=".", help="the folder to write them in (default: this one)"
    )
    ini.set_defaults(func=cmd_init)
    no = with_config(
        sub.add_parser(
            "notify", help="send a test alert to channels and say what each destination answered"
        )
    )
    which = no.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--channel", action="append", metavar="NAME", help="a channel of the config (repeatable)"
    )
    which.add_argument("--all", action="store_true", help="every channel of the config")
    no.set_defaults(func=cmd_notify)
    demo = sub.add_parser("demo", help="run the whole pipeline offline on bundled pages and feeds")
    demo.add_argument("--rules", help="rules directory (default: ./rules or the shipped rules)")
    demo.add_argument("--verbose", action="store_true", help="show the log lines too")
    demo.set_defaults(func=cmd_demo)

    rules = sub.add_parser("rules", help="work with rule files").add_subparsers(
        dest="rules_command", required=True
    )
    ls = rules.add_parser(
        "list", help="every rule: id, title, severity, tags, channels, enabled, file:line"
    )
    ls.add_argument("--rules", action="append", help=RULES_HELP)
    ls.add_argument("--json", action="store_true", help="print the rules as one JSON list")
    ls.set_defaults(func=cmd_rules_list)
    m = rules.add_parser("match", help="match JSON lines {id,title,summary,body} against the rules")
    m.add_argument("--rules", action="append", help=RULES_HELP)
    m.add_argument("--input", required=True, help="JSON Lines file, or - for standard input")
    m.set_defaults(func=cmd_rules_match)
    t = rules.add_parser("test", help="run the tests written inside the rule files")
    t.add_argument("--rules", action="append", help=RULES_HELP)
    t.set_defaults(func=cmd_rules_test)
    e = rules.add_parser("explain", help="show how one rule decides on one story")
    e.add_argument("rule_id", help="the id of the rule to explain")
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--url", help="fetch a page and read it as a story")
    src.add_argument(
        "--file",
        help="a JSON object {title, summary, body, ...} or a text file (first line = title); - for stdin",
    )
    src.add_argument("--text", help="a headline")
    e.add_argument("--rules", action="append", help=RULES_HELP)
    e.add_argument("--lang", help="the story's language, for rules with a languages filter")
    e.add_argument("--source", help="the source name, for rules with a sources filter")
    e.add_argument("--source-tag", action="append", help="a tag of the source (repeatable)")
    e.add_argument(
        "--snippet-chars",
        type=int,
        default=240,
        metavar="N",
        help="length of the marked text excerpt (default 240)",
    )
    e.set_defaults(func=cmd_rules_explain)
    sc = rules.add_parser("score", help="precision, recall and F1 of the rules on labelled news")
    sc.add_argument("labelled", help="JSON Lines: title, summary, labels [, body, lang, source]")
    sc.add_argument(
        "--rules", action="append", help="rules directory or file (repeatable; default: shipped)"
    )
    sc.add_argument("--by", choices=("rule", "lang", "source"), help="add a breakdown")
    sc.add_argument(
        "--compare",
        metavar="OTHER_RULES_DIR",
        help="list the verdicts that differ under these rules (the edited ones; --rules is before)",
    )
    sc.add_argument("--json", action="store_true", help="print one JSON object")
    sc.set_defaults(func=cmd_rules_score)
    tr = rules.add_parser(
        "train",
        help="train a classifier model for one tag from labelled JSON lines (semantic extra)",
    )
    tr.add_argument("labelled", help="JSON lines: title, summary, labels, source")
    tr.add_argument("--tag", required=True, help="the label to learn, e.g. data-leak")
    tr.add_argument(
        "--out", required=True, help="the model file to write, e.g. rules/data-leak.model"
    )
    tr.add_argument(
        "--min", type=float, default=0.5, help="score at which the figures are given (default 0.5)"
    )
    tr.add_argument(
        "--l2", type=float, default=1.0, help="strength of the weights' regularisation (default 1)"
    )
    tr.set_defaults(func=cmd_rules_train)

    r = with_config(
        sub.add_parser(
            "replay", help="run the rules over stored stories; sends nothing unless --send"
        )
    )
    r.add_argument(
        "--since",
        default="30d",
        help="how far back, as the config writes durations: 30d, 12h, 90m, 1h30m, 3600 (default 30d)",
    )
    r.add_argument(
        "--rules",
        action="append",
        help="rules directory or file, repeatable (default: the config's rules)",
    )
    r.add_argument("--json", action="store_true", help="one JSON object per matched story")
    r.add_argument(
        "--send",
        action="store_true",
        help="also alert the matches through the channels (never twice to a destination)",
    )
    r.set_defaults(func=cmd_replay)

    fb = sub.add_parser("feedback", help="the readers' verdicts from the dashboard").add_subparsers(
        dest="feedback_cmd", required=True
    )
    fe = with_config(
        fb.add_parser("export", help="verdicts as labelled JSON Lines, or as rule tests: entries")
    )
    fe.add_argument(
        "--format",
        choices=("jsonl", "tests"),
        default="jsonl",
        help="jsonl: labelled items for rule scoring (default); tests: entries to paste into rules",
    )
    fe.add_argument("--since", help="only verdicts given in this period: 30d, 12h")
    fe.add_argument("-o", "--output", help="write to this file (default: standard output)")
    fe.set_defaults(func=cmd_feedback_export)
    _finish(p)
    return p


def _global_options(p: argparse.ArgumentParser, top: bool) -> None:
    """--log-level and --log-format, before or after the command: the top
    level holds the defaults; a command's copy sets a value only when given
    (a default there would hide one given before the command)."""
    p.add_argument(
        "--log-level",
        default=(os.environ.get("MONITOR_LOG_LEVEL") or None) if top else argparse.SUPPRESS,
        choices=["debug", "info", "warning", "error"],
        help="least level of log lines shown "
        "(default: $MONITOR_LOG_LEVEL, else the config's log.level, else info)",
    )
    p.add_argument(
        "--log-format",
        default=(os.environ.get("MONITOR_LOG_FORMAT") or None) if top else argparse.SUPPRESS,
        choices=list(log.FORMATS),
        help="one line per event as key=value text or JSON "
        "(default: $MONITOR_LOG_FORMAT, else the config's log.format, else text)",
    )
    if top:
        _config_option(p, None)


def _config_option(p: argparse.ArgumentParser, default) -> None:
    p.add_argument(
        "--config",
        "-c",
        default=default,
        metavar="FILE",
        help="config file (default: $MONITOR_CONFIG, else config.yaml)",
    )


def _finish(p: argparse.ArgumentParser) -> None:
    """Every command's --help opens with its one-line description, and every
    command takes the global options after its name too."""
    for action in p._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {a.dest: a.help for a in action._choices_actions}
        for name, sp in action.choices.items():
            if sp.description is None and helps.get(name):
                text = str(helps[name])
                sp.description = text[0].upper() + text[1:] + "."
            nested = any(isinstance(a, argparse._SubParsersAction) for a in sp._actions)
            if nested:
                _finish(sp)
                continue
            have = {o for a in sp._actions for o in a.option_strings}
            if "--log-level" not in have:
                _global_options(sp, top=False)
            if "--config" not in have:
                _config_option(sp, argparse.SUPPRESS)
