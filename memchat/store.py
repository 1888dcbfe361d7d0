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
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import (
    JSON,
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, SQLAlchemyError

from memchat.babi import SPEAKERS, Turn
from memchat.errors import MemchatError
from memchat.locks import ProcessLock

DEFAULT_URL = "sqlite:///memchat.db"

metadata = MetaData()

migrations_table = Table(
    "memchat_migrations",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("applied_at", Float, nullable=False),
)

conversations_table = Table(
    "conversations",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("last_seq", Integer, nullable=False),  # seq of its newest event
)

events_table = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(255), ForeignKey("conversations.id"), nullable=False),
    Column("seq", Integer, nullable=False),  # 1, 2, ... within the conversation
    Column("speaker", String(8), nullable=False),  # user, bot or kb
    Column("text", Text, nullable=False),
    Column("timestamp", Float, nullable=False),
    Column("data", JSON(none_as_null=True), nullable=True),  # no data: SQL NULL, nothing to decode
    # also the index that makes "the last N events of a conversation" one range scan
    UniqueConstraint("conversation_id", "seq", name="uq_events_conversation_seq"),
)


# The migrations of named sets: a plugin's tables get numbered migrations of their own
# (``Store.migrate_set``), as llm's embeddings do, recorded apart from memchat's.
set_migrations_table = Table(
    "memchat_set_migrations",
    metadata,
    Column("set_name", String(100), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("applied_at", Float, nullable=False),
)

Migration = tuple[int, str, Callable[[Connection], None]]  # (version, name, function)


def _migration_1(conn: Connection) -> None:
    for table in (conversations_table, events_table):
        table.create(conn)


def _migration_2(conn: Connection) -> None:
    set_migrations_table.create(conn)


# Append only; a released migration never changes.
MIGRATIONS: list[Migration] = [
    (1, "conversations and events", _migration_1),
    (2, "named migration sets", _migration_2),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
TABLES_OF = {1: (conversations_table, events_table), 2: (set_migrations_table,)}  # what each migration made


# Statements of the hot path, built once: building them per call cost more than running them.
_LAST_SEQ = select(conversations_table.c.last_seq).where(conversations_table.c.id == bindparam("cid"))
_LAST_SEQ_LOCKED = _LAST_SEQ.with_for_update()  # PostgreSQL: appenders to one conversation queue on its row
_NEW_CONVERSATION = insert(conversations_table).values(
    id=bindparam("cid"), created_at=bindparam("now"), updated_at=bindparam("now"), last_seq=0
)
_BUMP = (
    update(conversations_table)
    .where(conversations_table.c.id == bindparam("cid"), conversations_table.c.last_seq == bindparam("old"))
    .values(last_seq=bindparam("new"), updated_at=bindparam("now"))
)
_EVENT_COLUMNS = (
    events_table.c.seq,
    events_table.c.speaker,
    events_table.c.text,
    events_table.c.timestamp,
    events_table.c.data,
)
_RECENT = (
    select(*_EVENT_COLUMNS)
    .where(events_table.c.conversation_id == bindparam("cid"))
    .order_by(events_table.c.seq.desc())
    .limit(bindparam("n"))
)
_AFTER = (
    select(*_EVENT_COLUMNS)
    .where(events_table.c.conversation_id == bindparam("cid"), events_table.c.seq > bindparam("after"))
    .order_by(events_table.c.seq)
)
_INSERT_EVENTS = insert(events_table)
_EVENT_KEYS = ["conversation_id", "seq", "speaker", "text", "timestamp", "data"]


class DriverStatement:
    """A statement of the turn's hot path, compiled once by SQLAlchemy for the store's database
    and run on a cursor of the database's driver (sqlite3, psycopg). SQLAlchemy's own work for
    each execution (a Connection, the statement's cache key, a result object) cost several times
    the query: the read of a conversation's new rows took 163 µs through it, 19 µs so. Values
    go through SQLAlchemy's type processors for that database (JSON in and out), so they are
    what SQLAlchemy itself would bind and return."""

    def __init__(self, stmt, dialect, **compile_kw):
        compiled = stmt.compile(dialect=dialect, **compile_kw)
        self.sql = str(compiled)
        required = {b.key: None for b in compiled.binds.values() if b.required}
        self.template = compiled.construct_params(required)  # every parameter, with its literal value
        self.order = list(compiled.positiontup) if compiled.positional else None
        self.binders = []  # (name, its processor) of each parameter SQLAlchemy would process
        for name in self.template:
            if process := compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect):
                self.binders.append((name, process))
        self.dialect = dialect
        self.columns = list(stmt.selected_columns) if hasattr(stmt, "selected_columns") else []
        self.readers: list | None = None  # (index, its processor) of each column SQLAlchemy would process

    def params(self, values: dict):
        """The driver's parameters for ``values`` (by bind name)."""
        p = {**self.template, **values}
        for name, process in self.binders:
            p[name] = process(p[name])
        return [p[name] for name in self.order] if self.order is not None else p

    def run(self, cursor, values: dict):
        cursor.execute(self.sql, self.params(values))
        return cursor

    def run_many(self, cursor, many: Iterable[dict]) -> None:
        cursor.executemany(self.sql, [self.params(values) for values in many])

    def fetch(self, cursor, values: dict) -> list:
        """The statement's rows for ``values``, each column as SQLAlchemy returns it."""
        rows = self.run(cursor, values).fetchall()
        if self.readers is None:  # on the first rows: a processor may depend on the driver's type code
            readers = []  # made whole, then shared: threads may be here at once
            for i, (column, described) in enumerate(zip(self.columns, cursor.description)):
                if process := column.type.dialect_impl(self.dialect).result_processor(self.dialect, described[1]):
                    readers.append((i, process))
            self.readers = readers
        if not self.readers:
            return rows
        out = []
        for row in rows:
            row = list(row)
            for i, process in self.readers:
                row[i] = process(row[i])
            out.append(row)
        return out


@dataclass(frozen=True, slots=True)
class Event:
    """One stored row of a conversation, read-only (the store shares the events it keeps). The
    model reads ``Turn``s (``Event.turn``): the store
    and the model meet there, and nowhere else."""

    speaker: str  # user, bot or kb
    text: str
    data: dict | None = None
    seq: int = 0  # set by the store
    timestamp: float = 0.0  # set by the store
    conversation_id: str = ""

    def turn(self) -> Turn:
        """What the model reads of this event: speaker and text (its seq in the turn's ``line``)."""
        return Turn(self.speaker, self.text, self.seq)

    def to_dict(self) -> dict:
        return {
            "seq": self.seq,
            "speaker": self.speaker,
            "text": self.text,
            "timestamp": self.timestamp,
            "data": self.data,
        }


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
        self.lock_dir = self.sqlite_path.with_name(self.sqlite_path.name + ".locks") if self.sqlite_path else None
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


@dataclass
class Kept:
    events: list[Event]  # the latest of a conversation, oldest first, seqs without a gap
    whole: bool  # from its first event on


class RecentEvents:
    """The latest events of the conversations a store served last, shared by its threads.

    What is kept is never stale, only short: rows are never changed once stored, and every read
    asks the database for the rows after the last kept one. Bounded: ``EVENTS`` events of each of
    ``CONVERSATIONS`` conversations (a project bot's whole conversation, as long as most are, and
    four times a dialog bAbI bot's memory window of 101)."""

    CONVERSATIONS = 256
    EVENTS = 400

    def __init__(self):
        self._kept: OrderedDict[str, Kept] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, conversation_id: str) -> Kept | None:
        with self._lock:
            kept = self._kept.get(conversation_id)
            if kept is not None:
                self._kept.move_to_end(conversation_id)
            return kept

    def put(self, conversation_id: str, events: list[Event], whole: bool) -> None:
        if events:  # a conversation not stored yet is not kept: any id may be asked for
            with self._lock:
                self._keep(conversation_id, Kept(events[-self.EVENTS :], whole and len(events) <= self.EVENTS))

    def add(self, conversation_id: str, new: list[Event], kept: Kept | None = None) -> list[Event]:
        """Keep ``new`` (events just stored, or just read after ``kept``) after the kept events of
        the conversation; returns them all, a copy. Events that do not follow what is kept
        without a gap (or are not a conversation's first) are not kept, and what was is dropped."""
        with self._lock:
            kept = kept or self._kept.get(conversation_id)
            if kept is None and new and new[0].seq == 1:
                kept = Kept([], True)  # a new conversation
            if kept is None or not new or new[0].seq != (kept.events[-1].seq + 1 if kept.events else 1):
                self._kept.pop(conversation_id, None)
                return list(new)
            events = kept.events + new
            self._keep(conversation_id, Kept(events[-self.EVENTS :], kept.whole and len(events) <= self.EVENTS))
            return events

    def _keep(self, conversation_id: str, kept: Kept) -> None:
        self._kept[conversation_id] = kept
        self._kept.move_to_end(conversation_id)
        while len(self._kept) > self.CONVERSATIONS:
            self._kept.popitem(last=False)


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


def database_trouble(error: Exception) -> str:
    """What went wrong with the database, on one line, no SQL and no password: "database or disk
    is full", "connection refused"..."""
    orig = getattr(error, "orig", None) or error
    text = " ".join(str(orig).split("\n")[0].split()) or type(orig).__name__
    return hide_password(text)[:300]


_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+(@)")


def hide_password(text: str) -> str:
    """``text`` with the password of any URL in it as ``***``."""
    return _PASSWORD.sub(r"\1***\2", text)


def resolve_url(db: str | None) -> str:
    """The store URL: ``--db``, else ``MEMCHAT_DB``, else ./memchat.db. A plain path means SQLite."""
    value = db or os.environ.get("MEMCHAT_DB") or DEFAULT_URL
    if "://" not in value:
        value = f"sqlite:///{Path(value).resolve()}"
    return value
