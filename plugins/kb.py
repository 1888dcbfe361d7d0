"""The knowledge-base plugin: dialog bAbI restaurant facts in the store's database, and api calls run on them.

``load_knowledge_base`` reads a dialog bAbI KB file (``1 resto_x R_cuisine<TAB>italian``) into
the ``kb_facts`` table, replacing what was there. ``execute_action`` answers an
``api_call ...`` reply with result lines in the dataset's form (``resto_x R_cuisine italian``,
one line per fact, the relations of a restaurant in the dataset's order) or
``api_call no result``:

- tasks 1-5: ``api_call CUISINE LOCATION PARTY_SIZE PRICE``, every field must match;
- task 6 (DSTC2): ``api_call CUISINE LOCATION PRICE``, where a field given as its relation
  name (``R_location``) means "any".

Restaurants come in the knowledge-base file's order (the dataset shuffles them).
"""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import Column, Integer, MetaData, String, Table, delete, insert, intersect, select

from memchat.dialogs import read_kb
from memchat.hookspecs import hookimpl

metadata = MetaData()
kb_facts = Table(
    "kb_facts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # file order
    Column("restaurant", String(255), nullable=False, index=True),
    Column("relation", String(64), nullable=False),
    Column("value", String(255), nullable=False),
)

# The fields of an api call, by its number of arguments, and the order of a restaurant's result lines.
CALL_FIELDS = {
    4: ("R_cuisine", "R_location", "R_number", "R_price"),  # dialog bAbI tasks 1-5
    3: ("R_cuisine", "R_location", "R_price"),  # task 6, DSTC2
}
RESULT_ORDER = {
    4: ("R_phone", "R_cuisine", "R_address", "R_location", "R_number", "R_price", "R_rating"),
    3: ("R_post_code", "R_cuisine", "R_location", "R_phone", "R_address", "R_price", "R_rating"),
}
NO_RESULT = "api_call no result"


def ensure_table(store) -> None:
    metadata.create_all(store.engine, checkfirst=True)


def load(store, path: str | Path) -> int:
    """Replace the knowledge base with the facts of ``path``; returns how many there are."""
    facts = read_kb(Path(path))
    ensure_table(store)
    with store.engine.begin() as conn:
        conn.execute(delete(kb_facts))
        if facts:
            conn.execute(insert(kb_facts), [
                {"restaurant": f.subject, "relation": f.relation, "value": f.value} for f in facts
            ])
    return len(facts)


def query(store, action: str) -> list[str] | None:
    """The result lines of an api call, or None when ``action`` is not one this plugin knows."""
    words = action.split()
    if not words or words[0] != "api_call" or len(words) - 1 not in CALL_FIELDS:
        return None
    args = words[1:]
    wanted = [(rel, value) for rel, value in zip(CALL_FIELDS[len(args)], args) if value != rel]
    ensure_table(store)
    if wanted:
        matching = intersect(*[
            select(kb_facts.c.restaurant).where(kb_facts.c.relation == rel, kb_facts.c.value == value)
            for rel, value in wanted
        ]) if len(wanted) > 1 else select(kb_facts.c.restaurant).where(
            kb_facts.c.relation == wanted[0][0], kb_facts.c.value == wanted[0][1])
        rows_query = select(kb_facts).where(kb_facts.c.restaurant.in_(matching)).order_by(kb_facts.c.id)
    else:
        rows_query = select(kb_facts).order_by(kb_facts.c.id)
    with store.engine.connect().execution_options(memchat_read=True) as conn:
        rows = conn.execute(rows_query).all()
    restaurants: dict[str, dict[str, str]] = {}
    for r in rows:
        restaurants.setdefault(r.restaurant, {})[r.relation] = r.value
    order = RESULT_ORDER[len(args)]
    lines = []
    for name, rels in restaurants.items():
        ranked = sorted(rels, key=lambda rel: order.index(rel) if rel in order else len(order))
        lines += [f"{name} {rel} {rels[rel]}" for rel in ranked]
    return lines or [NO_RESULT]


@hookimpl
def load_knowledge_base(store, path):
    return load(store, path)


@hookimpl
def execute_action(store, conversation_id, action):
    return query(store, action)


@hookimpl
def register_commands(cli):
    @cli.group()
    def kb():
        """The knowledge base that api_call replies run against."""

    @kb.command(name="load")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--db", help="Store: a SQLAlchemy URL or a SQLite file  [default: $MEMCHAT_DB or ./memchat.db]")
    def load_command(file: Path, db: str | None):
        """Load a dialog bAbI knowledge-base FILE into the store's database (replacing the old one)."""
        from memchat.store import Store, resolve_url

        store = Store(resolve_url(db))
        click.echo(f"{load(store, file)} facts loaded from {file} into {store.shown}")

    @kb.command(name="query")
    @click.argument("action")
    @click.option("--db", help="Store: a SQLAlchemy URL or a SQLite file  [default: $MEMCHAT_DB or ./memchat.db]")
    def query_command(action: str, db: str | None):
        """Run an api call, e.g. 'api_call italian paris six cheap', and print its result lines."""
        from memchat.store import Store, resolve_url

        lines = query(Store(resolve_url(db)), action)
        if lines is None:
            raise click.ClickException(f"not an api call this plugin knows: {action!r}")
        click.echo("\n".join(lines))
