"""The memory store: every event of every conversation, append-only in SQL (SQLite by default,
PostgreSQL across nodes), with its migrations (``schema.py``), the hot path's compiled statements
(``statements.py``), the latest events kept in process (``recent.py``), and the locks that hold a
conversation during a turn (``locks.py``). It imports only the shared types below it
(``memchat.dialogs``, ``memchat.errors``).

``Store``, ``Event`` and ``resolve_url`` are the names plugins use; imported on first use, so
that importing ``memchat.store.locks`` or ``memchat.store.urls`` costs no SQLAlchemy import."""

_PUBLIC = {
    "Store": "memchat.store.tracker_store",
    "Event": "memchat.store.event",
    "resolve_url": "memchat.store.urls",
    "hide_password": "memchat.store.urls",
    "database_trouble": "memchat.store.urls",
}


def __getattr__(name: str):
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'memchat.store' has no attribute {name!r}")
