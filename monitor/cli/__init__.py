"""The `monitor` command: the parser in parser.py, one module per family of
commands: run.py, rules.py, state.py and replay.py."""

from __future__ import annotations

import os
import sys
import warnings

from monitor.cli import signals, startup

if signals.started_as_program(sys.argv[0]):
    signals.install_early()  # before the imports below, which take a while
    startup.hold()

from monitor import log  # noqa: E402
from monitor.cli.common import bundled_rules_dir  # noqa: E402
from monitor.cli.parser import build_parser  # noqa: E402
from monitor.cli.state import health_url, source_rows  # noqa: E402
from monitor.store import StoreError, StoreUnavailable  # noqa: E402

# run and once stop gracefully on SIGTERM/SIGINT; every other command
# behaves as commands do
GRACEFUL = ("run", "once")
# Commands that end start-up themselves (startup.done()) once loaded; check
# is all start-up and exits.
STARTING = ("run", "once", "check")

__all__ = ["build_parser", "bundled_rules_dir", "health_url", "main", "source_rows"]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command not in GRACEFUL:
        signals.restore_defaults()
    if args.command not in STARTING:
        startup.done()
    args.config_given = args.config is not None or "MONITOR_CONFIG" in os.environ
    if args.config is None:
        args.config = os.environ.get("MONITOR_CONFIG") or "config.yaml"
    log.setup(args.log_level or "info", fmt=args.log_format or "text")
    # A library's warning (a parser guessing, a deprecation) is for the
    # developers: a debug log line, never text on the user's terminal.
    warnings.showwarning = _warning_to_log
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


def _warning_to_log(message, category, filename, lineno, file=None, line=None) -> None:
    log.event(
        "library.warning",
        level="debug",
        category=category.__name__,
        message=str(message).strip().splitlines()[0] if str(message).strip() else "",
        at=f"{os.path.basename(filename)}:{lineno}",
    )


if __name__ == "__main__":
    sys.exit(main())
