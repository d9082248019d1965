"""SIGTERM and SIGINT from the first instant: the handlers are installed
before the rest of the program is imported (which takes a second or more),
so a `docker stop` during start-up is a clean stop, exit 0, not a kill.

Standard library only: this module is imported first of all."""

from __future__ import annotations

import os
import signal
import threading

STOP = threading.Event()
received: list[int] = []
installed: list[bool] = []
_HANDLED = (signal.SIGTERM, signal.SIGINT)


def _early(signum, frame) -> None:
    if STOP.is_set():
        os._exit(128 + signum)  # a second signal: leave at once
    received.append(signum)
    STOP.set()


def started_as_program(argv0: str) -> bool:
    """The `monitor` script or `python -m monitor`, not a program (a test
    runner) that imports the package and owns its signals."""
    name = os.path.basename(argv0)
    return name == "monitor" or argv0.endswith(os.path.join("monitor", "__main__.py"))


def install_early() -> None:
    """Remember a stop signal until the command decides what it means."""
    if threading.current_thread() is not threading.main_thread():
        return  # main() called from a thread (tests): signals are not ours
    for sig in _HANDLED:
        signal.signal(sig, _early)
    installed.append(True)


def restore_defaults() -> None:
    """For the commands that do not stop gracefully: the usual behaviour,
    and a signal that came meanwhile acts now as it would have then."""
    if not installed or threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if received:
        signal.raise_signal(received[0])
