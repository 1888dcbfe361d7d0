"""The dialogue manager: one user turn in, the bot's actions out, everything stored on the way.

A turn, under the conversation's lock (one turn of a conversation at a time, across threads
and processes):

1. the plugins' ``rewrite_user_turn`` hook may rewrite the text; for a project bot, the entities
   of the text set slots (``slot NAME VALUE`` lines, stored just before the turn); then the user
   turn is committed before anything else happens;
2. the bot acts until it listens: the model ranks the candidates over the memory window read back
   from the store, and the best one that no plugin vetoes (``veto_reply``), and that is not the
   action it just took, is committed. A project bot's response is sent filled from the slots; a
   custom action runs through the plugins' ``execute_action`` hook (its result lines and slots
   are stored); a form asks for its missing slots; ``action_listen`` ends the turn. A dialog bAbI
   bot's ``api_call`` runs likewise, and after a reply its training users let it go on from
   (``i'm on it``) it goes on by itself. Between two actions an implicit ``<SILENCE>`` user turn
   is stored, the dataset's way of letting the bot speak twice -- at most ``max_actions``
   actions per turn, so a model that never listens cannot loop.

Nobody has to send an empty message; one is still accepted (``<SILENCE>``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from memchat.babi import BOT, KB, SILENCE, USER, Turn
from memchat.errors import MemchatError
from memchat.locks import ConversationLocks, LockProvider
from memchat.plugins import PluginFailure, call_each, failures_data
from memchat.project.domain import LISTEN
from memchat.project.runtime import BotSpec, Interpreter, conversation_state, slot_line
from memchat.ranker import Ranker, Ranking
from memchat.store import Event, Store

MAX_TEXT = 10_000  # characters of one user turn; longer ones are refused, not cut
MAX_CONVERSATION_ID = 255
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass
class Reply:
    text: str  # what the bot did, as stored: a candidate reply, or a project's action name
    ranking: Ranking  # what the model scored and looked at for this reply
    action_results: list[str] | None = None  # the result lines when the reply was an action
    plugin_failures: list[PluginFailure] = field(default_factory=list)  # plugins that raised on the way
    message: dict | None = None  # what a person sees ({"text": ..., "buttons": ...}); None: nothing

    @property
    def is_action(self) -> bool:
        """An action people never see as text: an api call, a custom action, a form, a listen."""
        return self.message is None


@dataclass
class Tracker:
    """A conversation as an action sees it (the ``execute_action`` hook's ``tracker``)."""

    conversation_id: str
    slots: dict[str, str]
    active_loop: str | None
    latest_message: str
    spec: BotSpec | None = None  # a project bot's runtime: responses, forms, knowledge base
    events: list[Event] = field(default_factory=list)  # the whole conversation so far


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
    store (``ConversationLocks``), thread locks for other databases. ``spec``: a project bot's
    runtime (``BotSpec``); ``continue_after``: a dialog bAbI bot's replies after which it goes on."""

    def __init__(
        self,
        ranker: Ranker,
        store: Store,
        plugin_manager=None,
        max_actions: int = 10,
        locks: LockProvider | None = None,
        spec: BotSpec | None = None,
        continue_after: frozenset[str] | set[str] = frozenset(),
    ):
        from memchat.plugins import get_plugin_manager

        self.ranker = ranker
        self.store = store
        self.pm = plugin_manager or get_plugin_manager()
        self.max_actions = max_actions
        self.locks = locks if locks is not None else ConversationLocks(store.lock_dir)
        self.spec = spec
        self.continue_after = frozenset(continue_after)
        self.interpreter = Interpreter(ranker.featurizer.entities, spec.slot_entities) if spec else None

    def respond(self, conversation_id: str, text: str | bytes, run_actions: bool = True) -> list[Reply]:
        """Store the user's turn, then the bot's actions until it listens; returns them in order.

        ``run_actions=False`` stores an action reply without running it, and ends the turn there:
        the user cut in before its results (what the recorded dialogues of tasks 2 and 5 do;
        ``memchat replay`` uses it)."""
        conversation_id = check_conversation_id(conversation_id)
        text = clean_text(text)
        with self.locks.hold(conversation_id):
            failures: list[PluginFailure] = []
            event = self._user_event(conversation_id, text, failures)
            tracker, new = None, [event]
            if self.spec is not None:
                history = self.store.events(conversation_id)
                slots, active = conversation_state(((e.speaker, e.text) for e in history), self.spec.initial_slots)
                changed = self._slots_said(conversation_id, event.text, slots, failures)
                new = [Event(KB, slot_line(s, v)) for s, v in changed.items()] + [event]
                slots.update(changed)
                tracker = Tracker(conversation_id, slots, active, event.text, self.spec, history)
                form_goes_on = active is not None and bool(set(changed) & set(self.spec.forms.get(active, ())))
            stored = self.store.append(conversation_id, new)
            window = self.store.recent(conversation_id, self.ranker.memory_size + 1)
            turns = [e.turn() for e in window]
            if tracker is not None:
                tracker.events += stored
                replies = self._act(conversation_id, turns, stored[-1].seq, tracker, form_goes_on)
            else:
                replies = self._speak(conversation_id, turns, stored[-1].seq, run_actions, [])
            if replies and failures:  # the rewrite's failures are the first reply's too
                replies[0].plugin_failures[:0] = failures
            return replies

    def _slots_said(self, conversation_id: str, text: str, slots: dict, failures: list[PluginFailure]) -> dict:
        """The slots the user's text sets, as the plugins' ``validate_slot`` hook lets them."""
        changed = {}
        for slot, value in self.interpreter.slots_from_text(text).items():
            args = {"conversation_id": conversation_id, "slot": slot, "value": value, "slots": slots}
            verdicts = [v for _, v in call_each(self.pm, "validate_slot", failures, args)]
            if any(v is False for v in verdicts):
                continue
            value = next((str(v) for v in verdicts if v is not True), value)
            if slots.get(slot) != value:
                changed[slot] = value
        return changed

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
        self,
        conversation_id: str,
        ranking: Ranking,
        turns: list[Turn],
        failures: list[PluginFailure],
        not_again: str | None = None,
    ) -> str | None:
        """The best-ranked candidate no plugin vetoes, other than ``not_again`` (the action just
        taken: the same action twice in a row is a loop); None when they veto every one."""
        if not self.pm.hook.veto_reply.get_hookimpls():
            if ranking.best != not_again:
                return ranking.best
        for i in ranking.scores.argsort(descending=True).tolist():
            reply = ranking.candidates[i]
            if reply == not_again:
                continue
            args = {"conversation_id": conversation_id, "reply": reply, "history": turns}
            if not any(vetoed for _, vetoed in call_each(self.pm, "veto_reply", failures, args)):
                return reply
        return None

    def _store(self, conversation_id: str, turns: list[Turn], last_seq: int, events: list[Event]) -> int:
        """Commit ``events`` after the conversation's last seq (ours: we hold its lock), an implicit
        <SILENCE> first when a bot event would follow anything but a user turn; returns the new last seq."""
        if events and events[0].speaker == BOT and turns and turns[-1].speaker != USER:
            events = [Event(USER, SILENCE, {"implicit": True}), *events]
        for e in self.store.append(conversation_id, events, after=last_seq):
            turns.append(e.turn())
            last_seq = e.seq
        del turns[: -(self.ranker.memory_size + 1)]
        return last_seq

    def _let_go_on(self, conversation_id: str, turns: list[Turn], last_seq: int) -> int:
        """Before the bot acts again after its own turn: the implicit <SILENCE> it answers."""
        if turns and turns[-1].speaker != USER:
            return self._store(conversation_id, turns, last_seq, [Event(USER, SILENCE, {"implicit": True})])
        return last_seq

    def _speak(
        self, conversation_id: str, turns: list[Turn], last_seq: int, run_actions: bool, failures: list[PluginFailure]
    ) -> list[Reply]:
        """A dialog bAbI bot's turn: replies, api calls run through the plugins, and going on by
        itself after the replies its training users let it go on from."""
        replies: list[Reply] = []
        for _ in range(self.max_actions):
            last_seq = self._let_go_on(conversation_id, turns, last_seq)
            ranking = self.ranker.rank(turns)
            previous = replies[-1].text if replies else None
            text = self._choose(conversation_id, ranking, list(turns), failures, not_again=previous)
            if text is None:  # every candidate vetoed: the bot says nothing
                break
            reply = Reply(
                text, ranking, plugin_failures=failures, message=None if text.startswith("api_call") else {"text": text}
            )
            last_seq = self._store(
                conversation_id, turns, last_seq, [Event(BOT, reply.text, failures_data(failures) or None)]
            )
            replies.append(reply)
            failures = []
            if reply.is_action:
                if not run_actions:
                    break
                args = {"store": self.store, "conversation_id": conversation_id, "action": reply.text, "tracker": None}
                results = next((r for _, r in call_each(self.pm, "execute_action", failures, args)), None)
                reply.plugin_failures += failures
                failures = []
                if results is None:  # no plugin runs this action: the reply stands as said
                    break
                reply.action_results = list(results)
                last_seq = self._store(conversation_id, turns, last_seq, [Event(KB, line) for line in results])
            elif text not in self.continue_after:
                break
        return replies

    def _act(
        self, conversation_id: str, turns: list[Turn], last_seq: int, tracker: Tracker, form_goes_on: bool
    ) -> list[Reply]:
        """A project bot's turn: actions until ``action_listen``."""
        spec, replies, failures = self.spec, [], []
        previous = None
        for step in range(self.max_actions + 1):
            last_seq = self._let_go_on(conversation_id, turns, last_seq)
            ranking = self.ranker.rank(turns)
            if step == self.max_actions:
                action = LISTEN  # a bot that never listens is made to
            elif form_goes_on and step == 0:
                action = tracker.active_loop  # the user answered the form's question: it goes on
            else:
                action = self._choose(conversation_id, ranking, list(turns), failures, not_again=previous) or LISTEN
            previous = action
            kind = spec.kind(action)
            reply = Reply(action, ranking, plugin_failures=failures)
            failures = []
            events = [Event(BOT, action)]
            if kind == "response":
                reply.message = spec.render(action, tracker.slots, f"{conversation_id}:{last_seq}")
                events = [Event(BOT, action, {"message": reply.message})]
            last_seq = self._store(conversation_id, turns, last_seq, events)
            if kind == "listen":
                break
            replies.append(reply)
            if kind == "action":
                last_seq = self._run_action(conversation_id, turns, last_seq, tracker, reply, replies)
            elif kind == "form":
                asked, last_seq = self._run_form(conversation_id, turns, last_seq, tracker, action, replies)
                if asked:
                    break
        return replies

    def _run_action(
        self,
        conversation_id: str,
        turns: list[Turn],
        last_seq: int,
        tracker: Tracker,
        reply: Reply,
        replies: list[Reply],
    ) -> int:
        """A custom action through the plugins: its lines and slots stored, its messages sent."""
        failures: list[PluginFailure] = []
        args = {"store": self.store, "conversation_id": conversation_id, "action": reply.text, "tracker": tracker}
        result = next((r for _, r in call_each(self.pm, "execute_action", failures, args)), None)
        reply.plugin_failures += failures
        if result is None:
            reply.plugin_failures.append(PluginFailure("-", "execute_action", f"no plugin runs {reply.text}"))
            return last_seq
        if not isinstance(result, dict):
            result = {"lines": list(result)}
        lines = [str(x) for x in result.get("lines") or []]
        slots = {str(k): v for k, v in (result.get("slots") or {}).items()}
        events = [Event(KB, line) for line in lines]
        for name, value in slots.items():
            events.append(Event(KB, slot_line(name, value)))
            tracker.slots[name] = slot_line(name, value).split(" ", 2)[2]
        reply.action_results = lines
        for text in result.get("messages") or []:
            replies.append(Reply(reply.text, reply.ranking, message={"text": str(text)}))
        if events:
            last_seq = self._store(conversation_id, turns, last_seq, events)
        return last_seq

    def _run_form(
        self, conversation_id: str, turns: list[Turn], last_seq: int, tracker: Tracker, form: str, replies: list[Reply]
    ) -> tuple[bool, int]:
        """A form: ask for its first missing slot (and listen), or close it when all are filled.
        Returns whether it asked."""
        missing = [s for s in self.spec.forms[form] if tracker.slots.get(s) in (None, "", "null")]
        if not missing:
            tracker.active_loop = None
            return False, self._store(conversation_id, turns, last_seq, [Event(KB, "active_loop null")])
        if tracker.active_loop != form:
            tracker.active_loop = form
            last_seq = self._store(conversation_id, turns, last_seq, [Event(KB, f"active_loop {form}")])
        ask = self.spec.ask(form, missing[0])
        message = self.spec.render(ask, tracker.slots, f"{conversation_id}:{last_seq}")
        last_seq = self._let_go_on(conversation_id, turns, last_seq)
        ranking = self.ranker.rank(turns)
        last_seq = self._store(conversation_id, turns, last_seq, [Event(BOT, ask, {"message": message})])
        replies.append(Reply(ask, ranking, message=message))
        last_seq = self._store(conversation_id, turns, last_seq, [Event(BOT, LISTEN)])
        return True, last_seq

    def close(self) -> None:
        self.locks.close()
