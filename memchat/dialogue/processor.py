"""The dialogue manager: one user turn in, the bot's actions out, the whole turn stored at once.

A turn, under the conversation's lock (one turn of a conversation at a time, across threads,
processes and, on PostgreSQL, hosts):

1. the plugins' ``rewrite_user_turn`` hook may rewrite the text; for a project bot, the entities
   of the text set slots (``slot NAME VALUE`` lines, just before the user's event);
2. the bot acts until it listens: the policies (``memchat.dialogue.policies``) are asked in
   order for the next action -- an intent rule of the project (when the bot is sure of the
   message's intent), a follow-up rule, the model's best candidate over the memory window that
   no plugin vetoes (``veto_reply``) and that does not repeat the previous turn, the fallbacks --
   and the action runs (``memchat.dialogue.actions``). A project bot's response
   is sent filled from the slots; a custom action runs through the plugins' ``execute_action``
   hook (its result lines and slots go into the memory); a form asks for its missing slots;
   ``action_listen`` ends the turn. A dialog bAbI bot's ``api_call`` runs likewise, and after a
   reply its training users let it go on from (``i'm on it``) it goes on by itself. Between two
   actions an implicit ``<SILENCE>`` user turn goes in, the dataset's way of letting the bot
   speak twice -- at most ``max_actions`` actions per turn, so a model that never listens
   cannot loop;
3. every event of the turn is committed in one transaction (``commit``): a turn is whole or
   absent. A message sent again with the same ``message_id`` gets the stored replies.

Nobody has to send an empty message; one is still accepted (``<SILENCE>``).
"""

from __future__ import annotations

import time

from memchat.dialogs import BOT, KB, SILENCE, USER, Turn
from memchat.dialogue.actions import fallback_first, run_custom_action, run_form
from memchat.dialogue.babi_turn import speak
from memchat.dialogue.default_actions import run_default_action
from memchat.dialogue.policies import POLICIES, Decision, Policy
from memchat.dialogue.policies.rules import intent_rule_of
from memchat.dialogue.reading import lead_of, slots_said, unknown_for_form
from memchat.dialogue.references import pointed_at
from memchat.dialogue.text import check_conversation_id, check_message_id, clean_text
from memchat.dialogue.turn import FALLBACK, Reply, Tracker, TurnState, in_memory
from memchat.errors import MemchatError
from memchat.nn.ranker import Ranker, Ranking
from memchat.plugins import PluginFailure, call_each, failures_data
from memchat.project.interpreter import Interpreter
from memchat.project.spec import FALLBACK_INTENT, LISTEN, BotSpec, conversation_state, slot_line, slot_text
from memchat.store.event import Event
from memchat.store.locks import LockProvider, default_locks
from memchat.store.tracker_store import Store


