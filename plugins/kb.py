"""The knowledge-base plugin: dialog bAbI restaurant facts in the store's database, and api calls run on them.

``load_knowledge_base`` reads a dialog bAbI KB file (``1 resto_x R_cuisine<TAB>italian``) into
the ``kb_facts`` table, replacing what was there. ``execute_action`` answers an
``api_call ...`` reply with result lines in the dataset's form (``resto_x R_cuisine italian``,
one line per fact, the relations of a restaurant in the dataset's order) or
``api_call no result``:

- tasks 1-5: ``api_call CUISINE LOCATION PARTY_SIZE PRICE``, every field must match;
- task 6 (DSTC2): ``api_call CUISINE LOCATION PRICE``, where a field given as its relation
  name (``R_location``) means "any".

Restaurants come best rated first (the dataset shuffles them), in file order on a tie.
"""

from __future__ import annotations

from pathlib import Path

import click

from memchat.babi.kbquery import parse_call
from memchat.hookspecs import hookimpl


@hookimpl
def load_knowledge_base(store, path):
    from memchat_plugins._kb_facts import load

    return load(store, path)


@hookimpl
def execute_action(store, conversation_id, action, tracker):
    kb = tracker.spec.kb if tracker is not None and tracker.spec is not None else None
    if kb is not None:
        if action == kb["search"]:
            return search(kb, tracker)
        if action == kb.get("suggest"):
            return suggest(kb, tracker)
    if parse_call(action) is None:  # not an api call: nothing to look up (and no SQLAlchemy to import)
        return None
    from memchat_plugins._kb_facts import query

    return query(store, action)


# ---- a bot project's knowledge base: a table in its bundle, searched by the slots the user gave ----
def _filters(kb: dict, tracker) -> dict[str, str]:
    """The columns to match: those named like a slot the user's words fill (from an entity), when
    set to a value ("any": the user has no preference)."""
    fills = tracker.spec.slot_entities
    columns = {c for c in kb["rows"][0] if fills.get(c)} if kb["rows"] else set()
    return {c: v for c in sorted(columns) if (v := tracker.slots.get(c)) not in (None, "", "null", "any")}


def _matching(kb: dict, tracker) -> list[dict]:
    """The rows holding every value the user gave (``_filters``, any case), best ranked first."""
    table, wanted = _table(kb), _filters(kb, tracker)
    ranked = table.ranked
    if wanted:
        rows = set.intersection(*(table.rows_with.get((c, v.lower()), set()) for c, v in wanted.items()))
        ranked = [i for i in ranked if i in rows]
    return [kb["rows"][i] for i in ranked]


class _Table:
    """A bundle's table, indexed once: a search read every row of it (0.45 ms for the default
    bot's 333 restaurants, a search and a suggestion in one turn)."""

    def __init__(self, rows: list[dict], rank: str | None):
        self.rows_with: dict[tuple[str, str], set[int]] = {}  # (column, value lower-cased) -> rows
        for i, row in enumerate(rows):
            for column, value in row.items():
                self.rows_with.setdefault((column, value.lower()), set()).add(i)
        ranked = range(len(rows))
        if rank:  # best first; table order among equals
            number = [r.get(rank, "") for r in rows]
            ranked = sorted(ranked, key=lambda i: -float(number[i]) if number[i].replace(".", "", 1).isdigit() else 0)
        self.ranked = list(ranked)


_tables: dict[int, tuple[dict, _Table]] = {}  # id(kb) -> (kb, its index): kb kept so the id stays its


def _table(kb: dict) -> _Table:
    known = _tables.get(id(kb))
    if known is None or known[0] is not kb:
        if len(_tables) >= 16:  # a process serves one bot or a few; tests load many
            _tables.clear()
        known = _tables[id(kb)] = (kb, _Table(kb["rows"], kb.get("rank")))
    return known[1]


def search(kb: dict, tracker) -> dict:
    """The search action: ``found`` is true when a row matches every slot the user gave for a
    column (never a value nobody said)."""
    rows = _matching(kb, tracker)
    return {"slots": {"found": bool(rows)}}


def suggest(kb: dict, tracker) -> dict:
    """The suggest action: the best row of the last search not suggested since; its columns set
    the slots named like them. ``found`` is false when none is left."""
    name = kb["name"]
    # the names suggested since the last search: the name slot's value after each suggestion,
    # read at the bot's next event (a suggestion may set it to the value it had: no slot event)
    suggested: set[str] = set()
    current, suggesting = None, False
    for e in tracker.events:
        if e.speaker == "bot":
            if suggesting and current:
                suggested.add(current)
            suggesting = e.text == kb["suggest"]
            if e.text == kb["search"]:
                suggested = set()
        elif e.speaker == "kb" and e.text.startswith(f"slot {name} "):
            current = e.text.split(" ", 2)[2].lower()
    left = [r for r in _matching(kb, tracker) if r[name].lower() not in suggested]
    if not left:
        return {"slots": {"found": False}}
    row = left[0]
    fills = tracker.spec.slot_entities
    slots = {c: row[c] for c in row if c in fills and not fills[c]}  # the slots actions set
    return {"slots": {**slots, "found": True}}


@hookimpl
def register_commands(cli):
    from memchat.cli.group import DB_HELP

    @cli.group()
    def kb():
        """The knowledge base that api_call replies run against."""

    @kb.command(name="load")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--db", help=DB_HELP)
    def load_command(file: Path, db: str | None):
        """Load a dialog bAbI knowledge-base FILE into the store's database (replacing the old one)."""
        from memchat.store.tracker_store import Store
        from memchat.store.urls import resolve_url
        from memchat_plugins._kb_facts import load

        store = Store(resolve_url(db))
        click.echo(f"{load(store, file)} facts loaded from {file} into {store.shown}")

    @kb.command(name="query")
    @click.argument("action")
    @click.option("--db", help=DB_HELP)
    def query_command(action: str, db: str | None):
        """Run an api call, e.g. 'api_call italian paris six cheap', and print its result lines."""
        from memchat.store.tracker_store import Store
        from memchat.store.urls import resolve_url
        from memchat_plugins._kb_facts import query

        lines = query(Store(resolve_url(db)), action)
        if lines is None:
            raise click.ClickException(f"not an api call this plugin knows: {action!r}")
        click.echo("\n".join(lines))
