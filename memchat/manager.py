"""The dialogue manager: one user turn in, the bot's replies out, everything stored on the way.

A turn, under the conversation's lock (one turn of a conversation at a time, across threads
and processes):

1. the plugins' ``rewrite_user_turn`` hook may rewrite the text; then the user turn is committed
   to the store before anything else happens;
2. the memory window is read back from the store (one indexed query);
3. the model ranks the candidates; the best one that no plugin vetoes (``veto_reply``) is
   committed;
4. an action reply (``api_call ...``) goes to the plugins' ``execute_action`` hook; its result
   lines are committed as ``kb`` events together with an implicit ``<SILENCE>`` user turn (the
   dataset's way of letting the bot speak twice), and the bot speaks again -- at most
   ``max_actions`` times per turn, so a model that keeps calling the API cannot loop.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from memchat.babi import BOT, KB, SILENCE, USER, Turn
from memchat.errors import MemchatError
from memchat.locks import ConversationLocks, LockProvider
from memchat.plugins import PluginFailure, call_each, failures_data
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
    plugin_failures: list[PluginFailure] = field(default_factory=list)  # plugins that raised on the way

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
    """``locks``: what holds a conversation during a turn; default: file locks beside a SQLite
    store (``ConversationLocks``), thread locks for other databases."""

    def __init__(
        self, ranker: Ranker, store: Store, plugin_manager=None, max_actions: int = 3, locks: LockProvider | None = None
    ):
        from memchat.plugins import get_plugin_manager

        self.ranker = ranker
        self.store = store
        self.pm = plugin_manager or get_plugin_manager()
        self.max_actions = max_actions
        self.locks = locks if locks is not None else ConversationLocks(store.lock_dir)

    def respond(self, conversation_id: str, text: str | bytes, run_actions: bool = True) -> list[Reply]:
        """Store the user's turn, then the bot's replies; returns the replies in order.

        ``run_actions=False`` stores an action reply without running it: the user cut in before
        its results (what the recorded dialogues of tasks 2 and 5 do; ``memchat replay`` uses it)."""
        conversation_id = check_conversation_id(conversation_id)
        text = clean_text(text)
        with self.locks.hold(conversation_id):
            failures: list[PluginFailure] = []
            event = self._user_event(conversation_id, text, failures)
            self.store.append(conversation_id, [event])
            window = self.store.recent(conversation_id, self.ranker.memory_size + 1)
            turns = [e.turn() for e in window]
            replies = self._speak(conversation_id, turns, window[-1].seq, run_actions, [])
            if replies and failures:  # the rewrite's failures are the first reply's too
                replies[0].plugin_failures[:0] = failures
            return replies

    def _user_event(self, conversation_id: str, text: str, failures: list[PluginFailure]) -> Event:
        """The user turn as stored: rewritten by the plugins in turn; the original kept in its data."""
        said, args = text, {"conversation_id": conversation_id, "text": text}
        for plugin, new in call_each(self.pm, "rewrite_user_turn", failures, args):
            try:
                args["text"] = clean_text(new)  # the next plugin sees this one's rewrite
            except MemchatError as e:  # a rewrite that is not a turn: keep the text as it was
                failures.append(PluginFailure(plugin, "rewrite_user_turn", str(e)))
        text = args["text"]
        data = ({"original": said} if text != said else {}) | failures_data(failures)
        return Event(USER, text, data or None)

    def _choose(
        self, conversation_id: str, ranking: Ranking, turns: list[Turn], failures: list[PluginFailure]
    ) -> str | None:
        """The best-ranked candidate no plugin vetoes; None when they veto every one."""
        if not self.pm.hook.veto_reply.get_hookimpls():
            return ranking.best
        for i in ranking.scores.argsort(descending=True).tolist():
            reply = ranking.candidates[i]
            args = {"conversation_id": conversation_id, "reply": reply, "history": turns}
            if not any(vetoed for _, vetoed in call_each(self.pm, "veto_reply", failures, args)):
                return reply
        return None

    def _speak(
        self, conversation_id: str, turns: list[Turn], last_seq: int, run_actions: bool, failures: list[PluginFailure]
    ) -> list[Reply]:
        """``last_seq``: the conversation's last stored seq; we hold its lock, so it stays ours."""
        replies = []
        for _ in range(self.max_actions + 1):
            ranking = self.ranker.rank(turns)
            text = self._choose(conversation_id, ranking, list(turns), failures)
            if text is None:  # every candidate vetoed: the bot says nothing
                break
            reply = Reply(text, ranking, plugin_failures=failures)
            (stored,) = self.store.append(
                conversation_id, [Event(BOT, reply.text, failures_data(failures) or None)], after=last_seq
            )
            last_seq = stored.seq
            turns.append(stored.turn())
            replies.append(reply)
            failures = []
            if not reply.is_action or not run_actions:
                break
            args = {"store": self.store, "conversation_id": conversation_id, "action": reply.text}
            results = next((r for _, r in call_each(self.pm, "execute_action", failures, args)), None)
            reply.plugin_failures += failures
            failures = []
            if results is None:  # no plugin runs this action: the reply stands as said
                break
            reply.action_results = list(results)
            new = [Event(KB, line) for line in results] + [Event(USER, SILENCE, {"implicit": True})]
            for e in self.store.append(conversation_id, new, after=last_seq):
                turns.append(e.turn())
                last_seq = e.seq
            turns = turns[-(self.ranker.memory_size + 1) :]
        return replies

    def close(self) -> None:
        self.locks.close()
