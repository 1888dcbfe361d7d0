"""Adapters that plug memchat into other bot frameworks: Rasa (a custom action on a rasa-sdk
action server), Errbot (a plugin) and the Microsoft Bot Framework (an ``ActivityHandler``).

Each answers through one ``memchat.Bot`` per process, loaded on first use from the environment:
``MEMCHAT_MODEL`` (a bundle; default the newest under ./models), ``MEMCHAT_DB`` (the store;
default ./memchat.db) and ``MEMCHAT_KB`` (a knowledge-base file to load, optional).
The frameworks are optional extras: ``pip install "memchat[rasa]"``, ``[errbot]``, ``[botframework]``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

ERRBOT_PLUGIN_DIR = str(Path(__file__).resolve().parent / "errbot")  # for errbot's BOT_EXTRA_PLUGIN_DIR

_bot = None
_lock = threading.Lock()


def shared_bot():
    """This process's ``memchat.Bot``, loaded from $MEMCHAT_MODEL, $MEMCHAT_DB and $MEMCHAT_KB."""
    global _bot
    with _lock:
        if _bot is None:
            from memchat.bot import Bot

            _bot = Bot.load(
                os.environ.get("MEMCHAT_MODEL") or None,
                db=os.environ.get("MEMCHAT_DB") or None,
                kb=os.environ.get("MEMCHAT_KB") or None,
            )
        return _bot


def replies_or_error(bot, conversation_id: str, text: str) -> list[str]:
    """The bot's replies; for input memchat refuses (too long, a bad id), its one-line reason."""
    from memchat.errors import MemchatError

    try:
        return bot.respond(conversation_id, text)
    except MemchatError as e:
        return [f"(memchat: {e})"]