class DialogueManager:
    """``locks``: what holds a conversation during a turn; default: advisory locks on PostgreSQL,
    file locks beside a SQLite store (``default_locks``). ``spec``: a project bot's
    runtime (``BotSpec``); ``continue_after``: a dialog bAbI bot's replies after which it goes on;
    ``policies``: what chooses a project bot's next action, asked in order."""

    def __init__(
        self,
        ranker: Ranker,
        store: Store,
        plugin_manager=None,
        max_actions: int = 10,
        locks: LockProvider | None = None,
        spec: BotSpec | None = None,
        continue_after: frozenset[str] | set[str] = frozenset(),
        policies: tuple[Policy, ...] = POLICIES,
    ):
        from memchat.plugins import get_plugin_manager

        self.ranker = ranker
        self.store = store
        self.pm = plugin_manager or get_plugin_manager()
        self.max_actions = max_actions
        self.locks = locks if locks is not None else default_locks(store)
        self.spec = spec
        self.continue_after = frozenset(continue_after)
        self.policies = policies  # asked in order for a project bot's next action
        # custom actions run on the project's action server; memchat test turns it off, as Rasa's
        # evaluation runs none (the story's slot_was_set steps say what they did). memchat's
        # in-process plugin actions (the knowledge base's search) run either way
        self.call_action_server = True
        # the actions a follow-up rule runs the knowledge-base search right after ("Let me look
        # for..."): _again refuses them with the search, and looks only at these
        search = ((spec.kb or {}).get("search") if spec else None) or ""
        self.announcers = {
            r["actions"][i - 1]
            for r in (spec.rules if spec else [])
            for i in range(1, len(r["actions"]))
            if r["actions"][i] == search
        }
        # response -> the slots its text names ({restaurant}), for those that name any: _again
        self.named_slots = {r: n for r in (spec.responses if spec else ()) if (n := spec.template_slots(r))}
        self.interpreter = (
            Interpreter(
                ranker.featurizer.entities,
                spec.slot_mappings,
                spec.intent_examples,
                spec.value_cues,
                ranker.featurizer.knows,
                spec.intent_sure,
                spec.intent_index,
                spec.duckling,
                spec.number_cues,
                spec.ignored_intents,
                spec.number_entities,
                spell=ranker.featurizer.spell,
            )
            if spec
            else None
        )

    def respond(
        self,
        conversation_id: str,
        text: str | bytes,
        run_actions: bool = True,
        most: int | None = None,
        message_id: str | None = None,
        metadata: dict | None = None,
    ) -> list[Reply]:
        """Store the user's turn, then the bot's actions until it listens; returns them in order.

        ``run_actions=False`` stores an action reply without running it, and ends the turn there;
        ``most`` ends a dialog bAbI bot's turn after that many replies: the user cut in (what the
        recorded dialogues of tasks 2 and 5 do; ``memchat replay`` uses both). ``message_id``: the
        client's id of this message; the same id again gets the stored replies, nothing new stored.
        ``metadata``: what the client sent with the message (Rasa's REST ``metadata``), stored with
        the user event, where plugins read it (``tracker.events``).

        The turn is stored whole, in one transaction, once the bot listens: a crash on the way
        leaves no trace of it (the client gets no answer and may retry)."""
        conversation_id = check_conversation_id(conversation_id)
        text = clean_text(text)
        if message_id is not None:
            message_id = check_message_id(message_id)
        with self.locks.hold(conversation_id):
            # a project bot reads the whole conversation anyway (its slots): read it once
            history = self.store.events(conversation_id) if self.spec is not None or message_id else None
            if message_id is not None and (stored := self.answered(conversation_id, message_id, history)) is not None:
                return stored
            turn = self.begin(conversation_id, text, message_id, metadata, history)
            if turn.tracker is not None:
                while not self.take(turn, *self.next_action(turn)):
                    pass
            else:
                speak(self, turn, run_actions, most)
            self.commit(turn)
            if turn.replies and turn.failures:  # the rewrite's failures are the first reply's too
                turn.replies[0].plugin_failures[:0] = turn.failures
            return turn.replies

    def begin(
        self,
        conversation_id: str,
        text: str,
        message_id: str | None = None,
        metadata: dict | None = None,
        history: list[Event] | None = None,
    ) -> TurnState:
        """Start a turn: the user's event (and the slots it sets), numbered after the stored ones
        and kept with the turn; the caller holds the conversation's lock, and ``commit`` stores
        the whole turn at once. ``history``: the conversation's events, when the caller has read them."""
        failures: list[PluginFailure] = []
        event, payload = self.user_event(conversation_id, text, failures, message_id, metadata)
        tracker, new, form_goes_on, lead = None, [event], False, None
        window = self.ranker.memory_size + 1
        if self.spec is not None:
            history = self.store.events(conversation_id) if history is None else history
            slots, active = conversation_state(((e.speaker, e.text) for e in history), self.spec.initial_slots)
            requested = self.requested(active, slots)
            changed, said = slots_said(self, conversation_id, event.text, slots, failures, active, requested, payload)
            if active is not None and f"validate_{active}" in self.spec.actions and self.call_action_server:
                changed.update(unknown_for_form(self, event.text, active, requested, changed))
            pointed = pointed_at(self.spec, event.text, history, slots)  # "the first one": its row's slots
            changed.update(pointed)
            new = [self.slot_event(s, v) for s, v in changed.items()] + [event]
            slots.update({s: slot_text(v) for s, v in changed.items()})
            # a copy: the turn's events go onto it (``number``), not onto the store's list
            tracker = Tracker(conversation_id, slots, active, event.text, self.spec, list(history))
            form_goes_on = active is not None and bool(set(changed) & set(self.spec.forms.get(active, ())))
            lead = lead_of(self, event.text, changed, requested)
            intent = payload[0] if payload else None  # a payload's intent is given, not guessed
            if lead is not None and lead[0] == FALLBACK and self.spec.has_intent_rule(FALLBACK_INTENT):
                intent, lead = FALLBACK_INTENT, None  # words it never saw: the project's nlu_fallback rule
            recent = history[-window:]
        else:
            recent = self.store.recent(conversation_id, window)
        last_seq = recent[-1].seq if recent else 0
        turn = TurnState(
            conversation_id, [], last_seq, tracker, form_goes_on, failures=failures, base_seq=last_seq, lead=lead
        )
        if self.spec is not None:
            turn.changed = changed
        turn.turns = [e.turn() for e in (recent + self.number(turn, new))[-window:] if in_memory(e)]
        if self.spec is not None:
            turn.named = any(self.spec.slot_entities.get(s) for s in said)
            if self.spec.intent_rules and lead is None and not set(changed) - set(pointed) and not turn.named:
                turn.rule = intent_rule_of(self, event.text, tracker, intent)
        return turn

    def why(self, conversation_id: str, seq: int) -> Ranking | None:
        """What the model scored and looked at when it took the bot event ``seq``: the memory
        window before it ranked again (the same model, so the same scores); None if ``seq`` is
        not a bot event of the conversation."""
        events = self.store.events(conversation_id)
        at = next((i for i, e in enumerate(events) if e.seq == seq), None)
        if at is None or events[at].speaker != BOT:
            return None
        window = events[:at][-(self.ranker.memory_size + 1) :]
        turns = [e.turn() for e in window if in_memory(e)]
        return self.ranker.rank(turns) if turns else None

    def commit(self, turn: TurnState) -> None:
        """Store the turn's events in one transaction: a turn is whole or absent."""
        if turn.pending:
            # after=None for a new conversation: the store creates it
            self.store.append(turn.conversation_id, turn.pending, after=turn.base_seq or None)
            turn.pending = []

    def next_action(self, turn: TurnState) -> tuple[str, Ranking]:
        """What a project bot does next: the first action a policy names, else listen."""
        self.let_go_on(turn)
        ranking = self.ranker.rank(turn.turns)
        if turn.followup is not None:  # an action server's followup event
            action, turn.followup = turn.followup, None
            return action, ranking
        at = Decision(self, turn, ranking)
        return next((a for p in self.policies if (a := p.next_action(at)) is not None), LISTEN), ranking

    def take(self, turn: TurnState, action: str, ranking: Ranking) -> bool:
        """Store and carry out one action of a project bot; True when the bot now listens."""
        self.let_go_on(turn)
        turn.step, turn.previous = turn.step + 1, action
        turn.taken.append(action)
        kind = self.spec.kind(action)
        reply = Reply(action, ranking)
        data = None
        if kind == "response" and action == self.question(turn.tracker):
            fallback_first(self, turn, action, ranking)  # the model asked the form's question itself
        if kind == "response":
            slots, data = turn.tracker.slots, {}
            if turn.lead is not None and turn.step == 1 and action == turn.lead[0]:
                slots = {**slots, **turn.lead[1]}
                data["memory"] = False  # no story has it: the model reads the turn as if unsaid
            reply.message = self.spec.render(action, slots, f"{turn.conversation_id}:{turn.last_seq}")
            data["message"] = reply.message
        self.add_events(turn, [Event(BOT, action, data)])
        if kind == "listen":
            return True
        turn.replies.append(reply)
        if kind == "action":
            run_custom_action(self, turn, reply)
        elif kind == "default":
            return run_default_action(self, turn, action, reply)
        elif kind == "form":
            return run_form(self, turn, action)
        return False

    def slot_event(self, slot: str, value: object) -> Event:
        """A slot set, as stored; one that does not influence the conversation stays out of memory."""
        return Event(KB, slot_line(slot, value), {"memory": False} if slot in self.spec.quiet_slots else None)

    def question(self, tracker: Tracker) -> str | None:
        """The question the active form asks now (for its first required slot not set), or None."""
        requested = self.requested(tracker.active_loop, tracker.slots)
        return self.spec.ask(tracker.active_loop, requested) if requested else None

    def requested(self, active: str | None, slots: dict) -> str | None:
        """The slot the active form asks for: its first required slot not set."""
        missing = self.spec.missing(active, slots) if active else []
        return missing[0] if missing else None

    def user_event(
        self,
        conversation_id: str,
        text: str,
        failures: list[PluginFailure],
        message_id: str | None = None,
        metadata: dict | None = None,
    ) -> tuple[Event, tuple[str, dict, str] | None]:
        """The user turn as stored: rewritten by the plugins in turn; the original kept in its data.
        With it, the payload the (rewritten) text is, if any (``BotSpec.payload``: ``/greet``)."""
        said, args = text, {"conversation_id": conversation_id, "text": text}
        for plugin, new in call_each(self.pm, "rewrite_user_turn", failures, args):
            try:
                args["text"] = clean_text(new)  # the next plugin sees this one's rewrite
            except MemchatError as e:  # a rewrite that is not a turn: keep the text as it was
                failures.append(PluginFailure(plugin, "rewrite_user_turn", str(e)))
        text = args["text"]
        payload = self.spec.payload(text) if self.spec is not None else None
        if payload is not None:  # "/greet": the model reads the intent's example
            text = payload[2]
        data = ({"original": said} if text != said else {}) | failures_data(failures)
        if message_id is not None:
            data["message_id"] = message_id
        if metadata:
            data["metadata"] = metadata
        return Event(USER, text, data or None), payload

    def answered(self, conversation_id: str, message_id: str, events: list[Event] | None = None) -> list[Reply] | None:
        """The replies already stored for the user message ``message_id``, or None if it is new:
        a client that retries after a lost answer gets the same answer, and the turn is stored once.
        ``events``: the conversation's events, when the caller has read them."""
        events = self.store.events(conversation_id) if events is None else events
        start = next(
            (i for i, e in enumerate(events) if e.speaker == USER and (e.data or {}).get("message_id") == message_id),
            None,
        )
        if start is None:
            return None
        replies = []
        for e in events[start + 1 :]:
            if e.speaker == USER and not (e.data or {}).get("implicit"):
                break
            if e.speaker != BOT or e.text == LISTEN:
                continue
            if self.spec is not None:
                message = (e.data or {}).get("message")
            else:
                message = None if e.text.startswith("api_call") else {"text": e.text}
            replies.append(Reply(e.text, None, message=message))
        return replies

    def choose(
        self,
        conversation_id: str,
        ranking: Ranking,
        turns: list[Turn],
        failures: list[PluginFailure],
        not_again: str | None = None,
        allowed=None,
    ) -> str | None:
        """The best-ranked candidate no plugin vetoes, other than ``not_again`` (the action just
        taken: the same action twice in a row is a loop) and that ``allowed`` lets through (a
        response whose slots are set); None when they veto every one."""
        if not self.pm.hook.veto_reply.get_hookimpls():
            best = ranking.best
            if best != not_again and (allowed is None or allowed(best)):
                return best
        for i in ranking.order():
            reply = ranking.candidates[i]
            if reply == not_again or (allowed is not None and not allowed(reply)):
                continue
            if not self.vetoed(conversation_id, reply, turns, failures):
                return reply
        return None

    def vetoed(self, conversation_id: str, reply: str, history: list[Turn], failures: list[PluginFailure]) -> bool:
        """Whether a plugin's ``veto_reply`` refuses ``reply``; the plugins that raised go into ``failures``."""
        args = {"conversation_id": conversation_id, "reply": reply, "history": history}
        return any(vetoed for _, vetoed in call_each(self.pm, "veto_reply", failures, args))

    def add_events(self, turn: TurnState, events: list[Event]) -> None:
        """Add ``events`` to the turn (``commit`` stores them), an implicit <SILENCE> first when a
        bot event would follow anything but a user turn."""
        turns = turn.turns
        if events and events[0].speaker == BOT and turns and turns[-1].speaker != USER:
            events = [Event(USER, SILENCE, {"implicit": True}), *events]
        for e in self.number(turn, events):
            if in_memory(e):
                turns.append(e.turn())
        del turns[: -(self.ranker.memory_size + 1)]

    def number(self, turn: TurnState, events: list[Event]) -> list[Event]:
        """Number ``events`` after the turn's last seq and keep them for ``commit``; we hold the
        conversation's lock, so these are the numbers the store gives them."""
        now = time.time()
        numbered = [
            Event(e.speaker, e.text, e.data, turn.last_seq + i, now, turn.conversation_id)
            for i, e in enumerate(events, start=1)
        ]
        if numbered:
            turn.last_seq = numbered[-1].seq
        turn.pending += numbered
        if turn.tracker is not None:
            turn.tracker.events += numbered
        return numbered

    def let_go_on(self, turn: TurnState) -> None:
        """Before the bot acts again after its own turn: the implicit <SILENCE> it answers."""
        if turn.turns and turn.turns[-1].speaker != USER:
            self.add_events(turn, [Event(USER, SILENCE, {"implicit": True})])

    def close(self) -> None:
        self.locks.close()
