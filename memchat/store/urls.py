"""A store's URL: from ``--db``, ``MEMCHAT_DB`` or the default, and its password kept out of what is shown."""

from __future__ import annotations

import os
import re
from pathlib import Path

DEFAULT_URL = "sqlite:///memchat.db"


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
