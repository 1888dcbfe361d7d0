"""memchat as a library: a trained bundle, a store and the plugins, behind one ``respond`` call."""

from __future__ import annotations

from pathlib import Path

from memchat.dialogue.processor import DialogueManager
from memchat.dialogue.turn import Reply
from memchat.errors import MemchatError
from memchat.store.event import Event
from memchat.store.tracker_store import Store
from memchat.store.urls import resolve_url

DEFAULT_MODELS = Path("models")


def newest_bundle(folder: str | Path = DEFAULT_MODELS) -> Path:
    """The most recently written bundle (a folder with metadata.json, or a .tar.gz) in ``folder``;
    never a hidden one (a bundle being written, ``.NAME.xxxx``) nor one being swapped out (``.old``)."""
    folder = Path(folder)
    found = [p.parent for p in folder.glob("*/metadata.json")] + list(folder.glob("*.tar.gz"))
    found = [p for p in found if not p.name.startswith(".") and not p.name.endswith(".old")]
    if not found:
        raise MemchatError(f"{folder}: no model bundle found; train one (memchat train) or pass --model")
    return max(found, key=lambda p: p.stat().st_mtime)


class Bot:
    """A bot that answers conversations and remembers them in its store.

    >>> bot = Bot.load("models/task5", db="memchat.db", kb="dialog-babi-kb-all.txt")
    >>> bot.respond("alice", "hi")
    ['hello what can i help you with today']
    """

    def __init__(self, manager: DialogueManager, model_path: Path):
        self.manager = manager
        self.model_path = model_path

    @classmethod
    def load(
        cls, model: str | Path | None = None, db: str | None = None, kb: str | Path | None = None, plugin_manager=None
    ) -> Bot:
        """``model``: a bundle (default: the newest under ./models); ``db``: a SQLAlchemy URL or a
        SQLite file (default: $MEMCHAT_DB or ./memchat.db); ``kb``: a knowledge-base file to load."""
        from memchat.nn.bundle import load_bundle
        from memchat.nn.ranker import Ranker
        from memchat.plugins import get_plugin_manager
        from memchat.project.spec import BotSpec

        path = Path(model) if model is not None else newest_bundle()
        bundle = load_bundle(path)
        spec = None
        if (kept := bundle.metadata.get("bot")) is not None:  # a project bot's runtime, checked
            try:
                spec = BotSpec.from_dict(kept)
            except ValueError as e:  # "bot.forms.booking_form: expected a list"
                where, what = str(e).split(": ", 1)
                raise MemchatError(f"{path}/metadata.json: field '{where}': {what}") from None
        store = Store(resolve_url(db))
        pm = plugin_manager or get_plugin_manager()
        if kb is not None:
            pm.hook.load_knowledge_base(store=store, path=Path(kb))
        manager = DialogueManager(
            Ranker.from_bundle(bundle),
            store,
            pm,
            spec=spec,
            continue_after=set(bundle.metadata.get("continue_after") or ()),
        )
        return cls(manager, path)

    @property
    def store(self) -> Store:
        return self.manager.store

    def respond(self, conversation_id: str, text: str) -> list[str]:
        """What the bot says to ``text`` in conversation ``conversation_id``, every message of its
        turn (all of it stored); its actions (searches, forms) are never said as text."""
        return [
            r.message["text"] for r in self.manager.respond(conversation_id, text) if r.message and "text" in r.message
        ]

    def messages(
        self, conversation_id: str, text: str, message_id: str | None = None, metadata: dict | None = None
    ) -> list[dict]:
        """Like ``respond``, each message whole: ``{"text": ...}`` and any ``buttons``, ``image``, ``custom``.
        ``message_id``: the client's id of the message; sent again, it gets the stored answer.
        ``metadata``: stored with the user's event, for the plugins."""
        replies = self.manager.respond(conversation_id, text, message_id=message_id, metadata=metadata)
        return [r.message for r in replies if r.message]

    def turn(self, conversation_id: str, text: str) -> list[Reply]:
        """Every action of the turn, shown or not, with the model's scores and attention behind each."""
        return self.manager.respond(conversation_id, text)

    def history(self, conversation_id: str) -> list[Event]:
        return self.store.events(conversation_id)

    def close(self) -> None:
        self.manager.close()
        self.store.close()
