"""The `monitor` command: the parser in parser.py, one module per family of
commands: run.py, rules.py, state.py and replay.py."""

from __future__ import annotations

import sys

from monitor import log
from monitor.cli.common import bundled_rules_dir
from monitor.cli.parser import build_parser
from monitor.cli.state import health_url, source_rows
from monitor.store import StoreError, StoreUnavailable

__all__ = ["build_parser", "bundled_rules_dir", "health_url", "main", "source_rows"]


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
