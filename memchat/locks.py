"""Locks across threads and processes: one turn of a conversation at a time, one writer at a time.

``ProcessLock`` is a thread lock and, across processes sharing a SQLite file, an exclusive
``flock`` on a lock file in ``<db>.locks/``. A process waiting on ``flock`` wakes the moment the
holder lets go, whereas SQLite's own busy handler polls with sleeps of up to 100 ms: queueing
writers on a ``ProcessLock`` first keeps the tail latency of a busy store low.

``ConversationLocks``: a conversation id hashes to one of ``STRIPES`` process locks. Two
conversations share a stripe rarely, and then merely take turns. Other databases get the thread
locks only: processes sharing a PostgreSQL store still never store a turn twice or out of order
(the store's unique ``seq`` sees to it), but their turns for one conversation may interleave.
"""

from __future__ import annotations

import os
import threading
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

try:
    import fcntl
except ImportError:  # Windows: thread locks only
    fcntl = None

STRIPES = 64


class LockProvider(Protocol):
    """What the dialogue manager needs of a lock: hold a conversation while one turn runs.
    ``ConversationLocks`` is the default (file locks beside a SQLite store); a lock that holds
    across hosts (a database's advisory locks, say) plugs in the same way."""

    def hold(self, conversation_id: str) -> AbstractContextManager[None]: ...

    def close(self) -> None: ...


class ProcessLock:
    def __init__(self, path: Path | None = None):
        self._thread = threading.Lock()
        self._path = path if fcntl is not None else None
        self._fd: int | None = None  # opened on first use, under the thread lock

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._thread:
            if self._path is None:
                yield
                return
            if self._fd is None:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._thread:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class ConversationLocks:
    def __init__(self, lock_dir: Path | None = None):
        self._stripes = [ProcessLock(lock_dir / f"{s:02d}" if lock_dir else None) for s in range(STRIPES)]

    @staticmethod
    def stripe(conversation_id: str) -> int:
        return zlib.crc32(conversation_id.encode("utf-8", "surrogatepass")) % STRIPES

    def hold(self, conversation_id: str):
        return self._stripes[self.stripe(conversation_id)].hold()

    def close(self) -> None:
        for lock in self._stripes:
            lock.close()
