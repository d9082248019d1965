"""The collector during start-up.

Start-up (the imports, the config, the rules, the state opened) makes a few
hundred thousand objects, and nearly all of them live as long as the
process. Python's cyclic collector, run every few hundred allocations,
walks them again and again while they are being made (loading a config of
2,000 sources took 91 ms of CPU with it, 54 ms without). So a program run
(not a test importing the package) holds the collector until its command
has started, then freezes what start-up built (later collections of a
long run need not walk it) and turns the collector back on. The loaders
leave no garbage in cycles; what the imports leave (a few hundred objects)
stays frozen with the rest.
"""

from __future__ import annotations

import gc

_held: list[bool] = []


def hold() -> None:
    """No cyclic collection until done(); only for a program run."""
    if gc.isenabled():
        gc.disable()
        _held.append(True)


def done() -> None:
    """Start-up is over: what it built is kept out of later collections,
    and the collector runs again. Does nothing unless hold() held it."""
    if _held:
        _held.clear()
        gc.freeze()
        gc.enable()
