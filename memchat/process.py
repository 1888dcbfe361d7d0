"""What memchat does to its own process as it starts: no garbage collection while it loads, and
numpy's BLAS on one thread.

Loading makes hundreds of thousands of objects and no garbage worth collecting, yet the
collector ran over them again and again (a tenth of a second of a half-second start here).
After loading, what loaded is frozen (``gc.freeze``): it lives as long as the process, so later
collections, on every turn, skip it, and so does Python's last one at exit.

numpy's OpenBLAS starts a thread per core as numpy is imported, and they spin: 0.11 s of CPU
beside a 0.16 s import here, for a live path of products with a 64-number state, where one thread
is as fast (task 5's live reply: 0.33 ms median either way), and N threads more in each of
``--workers N``. A process that loads a bot to answer (``quick_start``: serve and its workers,
the repl) sets ``OPENBLAS_NUM_THREADS`` to 1 unless the user set it; training keeps numpy's
threads (torch has its own).

Only a process that is memchat's own is tuned (the ``memchat`` command, ``begin``; a server's worker,
``quick_start(own_process=True)``): a program that runs memchat inside itself keeps its collector.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading

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
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported; serve's workers inherit it
    _import_libraries()
    try:
        yield
    finally:
        _freeze()


def _import_libraries() -> None:
    """The libraries a loaded bot runs on, imported first, at the bottom of a call stack of
    their own (a thread that does only this; the caller waits).

    CPython 3.11 keeps Python frames in 16 KB chunks and frees a chunk the moment it empties.
    Where a package's import starts on the stack decides how often its nested calls step across
    a chunk's edge, an mmap and a munmap each: numpy imported from memchat.project.spec cost
    3,000 of them in a repl's start, 30 ms; SQLAlchemy imported by the knowledge-base plugin under
    the command line's frames (click's dispatch) 762 in serve's start, against 136-174 from a
    new thread's empty stack, the depth a ``python -c`` import has (``strace -e mmap -k``)."""
    importer = threading.Thread(target=_import_quietly, name="memchat-imports", daemon=True)
    importer.start()
    importer.join()


def _import_quietly() -> None:
    try:
        import numpy  # noqa: F401
        import sqlalchemy  # noqa: F401
        import sqlalchemy.dialects.sqlite  # noqa: F401  (what a SQLite store's engine loads)
    except Exception:  # a missing or broken library: the import that needs it fails again, in
        pass  # the thread that asked, and says so there (never a traceback from this thread)


def _freeze() -> None:
    gc.freeze()
    gc.enable()
