"""The dialog bAbI knowledge base in the store's database: the ``kb_facts`` table, its migration
set ("kb"), loading a KB file into it and running an ``api_call`` on it (``plugins/kb.py``'s hooks
import this module when one is loaded or run, so building the plugin manager, which every command
does, imports no SQLAlchemy).
"""

from __future__ import annotations

import weakref
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, delete, insert, intersect, select

from memchat.babi.files import read_kb
from memchat.babi.kbquery import by_restaurant, parse_call, result_lines

metadata = MetaData()
kb_facts = Table(
    "kb_facts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # file order
    Column("restaurant", String(255), nullable=False, index=True),
    Column("relation", String(64), nullable=False),
    Column("value", String(255), nullable=False),
)

# The plugin's own numbered migrations (the store's named set "kb"): append only.
MIGRATIONS = [
    (1, "kb_facts", lambda conn: kb_facts.create(conn, checkfirst=True)),  # adopts a table made before sets
]

_ready: weakref.WeakSet = weakref.WeakSet()  # engines whose migrations are known to be applied


def ensure_table(store) -> None:
    """Apply the plugin's migrations if missing; checked once per engine, not on every api call."""
    if store.engine not in _ready:
        store.migrate_set("kb", MIGRATIONS)
        _ready.add(store.engine)


def load(store, path: str | Path) -> int:
    """Replace the knowledge base with the facts of ``path``; returns how many there are."""
    facts = read_kb(Path(path))
    ensure_table(store)
    with store.engine.begin() as conn:
        conn.execute(delete(kb_facts))
        if facts:
            conn.execute(
                insert(kb_facts), [{"restaurant": f.subject, "relation": f.relation, "value": f.value} for f in facts]
            )
    return len(facts)


def query(store, action: str) -> list[str] | None:
    """The result lines of an api call, or None when ``action`` is not one this plugin knows."""
    wanted = parse_call(action)
    if wanted is None:
        return None
    ensure_table(store)
    rows_query = select(kb_facts.c.restaurant, kb_facts.c.relation, kb_facts.c.value).order_by(kb_facts.c.id)
    if wanted:
        matching = [
            select(kb_facts.c.restaurant).where(kb_facts.c.relation == rel, kb_facts.c.value == value)
            for rel, value in wanted
        ]
        rows_query = rows_query.where(
            kb_facts.c.restaurant.in_(intersect(*matching) if len(matching) > 1 else matching[0])
        )
    with store.reader() as conn:
        rows = conn.execute(rows_query).all()
    return result_lines(by_restaurant(rows), len(action.split()) - 1)
