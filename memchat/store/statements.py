"""The statements of a turn's hot path, compiled by SQLAlchemy once and run on the driver's cursor."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import (
    bindparam,
    insert,
    select,
    update,
)

from memchat.store.schema import conversations_table, events_table

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
