"""Locks across threads and processes: one turn of a conversation at a time, one writer at a time.

``ProcessLock`` is a thread lock and, across processes sharing a SQLite file, an exclusive
``flock`` on a lock file in the user's cache folder, one folder per database file
(``lock_dir_of``: nothing is left beside the database or in the working directory). A process
waiting on ``flock`` wakes the moment the holder lets go, whereas SQLite's own busy handler polls
with sleeps of up to 100 ms: queueing writers on a ``ProcessLock`` first keeps the tail latency
of a busy store low.

``ConversationLocks``: a conversation id hashes to one of ``STRIPES`` process locks. Two
conversations share a stripe rarely, and then merely take turns.

``AdvisoryLocks``: on PostgreSQL, a session advisory lock per conversation, taken on a pooled
connection for the turn: every process on every host that shares the database waits for it, and
the server lets go of it when the holder's connection ends (a node killed mid-turn frees it).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
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
                self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
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


class AdvisoryLocks:
    """One turn of a conversation at a time across hosts: PostgreSQL's ``pg_advisory_lock`` on a
    64-bit key hashed from the conversation id, after this process's own stripe lock (so that a
    process's threads queue on a thread lock, not on pooled connections)."""

    def __init__(self, engine):
        from sqlalchemy import text

        self.engine = engine
        self._local = ConversationLocks(None)
        self._lock = text("SELECT pg_advisory_lock(:key)")
        self._unlock = text("SELECT pg_advisory_unlock(:key)")

    @staticmethod
    def key(conversation_id: str) -> int:
        digest = hashlib.blake2b(conversation_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        return int.from_bytes(digest, "big", signed=True)

    @contextmanager
    def hold(self, conversation_id: str) -> Iterator[None]:
        key = {"key": self.key(conversation_id)}
        with self._local.hold(conversation_id):
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(self._lock, key)
                try:
                    yield
                finally:
                    conn.execute(self._unlock, key)

    def close(self) -> None:
        self._local.close()


def lock_dir_of(database: Path) -> Path:
    """Where the lock files of a SQLite file live: ``$XDG_CACHE_HOME/memchat/locks/<hash>`` (by
    default ``~/.cache``; the temporary folder where there is no home), the hash of the file's
    resolved path, so every process that opens the same file takes the same locks."""
    cache = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache" if Path.home().is_dir() else None)
    root = Path(cache) if cache else Path(tempfile.gettempdir()) / f"memchat-{os.getuid()}"
    digest = hashlib.sha256(str(Path(database).resolve()).encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return root / "memchat" / "locks" / digest


def default_locks(store) -> LockProvider:
    """Advisory locks on PostgreSQL; file locks beside a SQLite file; thread locks otherwise."""
    if store.engine.dialect.name == "postgresql":
        return AdvisoryLocks(store.engine)
    return ConversationLocks(store.lock_dir)
