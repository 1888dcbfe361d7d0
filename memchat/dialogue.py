"""The dialogue manager: one user turn in, the bot's replies out, everything stored on the way.

A turn, under the conversation's lock (one turn of a conversation at a time, across threads
and processes):

1. the user turn is committed to the store before anything else happens;
2. the memory window is read back from the store (one indexed query);
3. the model ranks the candidates and the best reply is committed;
4. an action reply (``api_call ...``) goes to the plugins' ``execute_action`` hook; its result
   lines are committed as ``kb`` events together with an implicit ``<SILENCE>`` user turn (the
   dataset's way of letting the bot speak twice), and the bot speaks again -- at most
   ``max_actions`` times per turn, so a model that keeps calling the API cannot loop.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from memchat.dialogs import BOT, KB, SILENCE, USER, Turn
from memchat.errors import MemchatError
from memchat.locks import ConversationLocks
from memchat.ranker import Ranker, Ranking
from memchat.store import Event, Store

MAX_TEXT = 10_000  # characters of one user turn; longer ones are refused, not cut
MAX_CONVERSATION_ID = 255
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass
class Reply:
    text: str
    ranking: Ranking  # what the model scored and looked at for this reply
    action_results: list[str] | None = None  # the result lines when the reply was an action

    @property
    def is_action(self) -> bool:
        return self.text.startswith("api_call")


def clean_text(text: str | bytes) -> str:
    """The user's text as the model should see it: valid Unicode, no control characters, one line.
    An empty turn is the dataset's ``<SILENCE>``: the user lets the bot go on."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = text.encode("utf-8", errors="replace").decode("utf-8")  # lone surrogates
    text = " ".join(_CONTROL.sub(" ", unicodedata.normalize("NFC", text)).split())
    if len(text) > MAX_TEXT:
        raise MemchatError(f"message too long: {len(text)} characters, at most {MAX_TEXT}")
    return text or SILENCE


def check_conversation_id(conversation_id: str) -> str:
    if not isinstance(conversation_id, str) or not conversation_id.strip():
        raise MemchatError("conversation id: expected a non-empty string")
    if len(conversation_id) > MAX_CONVERSATION_ID or not conversation_id.isprintable():
        raise MemchatError(f"conversation id: at most {MAX_CONVERSATION_ID} printable characters")
    return conversation_id


class DialogueManager:
    def __init__(self, ranker: Ranker, store: Store, plugin_manager=None, max_actions: int = 3):
        from memchat.plugins import get_plugin_manager

        self.ranker = ranker
        self.store = store
        self.pm = plugin_manager or get_plugin_manager()
        self.max_actions = max_actions
        lock_dir = store.sqlite_path.with_name(store.sqlite_path.name + ".locks") if store.sqlite_path else None
        self.locks = ConversationLocks(lock_dir)

    def respond(self, conversation_id: str, text: str | bytes, run_actions: bool = True) -> list[Reply]:
        """Store the user's turn, then the bot's replies; returns the replies in order.

        ``run_actions=False`` stores an action reply without running it: the user cut in before
        its results (what the recorded dialogues of tasks 2 and 5 do; ``memchat replay`` uses it)."""
        conversation_id = check_conversation_id(conversation_id)
        text = clean_text(text)
        with self.locks.hold(conversation_id):
            self.store.append(conversation_id, [Event(USER, text)])
            window = self.store.recent(conversation_id, self.ranker.memory_size + 1)
            turns = [Turn(e.speaker, e.text, e.seq) for e in window]
            return self._speak(conversation_id, turns, run_actions)

    def _speak(self, conversation_id: str, turns: list[Turn], run_actions: bool) -> list[Reply]:
        replies = []
        for _ in range(self.max_actions + 1):
            ranking = self.ranker.rank(turns)
            reply = Reply(ranking.best, ranking)
            (stored,) = self.store.append(conversation_id, [Event(BOT, reply.text)])
            turns.append(Turn(BOT, reply.text, stored.seq))
            replies.append(reply)
            if not reply.is_action or not run_actions:
                break
            results = self.pm.hook.execute_action(store=self.store, conversation_id=conversation_id,
                                                  action=reply.text)
            if results is None:  # no plugin runs this action: the reply stands as said
                break
            reply.action_results = list(results)
            new = [Event(KB, line) for line in results] + [Event(USER, SILENCE, {"implicit": True})]
            for e in self.store.append(conversation_id, new):
                turns.append(Turn(e.speaker, e.text, e.seq))
            turns = turns[-(self.ranker.memory_size + 1) :]
        return replies

    def close(self) -> None:
        self.locks.close()
