"""What memchat does to its own process as it starts: no garbage collection while it loads.

Loading makes hundreds of thousands of objects and no garbage worth collecting, yet the
collector ran over them again and again (a tenth of a second of a half-second start here).
After loading, what loaded is frozen (``gc.freeze``): it lives as long as the process, so later
collections, on every turn, skip it, and so does Python's last one at exit. Only a process that
is memchat's own is tuned (the ``memchat`` command, ``begin``; a server's worker,
``quick_start(own_process=True)``): a program that runs memchat inside itself keeps its collector.
"""

from __future__ import annotations

import contextlib
import gc

_own = False  # this process is the memchat command (begin)


def begin() -> None:
    """The memchat command starts: no collection until a command is chosen (``settle``)."""
    global _own
    _own = True
    gc.disable()


def settle() -> None:
    """Loading is over: freeze what loaded and collect again (in memchat's own process only)."""
    if _own:
        _freeze()


@contextlib.contextmanager
def quick_start(own_process: bool = False):
    """No collection while the modules and the bundle load, then ``settle``."""
    if not (own_process or _own):
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        _freeze()


def _freeze() -> None:
    gc.freeze()
    gc.enable()
