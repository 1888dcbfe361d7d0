"""The store's tables and the numbered migrations that make them (memchat's own, and the
record of plugins' named sets)."""

from __future__ import annotations

from collections.abc import Callable

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
)
from sqlalchemy.engine import Connection

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
