"""The conversation store: an append-only table of events, in the spirit of Rasa's SQL tracker store.

Every user turn, bot reply and knowledge-base result is one row of ``events``, numbered per
conversation (``seq``, unique with the conversation id, so a turn can never be stored twice or
out of order); ``conversations`` holds one row per conversation with its last ``seq``. The
schema is created by numbered migrations recorded in ``memchat_migrations``.

SQLite is the default (WAL journal, busy timeout, ``BEGIN IMMEDIATE`` for writes so that
concurrent writers queue instead of failing); any SQLAlchemy URL works.

Rows are never changed once written, so a store keeps the latest events of the conversations it
served last (``RecentEvents``) and asks the database only for the rows after them: a turn read
its conversation's last hundred events again each time, a quarter of its time in process.

A turn's own statements (reading a conversation's new rows, appending a turn) are compiled by
SQLAlchemy once and run on the database driver's cursor (``DriverStatement``), on a connection
from the engine's pool: SQLAlchemy's work around each execution had become more than a quarter
of a turn. Everything else (migrations, listings, plugins' tables) goes through SQLAlchemy.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import (
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, SQLAlchemyError

from memchat.dialogs import SPEAKERS
from memchat.errors import MemchatError
from memchat.store.event import Event
from memchat.store.locks import ProcessLock, lock_dir_of
from memchat.store.recent import Kept, RecentEvents
from memchat.store.schema import (
    MIGRATIONS,
    TABLES_OF,
    Migration,
    conversations_table,
    migrations_table,
    set_migrations_table,
)
from memchat.store.statements import (
    _AFTER,
    _BUMP,
    _EVENT_KEYS,
    _INSERT_EVENTS,
    _LAST_SEQ,
    _LAST_SEQ_LOCKED,
    _NEW_CONVERSATION,
    _RECENT,
    DriverStatement,
)
from memchat.store.urls import database_trouble, hide_password


@dataclass
class Store:
    """A conversation store on one database; thread-safe, and several processes may share it."""

    url: str
    adopt: bool = False  # add memchat's tables to a database that holds other tables (also $MEMCHAT_ADOPT_DB=1)
    engine: Engine = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            url = make_url(self.url)
        except ArgumentError:
            raise MemchatError(
                f"database URL '{hide_password(self.url)}': not a SQLAlchemy URL (e.g. sqlite:///memchat.db)"
            ) from None
        if url.drivername == "postgresql":  # SQLAlchemy's default is psycopg2; memchat[postgres] is psycopg 3
            url = url.set(drivername="postgresql+psycopg")
        self.is_sqlite = url.get_backend_name() == "sqlite"
        self.sqlite_path: Path | None = None
        if self.is_sqlite and url.database and url.database != ":memory:" and not url.database.startswith("file:"):
            self.sqlite_path = Path(url.database).resolve()
            if not self.sqlite_path.parent.is_dir():
                raise MemchatError(f"database {self.sqlite_path}: its folder does not exist")
        try:
            if self.is_sqlite:
                # one connection per thread; a long busy timeout makes writers wait for the lock
                self.engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})
                _sqlite_pragmas(self.engine)
            else:
                self.engine = create_engine(url, pool_pre_ping=True)
        except ImportError as e:
            extra = " (pip install 'memchat[postgres]')" if url.get_backend_name() == "postgresql" else ""
            raise MemchatError(f"database {self.shown}: its driver is not installed: {e.name or e}{extra}") from None
        except (ArgumentError, SQLAlchemyError) as e:
            raise MemchatError(f"database {self.shown}: {database_trouble(e)}") from None
        self.lock_dir = lock_dir_of(self.sqlite_path) if self.sqlite_path else None
        self._writer = ProcessLock(self.lock_dir / "writer" if self.lock_dir else None)
        self.kept = RecentEvents()
        self.migrate()

    # ---- schema -------------------------------------------------------------------------
    def migrate(self) -> None:
        """Apply the migrations this database lacks; refuse a newer or a foreign database."""
        with self._migrating():
            with self.engine.begin() as conn:
                names = set(inspect(conn).get_table_names())
                if "memchat_migrations" not in names:
                    if names & {"events", "conversations"}:
                        raise MemchatError(
                            f"database {self.shown}: has an 'events' or 'conversations' table but no "
                            "memchat_migrations table: not a memchat store"
                        )
                    if names and not (self.adopt or os.environ.get("MEMCHAT_ADOPT_DB") == "1"):
                        raise MemchatError(
                            f"database {self.shown}: holds other tables ({', '.join(sorted(names)[:3])}) and no "
                            "memchat store; to add memchat's tables to it, set MEMCHAT_ADOPT_DB=1"
                        )
                    migrations_table.create(conn)
                done = set(conn.scalars(select(migrations_table.c.version)))
                missing = {t.name for v, tables in TABLES_OF.items() if v in done for t in tables} - names
                if missing:
                    raise MemchatError(
                        f"database {self.shown}: damaged: its migrations are recorded but table "
                        f"'{sorted(missing)[0]}' is missing"
                    )
                self._apply(
                    conn,
                    "",
                    done,
                    MIGRATIONS,
                    lambda v, name: insert(migrations_table).values(version=v, name=name, applied_at=time.time()),
                )

    def migrate_set(self, set_name: str, migrations: Sequence[Migration]) -> None:
        """Apply the migrations of a named set (a plugin's tables) that this database lacks.

        Each set is numbered on its own from 1 and recorded in ``memchat_set_migrations``; a first
        migration that creates its tables with ``checkfirst=True`` adopts tables made before."""
        with self._migrating():
            with self.engine.begin() as conn:
                done = set(
                    conn.scalars(
                        select(set_migrations_table.c.version).where(set_migrations_table.c.set_name == set_name)
                    )
                )
                self._apply(
                    conn,
                    f"migration set '{set_name}' ",
                    done,
                    migrations,
                    lambda v, name: insert(set_migrations_table).values(
                        set_name=set_name, version=v, name=name, applied_at=time.time()
                    ),
                )

    def _apply(
        self,
        conn: Connection,
        what: str,
        done: set[int],
        migrations: Sequence[Migration],
        record: Callable[[int, str], object],
    ) -> None:
        newest, known = max(done, default=0), max((v for v, _, _ in migrations), default=0)
        if newest > known:
            raise MemchatError(
                f"database {self.shown}: {what}schema version {newest} was written by a newer memchat; "
                f"this one knows up to version {known}: upgrade memchat"
            )
        for version, name, apply in migrations:
            if version not in done:
                apply(conn)
                conn.execute(record(version, name))

    @contextmanager
    def _migrating(self) -> Iterator[None]:
        try:
            yield
        except IntegrityError:
            pass  # another process applied the same migration at the same moment
        except SQLAlchemyError as e:
            raise MemchatError(f"database {self.shown}: {database_trouble(e)}") from None

    @property
    def shown(self) -> str:
        return str(self.sqlite_path) if self.sqlite_path else make_url(self.url).render_as_string(hide_password=True)

    def schema_version(self) -> int:
        with self.reader() as conn:
            return conn.scalar(select(func.max(migrations_table.c.version))) or 0

    # ---- writing ------------------------------------------------------------------------
    def append(self, conversation_id: str, new: Sequence[Event], after: int | None = None) -> list[Event]:
        """Append events to a conversation (created if new) in one transaction; returns them numbered.

        ``after``: the conversation's last seq, when the caller knows it (it holds the
        conversation's lock and has just read or written it): saves a query. Should it be wrong,
        the append fails its check and is retried with the seq read from the database."""
        for attempt in range(10):
            try:
                with self._writer.hold(), self._driver() as cursor:
                    out = self._append(cursor, conversation_id, new, after)
                if out:
                    self.kept.add(conversation_id, out)  # committed
                return out
            except IntegrityError:
                # another process created the conversation or took these seq numbers first
                if attempt == 9:
                    raise
                after = None
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise AssertionError("unreachable")

    def _append(self, cursor, conversation_id: str, new: Sequence[Event], last: int | None) -> list[Event]:
        """One transaction on the driver's ``cursor``: committed whole, or rolled back."""
        for e in new:
            if e.speaker not in SPEAKERS:
                raise ValueError(f"speaker must be one of {SPEAKERS}, got {e.speaker!r}")
        if self.is_sqlite:
            cursor.execute("BEGIN IMMEDIATE")  # writers queue on the busy timeout (_sqlite_pragmas)
        hot = self._hot
        try:
            now = time.time()
            if last is None:
                row = hot.last_seq.run(cursor, {"cid": conversation_id}).fetchone()
                last = row[0] if row else None
            if last is None:
                hot.new_conversation.run(cursor, {"cid": conversation_id, "now": now})
                last = 0
            out = [Event(e.speaker, e.text, e.data, last + i, now, conversation_id) for i, e in enumerate(new, start=1)]
            if out:
                values = ((conversation_id, e.seq, e.speaker, e.text, now, e.data) for e in out)
                hot.insert_events.run_many(cursor, (dict(zip(_EVENT_KEYS, v)) for v in values))
                # the WHERE on last_seq makes a concurrent writer fail here instead of interleaving
                bump = {"cid": conversation_id, "old": last, "new": last + len(out), "now": now}
                if hot.bump.run(cursor, bump).rowcount != 1:
                    raise IntegrityError("concurrent append", None, Exception("last_seq moved"))
            cursor.connection.commit()
            return out
        except BaseException:
            with suppress(self._dbapi.Error):  # a connection gone cannot roll back; the pool drops it
                cursor.connection.rollback()
            raise

    @cached_property
    def _hot(self) -> SimpleNamespace:
        """The hot path's statements (``DriverStatement``), compiled for this database on first use."""
        d = self.engine.dialect
        return SimpleNamespace(
            last_seq=DriverStatement(_LAST_SEQ if self.is_sqlite else _LAST_SEQ_LOCKED, d),
            new_conversation=DriverStatement(_NEW_CONVERSATION, d),
            insert_events=DriverStatement(_INSERT_EVENTS, d, column_keys=_EVENT_KEYS, for_executemany=True),
            bump=DriverStatement(_BUMP, d),
            recent=DriverStatement(_RECENT, d),
            after=DriverStatement(_AFTER, d),
        )

    @cached_property
    def _dbapi(self):
        return self.engine.dialect.loaded_dbapi

    @contextmanager
    def _driver(self) -> Iterator:
        """A cursor on a connection of the database's driver, from the engine's pool (checked
        before use, rolled back when returned); the driver's errors are raised as SQLAlchemy's,
        which memchat handles everywhere, and a connection they say is gone is dropped."""
        fairy = self.engine.raw_connection()
        cursor = None
        try:
            cursor = fairy.cursor()
            yield cursor
        except self._dbapi.Error as e:
            gone = self.engine.dialect.is_disconnect(e, fairy.dbapi_connection, cursor)
            if gone:
                fairy.invalidate(e)
            raise DBAPIError.instance(
                None, None, e, self._dbapi.Error, connection_invalidated=gone, dialect=self.engine.dialect
            ) from e
        finally:
            if cursor is not None:
                with suppress(self._dbapi.Error):
                    cursor.close()
            fairy.close()

    # ---- reading ------------------------------------------------------------------------
    def recent(self, conversation_id: str, n: int) -> list[Event]:
        """The last ``n`` events of a conversation, oldest first."""
        kept = self.kept.get(conversation_id)
        if kept is not None and (kept.whole or len(kept.events) >= n):
            return self._fresh(conversation_id, kept)[-n:]
        with self._driver() as cursor:  # one indexed range scan
            rows = self._hot.recent.fetch(cursor, {"cid": conversation_id, "n": n})
        events = _to_events(conversation_id, reversed(rows))
        self.kept.put(conversation_id, events, whole=len(events) < n)
        return events

    def events(self, conversation_id: str, after: int = 0) -> list[Event]:
        """Every event of a conversation with a seq above ``after``, oldest first."""
        kept = self.kept.get(conversation_id)
        if kept is not None and (kept.whole or kept.events[0].seq <= after + 1):
            events = self._fresh(conversation_id, kept)  # never empty: what is kept is not
            return events[max(0, after - events[0].seq + 1) :]
        events = self._after(conversation_id, after)
        if after == 0:
            self.kept.put(conversation_id, events, whole=True)
        return events

    def _fresh(self, conversation_id: str, kept: Kept) -> list[Event]:
        """The kept events with what was stored after them (by another worker, say): a copy."""
        new = self._after(conversation_id, kept.events[-1].seq)
        return self.kept.add(conversation_id, new, kept) if new else list(kept.events)

    def _after(self, conversation_id: str, after: int) -> list[Event]:
        with self._driver() as cursor:
            rows = self._hot.after.fetch(cursor, {"cid": conversation_id, "after": after})
        return _to_events(conversation_id, rows)

    def exists(self, conversation_id: str) -> bool:
        with self.reader() as conn:
            return (
                conn.scalar(select(conversations_table.c.id).where(conversations_table.c.id == conversation_id))
                is not None
            )

    def conversations(self, limit: int = 20) -> list[tuple[str, int, float]]:
        """(id, events, last update) of the most recently updated conversations."""
        query = (
            select(conversations_table.c.id, conversations_table.c.last_seq, conversations_table.c.updated_at)
            .order_by(conversations_table.c.updated_at.desc())
            .limit(limit)
        )
        with self.reader() as conn:
            return [tuple(r) for r in conn.execute(query)]

    def reader(self) -> Connection:
        """A connection for reads, each one statement: on SQLite outside any transaction (every
        statement sees one snapshot), so a read never waits for writers nor holds them up."""
        return self.engine.connect().execution_options(memchat_read=True)

    def close(self) -> None:
        self.engine.dispose()
        self._writer.close()


def _to_events(conversation_id: str, rows: Iterable) -> list[Event]:
    """Events from rows of ``_EVENT_COLUMNS``."""
    return [Event(speaker, text, data, seq, timestamp, conversation_id) for seq, speaker, text, timestamp, data in rows]


def _sqlite_pragmas(engine: Engine) -> None:
    """WAL (readers never wait for the writer), and BEGIN IMMEDIATE for every transaction: a
    deferred transaction that reads then writes can fail with "database is locked" at once
    instead of waiting, whereas an immediate one queues on the busy timeout."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a commit survives a process crash
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        if not conn.get_execution_options().get("memchat_read"):  # a read is one statement: no BEGIN
            conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE")  # Store._append issues its own
