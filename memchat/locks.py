"""Per-conversation locks across threads and processes: one turn of a conversation at a time.

A conversation id hashes to one of ``STRIPES`` locks. Inside a process that is a thread lock;
across processes sharing a SQLite file it is also an exclusive ``flock`` on a lock file beside
the database (``<db>.locks/NN``). Two conversations share a stripe rarely, and then merely
take turns. Other databases get the thread locks only: processes sharing a PostgreSQL store
still never store a turn twice or out of order (the store's unique ``seq`` sees to it), but
their turns for one conversation may interleave.
"""

from __future__ import annotations

import os
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: thread locks only
    fcntl = None

STRIPES = 64


class ConversationLocks:
    def __init__(self, lock_dir: Path | None = None):
        self._threads = [threading.Lock() for _ in range(STRIPES)]
        self._dir = lock_dir if fcntl is not None else None
        self._files: dict[int, int] = {}  # stripe -> open file descriptor, opened on first use
        self._files_lock = threading.Lock()
        if self._dir is not None:
            self._dir.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def stripe(conversation_id: str) -> int:
        return zlib.crc32(conversation_id.encode("utf-8", "surrogatepass")) % STRIPES

    def _fd(self, stripe: int) -> int:
        with self._files_lock:
            fd = self._files.get(stripe)
            if fd is None:
                fd = self._files[stripe] = os.open(self._dir / f"{stripe:02d}", os.O_RDWR | os.O_CREAT, 0o644)
            return fd

    @contextmanager
    def hold(self, conversation_id: str) -> Iterator[None]:
        s = self.stripe(conversation_id)
        with self._threads[s]:
            if self._dir is None:
                yield
                return
            fd = self._fd(s)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._files_lock:
            for fd in self._files.values():
                os.close(fd)
            self._files.clear()
