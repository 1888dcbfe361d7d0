"""The dialogue manager: one user turn in, the bot's actions out, the whole turn stored at once.

A turn, under the conversation's lock (one turn of a conversation at a time, across threads,
processes and, on PostgreSQL, hosts):

1. the plugins' ``rewrite_user_turn`` hook may rewrite the text; for a project bot, the entities
   of the text set slots (``slot NAME VALUE`` lines, just before the user's event);
2. the bot acts until it listens: an intent rule of the project (when the bot is sure of the
   message's intent) or a follow-up rule says the next action, or the model ranks the
   candidates over the memory window and the best one that no plugin vetoes (``veto_reply``),
   and that is not the action it just took nor done again right after itself (``_again``), is
   taken. A project bot's response
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

import re
import time
import unicodedata
from dataclasses import dataclass, field
from itertools import islice

from memchat.babi import BOT, KB, SILENCE, USER, Turn
from memchat.errors import MemchatError
from memchat.locks import LockProvider, default_locks
from memchat.plugins import PluginFailure, call_each, failures_data
from memchat.project.rules import follow_up, holds, intent_rule
from memchat.project.runtime import LISTEN, SLOT_LINE, BotSpec, Interpreter, conversation_state, slot_line, slot_text
from memchat.ranker import Ranker, Ranking
from memchat.store import Event, Store

FALLBACK = "utter_default"  # Rasa's fallback response: said before a form's question asked again

MAX_TEXT = 10_000  # characters of one user turn; longer ones are refused, not cut
MAX_CONVERSATION_ID = 255
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass
class Reply:
    text: str  # what the bot did, as stored: a candidate reply, or a project's action name
    ranking: Ranking | None  # what the model scored and looked at; None: a stored reply sent again
    action_results: list[str] | None = None  # the result lines when the reply was an action
    plugin_failures: list[PluginFailure] = field(default_factory=list)  # plugins that raised on the way
    message: dict | None = None  # what a person sees ({"text": ..., "buttons": ...}); None: nothing

    @property
    def is_action(self) -> bool:
        """An action people never see as text: an api call, a custom action, a form, a listen."""
        return self.message is None


@dataclass
class TurnState:
    """One turn on its way: the memory window, the conversation's last seq, what was done so far."""

    conversation_id: str
    turns: list[Turn]  # the memory window (and the query), kept up to date
    last_seq: int
    tracker: Tracker | None  # a project bot's slots and form; None for dialog bAbI bots
    form_goes_on: bool = False  # the user's message filled a slot of the active form
    replies: list[Reply] = field(default_factory=list)
    failures: list[PluginFailure] = field(default_factory=list)  # plugins that raised before a reply
    step: int = 0  # actions taken
    previous: str | None = None  # the action just taken
    taken: list[str] = field(default_factory=list)  # the actions of this turn, in order
    base_seq: int = 0  # the conversation's last seq before this turn
    pending: list[Event] = field(default_factory=list)  # this turn's events, stored by commit()
    # what the bot says first, before the model: utter_unknown_SLOT and the slot filled with the
    # words it has no record of ("Sorry, I don't know any restaurants in dublin"), or utter_default
    # for a message of words it never saw
    lead: tuple[str, dict] | None = None
    named: bool = False  # the user's message named a value of a slot people fill (new or not)
    rule: dict | None = None  # the intent rule the message fired (rules.py), while its actions go on


@dataclass
class Tracker:
    """A conversation as an action sees it (the ``execute_action`` hook's ``tracker``)."""

    conversation_id: str
    slots: dict[str, str]
    active_loop: str | None
    latest_message: str
    spec: BotSpec | None = None  # a project bot's runtime: responses, forms, knowledge base
    events: list[Event] = field(default_factory=list)  # the whole conversation so far


def _in_memory(event: Event) -> bool:
    """Whether the model reads ``event``: all but slots that do not influence the conversation."""
    return not (event.data and event.data.get("memory") is False)


def _last_messages(events: list[Event], n: int) -> list[int]:
    """The indexes of the user's last ``n`` messages (not the implicit silences), the last first:
    found from the end, as a conversation may be long."""
    said = (i for i in range(len(events) - 1, -1, -1) if events[i].speaker == USER and events[i].text != SILENCE)
    return list(islice(said, n))


def _slots_set(events: list[Event], start: int) -> dict[str, int]:
    """The slots set from ``events[start]`` on: slot -> the index it was last set at."""
    prefix = f"{SLOT_LINE} "
    return {
        events[i].text.split(" ")[1]: i
        for i in range(start, len(events))
        if events[i].speaker == KB and events[i].text.startswith(prefix)
    }


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


def check_message_id(message_id: str) -> str:
    if not isinstance(message_id, str) or not message_id.strip() or len(message_id) > MAX_CONVERSATION_ID:
        raise MemchatError(f"message id: expected a non-empty string of at most {MAX_CONVERSATION_ID} characters")
    return message_id


class DialogueManager:
    """``locks``: what holds a conversation during a turn; default: advisory locks on PostgreSQL,
    file locks beside a SQLite store (``default_locks``). ``spec``: a project bot's
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
        self.locks = locks if locks is not None else default_locks(store)
        self.spec = spec
        self.continue_after = frozenset(continue_after)
        # the actions a follow-up rule runs the knowledge-base search right after ("Let me look
        # for..."): _again refuses them with the search, and looks only at these
        search = ((spec.kb or {}).get("search") if spec else None) or ""
        self._announcers = {
            r["actions"][i - 1]
            for r in (spec.rules if spec else [])
            for i in range(1, len(r["actions"]))
            if r["actions"][i] == search
        }
        # response -> the slots its text names ({restaurant}), for those that name any: _again
        self._named_slots = {r: n for r in (spec.responses if spec else ()) if (n := spec.template_slots(r))}
        self.interpreter = (
            Interpreter(
                ranker.featurizer.entities,
                spec.slot_mappings,
                spec.intent_examples,
                spec.value_cues,
                ranker.featurizer.knows,
                spec.intent_sure,
                spec.intent_index,
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
                self._speak(turn, run_actions, most)
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
        event = self._user_event(conversation_id, text, failures, message_id, metadata)
        tracker, new, form_goes_on, lead = None, [event], False, None
        window = self.ranker.memory_size + 1
        if self.spec is not None:
            history = self.store.events(conversation_id) if history is None else history
            slots, active = conversation_state(((e.speaker, e.text) for e in history), self.spec.initial_slots)
            requested = self._requested(active, slots)
            changed, said = self._slots_said(conversation_id, event.text, slots, failures, active, requested)
            new = [self._slot_event(s, v) for s, v in changed.items()] + [event]
            slots.update({s: slot_text(v) for s, v in changed.items()})
            tracker = Tracker(conversation_id, slots, active, event.text, self.spec, history)
            form_goes_on = active is not None and bool(set(changed) & set(self.spec.forms.get(active, ())))
            lead = self._lead(event.text, changed, requested)
            recent = history[-window:]
        else:
            recent = self.store.recent(conversation_id, window)
        last_seq = recent[-1].seq if recent else 0
        turn = TurnState(
            conversation_id, [], last_seq, tracker, form_goes_on, failures=failures, base_seq=last_seq, lead=lead
        )
        turn.turns = [e.turn() for e in (recent + self._keep(turn, new))[-window:] if _in_memory(e)]
        if self.spec is not None:
            turn.named = any(self.spec.slot_entities.get(s) for s in said)
            if self.spec.intent_rules and lead is None and not changed and not turn.named:
                turn.rule = self._intent_rule(event.text, tracker)
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
        turns = [e.turn() for e in window if _in_memory(e)]
        return self.ranker.rank(turns) if turns else None

    def commit(self, turn: TurnState) -> None:
        """Store the turn's events in one transaction: a turn is whole or absent."""
        if turn.pending:
            # after=None for a new conversation: the store creates it
            self.store.append(turn.conversation_id, turn.pending, after=turn.base_seq or None)
            turn.pending = []

    def next_action(self, turn: TurnState) -> tuple[str, Ranking]:
        """What a project bot does next: the form the user is answering, else the model's best
        action (not the one it just took), else listen; after ``max_actions`` it listens."""
        self._let_go_on(turn)
        ranking = self.ranker.rank(turn.turns)
        if turn.step >= self.max_actions:
            return LISTEN, ranking  # a bot that never listens is made to
        if turn.lead is not None and turn.step == 0:
            return turn.lead[0], ranking  # "Sorry, I don't know any restaurants in dublin" first
        led = int(turn.lead is not None)  # the actions taken before the form goes on: the lead's
        if turn.step == led and turn.tracker.active_loop and (turn.form_goes_on or led):
            return turn.tracker.active_loop, ranking  # the user answered the form's question
        failures: list[PluginFailure] = []
        again = self._again(turn)
        if turn.rule is not None:
            ruled = self._rule_goes_on(turn, again)
            if ruled is not None:
                return ruled, ranking
        ruled = follow_up(self.spec.rules, turn.taken, turn.tracker.slots, turn.tracker.active_loop)
        if (
            ruled is not None
            and ruled not in again
            and (ruled == LISTEN or self.spec.renderable(ruled, turn.tracker.slots))
        ):
            # a follow-up rule: the chain the author wrote goes on, unless a plugin vetoes it
            if not self._vetoed(turn.conversation_id, ruled, list(turn.turns), failures):
                turn.failures += failures
                return ruled, ranking
        # a person who said something always gets an answer: never listen as the first action
        not_now = LISTEN if turn.step == 0 and turn.tracker.latest_message != SILENCE else turn.previous
        slots = turn.tracker.slots
        active = turn.tracker.active_loop
        # while a form waits, of its questions only the one for the slot it needs may be asked,
        # and no custom action runs (a search on half the slots is the wrong search)
        question = self._question(turn.tracker)
        wrong = {self.spec.ask(active, s) for s in self.spec.forms.get(active, ())} - {question}

        def sayable(c: str) -> bool:
            if c in again or not self.spec.renderable(c, slots):
                return False
            if c in turn.taken and self.spec.kind(c) == "response":
                return False  # said already in this turn: a turn going round in a circle
            # "That was the last one I know of", with no suggestion looked for
            return self.spec.action_results.get(c, turn.previous) == turn.previous

        def allowed(c: str) -> bool:
            if c in wrong or not sayable(c):
                return False
            if question is not None and self.spec.kind(c) == "action":
                return False
            if led and active is None:  # after "I don't know any restaurants in dublin": a form, or listen
                starts = turn.lead[0] != FALLBACK and self.spec.kind(c) == "form" and bool(self.spec.missing(c, slots))
                return c == LISTEN or starts
            return True

        action = self._choose(
            turn.conversation_id, ranking, list(turn.turns), failures, not_again=not_now, allowed=allowed
        )
        turn.failures += failures
        if (
            action in (None, LISTEN)
            and question is not None
            and turn.previous in self.spec.form_resumes
            and question not in turn.taken
        ):
            action = active  # off-topic answered: the form asks again, where it was (form_resumes)
        if (
            action in (None, LISTEN)
            and turn.tracker.latest_message != SILENCE
            and not any(r.message for r in turn.replies)
        ):
            # about to listen without a word said this turn: the best response instead (a stall
            # is the worst answer a person can get)
            action = next(
                (c for i in ranking.order() if self.spec.kind(c := ranking.candidates[i]) == "response" and sayable(c)),
                action,
            )
        return action or LISTEN, ranking

    def take(self, turn: TurnState, action: str, ranking: Ranking) -> bool:
        """Store and carry out one action of a project bot; True when the bot now listens."""
        self._let_go_on(turn)
        turn.step, turn.previous = turn.step + 1, action
        turn.taken.append(action)
        kind = self.spec.kind(action)
        reply = Reply(action, ranking)
        data = None
        if kind == "response" and action == self._question(turn.tracker):
            self._fallback_first(turn, action, ranking)  # the model asked the form's question itself
        if kind == "response":
            slots, data = turn.tracker.slots, {}
            if turn.lead is not None and turn.step == 1 and action == turn.lead[0]:
                slots = {**slots, **turn.lead[1]}
                data["memory"] = False  # no story has it: the model reads the turn as if unsaid
            reply.message = self.spec.render(action, slots, f"{turn.conversation_id}:{turn.last_seq}")
            data["message"] = reply.message
        self._store(turn, [Event(BOT, action, data)])
        if kind == "listen":
            return True
        turn.replies.append(reply)
        if kind == "action":
            self._run_action(turn, reply)
        elif kind == "form":
            return self._run_form(turn, action)
        return False

    def _slot_event(self, slot: str, value: object) -> Event:
        """A slot set, as stored; one that does not influence the conversation stays out of memory."""
        return Event(KB, slot_line(slot, value), {"memory": False} if slot in self.spec.quiet_slots else None)

    def _question(self, tracker: Tracker) -> str | None:
        """The question the active form asks now (for its first required slot not set), or None."""
        requested = self._requested(tracker.active_loop, tracker.slots)
        return self.spec.ask(tracker.active_loop, requested) if requested else None

    def _requested(self, active: str | None, slots: dict) -> str | None:
        """The slot the active form asks for: its first required slot not set."""
        missing = self.spec.missing(active, slots) if active else []
        return missing[0] if missing else None

    def _again(self, turn: TurnState) -> set[str]:
        """What would be the bot's previous turn again, right after it -- a loop (issue: "the same
        action with the same arguments is not run twice in a row"):

        - the knowledge-base search, and the actions a follow-up rule runs it after ("Let me look
          for..."), when it ran in the bot's previous turn and no slot people fill changed since;
          or when it ran before, no such slot was set since, and the user's message names no
          value ("where will i find it" after a booking asks for no search);
        - a response with slots in it ("What do you think of {restaurant}?") said in the bot's
          previous turn, when none of its slots was set since and no custom action ran in this
          turn (a new search may find the same restaurant): the same suggestion again;
        - the knowledge-base suggestion, when it ran in the bot's previous turn and found none
          left (``found`` false), and no slot people fill changed since.

        A question with no slots in it (a form's) may come again: the user did not answer it."""
        events = turn.tracker.events
        said = _last_messages(events, 2)
        if len(said) < 2:
            return set()
        previous = range(said[1] + 1, said[0])  # the bot's previous turn
        set_after = _slots_set(events, said[1] + 1)  # since the previous turn began
        again, question = set(), self._question(turn.tracker)
        search = (self.spec.kb or {}).get("search")
        filled = {s for s, entities in self.spec.slot_entities.items() if entities}
        if search and not filled & set_after.keys():
            ran = (i for i in range(said[0] - 1, -1, -1) if events[i].speaker == BOT and events[i].text == search)
            last = next(ran, None)  # the last search before this message
            if last is not None and (
                last in previous or (not turn.named and not filled & _slots_set(events, last + 1).keys())
            ):
                slots = turn.tracker.slots
                announce = {a for a in self._announcers if follow_up(self.spec.rules, [a], slots, None) == search}
                again |= {search} | announce
        suggest = (self.spec.kb or {}).get("suggest")
        if (
            suggest
            and turn.tracker.slots.get("found") == "false"
            and not filled & set_after.keys()
            and any(events[i].speaker == BOT and events[i].text == suggest for i in previous)
        ):
            again.add(suggest)  # none was left then, and nothing changed since: none is left now
        if any(self.spec.kind(a) == "action" for a in turn.taken):
            return again  # an action ran since: it may have set the slots again, to the same values
        for i in previous:
            e = events[i]
            if e.speaker == BOT and e.text != question and (names := self._named_slots.get(e.text)):
                if all(set_after.get(s, -1) < i for s in names):
                    again.add(e.text)
        return again

    def _intent_rule(self, text: str, tracker: Tracker) -> dict | None:
        """The intent rule a message fires: its intent certain, the rule's condition holding, and
        the bot's last actions before it those the rule names."""
        intent = self.interpreter.matcher.certain(text) if text != SILENCE else None
        if intent is None:
            return None
        events = tracker.events
        said = _last_messages(events, 2)  # events[said[0]] is this message
        start = said[1] + 1 if len(said) > 1 else 0
        before = [e.text for e in events[start : said[0]] if e.speaker == BOT and e.text != LISTEN]
        base, _, sub = intent.partition("/")
        rule = intent_rule(self.spec.intent_rules, base, before, tracker.slots, tracker.active_loop, len(said) == 1)
        if rule is not None and sub:  # a retrieval intent: utter_faq says utter_faq/hours
            own = [f"{a}/{sub}" if f"{a}/{sub}" in self.spec.responses else a for a in rule["actions"]]
            rule = rule | {"actions": own}
        return rule

    def _rule_goes_on(self, turn: TurnState, again: set[str]) -> str | None:
        """The intent rule's next action, or listen after its last (unless it says not to wait);
        None, and the rule dropped, when its next action cannot be said now or a plugin vetoes it."""
        rule, j, tracker = turn.rule, len(turn.taken), turn.tracker
        if turn.taken != rule["actions"][:j]:
            turn.rule = None
            return None
        if j == len(rule["actions"]):  # its end: a follow-up rule goes on, else it listens
            turn.rule = None
            going_on = follow_up(self.spec.rules, turn.taken, tracker.slots, tracker.active_loop)
            return LISTEN if rule["wait"] and going_on is None else None
        action = rule["actions"][j]
        if (
            action in again
            or self.spec.kind(action) == "action"
            and action not in self.spec.actions
            or not self.spec.renderable(action, tracker.slots)
            or (j and not holds(rule["states"][j], tracker.slots, tracker.active_loop))
        ):
            turn.rule = None
            return None
        failures: list[PluginFailure] = []
        vetoed = self._vetoed(turn.conversation_id, action, list(turn.turns), failures)
        turn.failures += failures  # a plugin that raised is named, whether or not another vetoed
        if vetoed:
            turn.rule = None
            return None
        return action

    def _lead(self, text: str, changed: dict, requested: str | None) -> tuple[str, dict] | None:
        """What the bot says first (``TurnState.lead``): when the user named a value it has no
        record of, for a slot this message did not set, the domain's ``utter_unknown_SLOT`` if it
        has one; when the message has no word the bot ever saw, ``utter_default`` if it has one."""
        asked = next(iter(self.spec.slot_entities.get(requested) or []), None) if requested else None
        for entity, words in self.interpreter.unknown_values(text, asked):
            for slot, entities in self.spec.slot_entities.items():
                if entity in entities and slot not in changed and f"utter_unknown_{slot}" in self.spec.responses:
                    return f"utter_unknown_{slot}", {slot: words}
        if not changed and FALLBACK in self.spec.responses and self.interpreter.unheard(text):
            return FALLBACK, {}
        return None

    def _slots_said(
        self,
        conversation_id: str,
        text: str,
        slots: dict,
        failures: list[PluginFailure],
        active: str | None = None,
        requested: str | None = None,
    ) -> tuple[dict, set[str]]:
        """The slots the user's text sets, as the plugins' ``validate_slot`` hook lets them, and
        the slots it names (set to their value again, or not)."""
        changed, said = {}, self.interpreter.slots_from_text(text, active, requested)
        for slot, value in said.items():
            args = {"conversation_id": conversation_id, "slot": slot, "value": value, "slots": slots}
            verdicts = [v for _, v in call_each(self.pm, "validate_slot", failures, args)]
            if any(v is False for v in verdicts):
                continue
            value = next((v for v in verdicts if v is not True), value)
            if slots.get(slot) != slot_text(value):
                changed[slot] = value
        return changed, set(said)

    def _user_event(
        self,
        conversation_id: str,
        text: str,
        failures: list[PluginFailure],
        message_id: str | None = None,
        metadata: dict | None = None,
    ) -> Event:
        """The user turn as stored: rewritten by the plugins in turn; the original kept in its data."""
        said, args = text, {"conversation_id": conversation_id, "text": text}
        for plugin, new in call_each(self.pm, "rewrite_user_turn", failures, args):
            try:
                args["text"] = clean_text(new)  # the next plugin sees this one's rewrite
            except MemchatError as e:  # a rewrite that is not a turn: keep the text as it was
                failures.append(PluginFailure(plugin, "rewrite_user_turn", str(e)))
        text = args["text"]
        data = ({"original": said} if text != said else {}) | failures_data(failures)
        if message_id is not None:
            data["message_id"] = message_id
        if metadata:
            data["metadata"] = metadata
        return Event(USER, text, data or None)

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

    def _choose(
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
            if not self._vetoed(conversation_id, reply, turns, failures):
                return reply
        return None

    def _vetoed(self, conversation_id: str, reply: str, history: list[Turn], failures: list[PluginFailure]) -> bool:
        """Whether a plugin's ``veto_reply`` refuses ``reply``; the plugins that raised go into ``failures``."""
        args = {"conversation_id": conversation_id, "reply": reply, "history": history}
        return any(vetoed for _, vetoed in call_each(self.pm, "veto_reply", failures, args))

    def _store(self, turn: TurnState, events: list[Event]) -> None:
        """Add ``events`` to the turn (``commit`` stores them), an implicit <SILENCE> first when a
        bot event would follow anything but a user turn."""
        turns = turn.turns
        if events and events[0].speaker == BOT and turns and turns[-1].speaker != USER:
            events = [Event(USER, SILENCE, {"implicit": True}), *events]
        for e in self._keep(turn, events):
            if _in_memory(e):
                turns.append(e.turn())
        del turns[: -(self.ranker.memory_size + 1)]

    def _keep(self, turn: TurnState, events: list[Event]) -> list[Event]:
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

    def _let_go_on(self, turn: TurnState) -> None:
        """Before the bot acts again after its own turn: the implicit <SILENCE> it answers."""
        if turn.turns and turn.turns[-1].speaker != USER:
            self._store(turn, [Event(USER, SILENCE, {"implicit": True})])

    def _speak(self, turn: TurnState, run_actions: bool, most: int | None = None) -> None:
        """A dialog bAbI bot's turn: replies, api calls run through the plugins, and going on by
        itself after the replies its training users let it go on from."""
        failures, replies = [], turn.replies
        for _ in range(self.max_actions):
            self._let_go_on(turn)
            ranking = self.ranker.rank(turn.turns)
            previous = replies[-1].text if replies else None
            text = self._choose(turn.conversation_id, ranking, list(turn.turns), failures, not_again=previous)
            if text is None:  # every candidate vetoed: the bot says nothing
                break
            reply = Reply(
                text, ranking, plugin_failures=failures, message=None if text.startswith("api_call") else {"text": text}
            )
            self._store(turn, [Event(BOT, reply.text, failures_data(failures) or None)])
            replies.append(reply)
            failures = []
            if most is not None and len(replies) >= most:
                break
            if reply.is_action:
                if not run_actions:
                    break
                args = {
                    "store": self.store,
                    "conversation_id": turn.conversation_id,
                    "action": reply.text,
                    "tracker": None,
                }
                results = next((r for _, r in call_each(self.pm, "execute_action", failures, args)), None)
                reply.plugin_failures += failures
                failures = []
                if results is None:  # no plugin runs this action: the reply stands as said
                    break
                reply.action_results = list(results)
                self._store(turn, [Event(KB, line) for line in results])
            elif text not in self.continue_after:
                break

    def _run_action(self, turn: TurnState, reply: Reply) -> None:
        """A custom action through the plugins: its lines and slots stored, its messages sent."""
        failures: list[PluginFailure] = []
        args = {
            "store": self.store,
            "conversation_id": turn.conversation_id,
            "action": reply.text,
            "tracker": turn.tracker,
        }
        result = next((r for _, r in call_each(self.pm, "execute_action", failures, args)), None)
        reply.plugin_failures += failures
        if result is None:
            reply.plugin_failures.append(PluginFailure("-", "execute_action", f"no plugin runs {reply.text}"))
            return
        if not isinstance(result, dict):
            result = {"lines": list(result)}
        lines = [str(x) for x in result.get("lines") or []]
        events = [Event(KB, line) for line in lines]
        for name, value in (result.get("slots") or {}).items():
            value = slot_text(value)
            if turn.tracker.slots.get(str(name)) != value:  # a slot set again to its value: nothing new
                events.append(self._slot_event(str(name), value))
                turn.tracker.slots[str(name)] = value
        reply.action_results = lines
        for text in result.get("messages") or []:
            turn.replies.append(Reply(reply.text, reply.ranking, message={"text": str(text)}))
        if events:
            self._store(turn, events)

    def _run_form(self, turn: TurnState, form: str) -> bool:
        """A form: ask for its first missing slot and listen (True), or close it when all are filled."""
        tracker = turn.tracker
        missing = self.spec.missing(form, tracker.slots)
        if not missing:
            tracker.active_loop = None
            self._store(turn, [Event(KB, "active_loop null")])
            return False
        if tracker.active_loop != form:
            tracker.active_loop = form
            self._store(turn, [Event(KB, f"active_loop {form}")])
        ask = self.spec.ask(form, missing[0])
        message = self.spec.render(ask, tracker.slots, f"{turn.conversation_id}:{turn.last_seq}")
        self._let_go_on(turn)
        ranking = self.ranker.rank(turn.turns)
        self._fallback_first(turn, ask, ranking)
        self._store(turn, [Event(BOT, ask, {"message": message})])
        turn.replies.append(Reply(ask, ranking, message=message))
        self._store(turn, [Event(BOT, LISTEN)])
        return True

    def _fallback_first(self, turn: TurnState, ask: str, ranking: Ranking) -> None:
        """Before a form's question asked again right after itself, the user's answer unheard:
        Rasa's fallback response (``utter_default``), if the domain has one, so the person knows
        why it comes again."""
        if FALLBACK in self.spec.responses and self._asked_again(turn, ask):
            said = self.spec.render(FALLBACK, turn.tracker.slots, f"{turn.conversation_id}:{turn.last_seq}")
            self._store(turn, [Event(BOT, FALLBACK, {"message": said})])
            turn.replies.append(Reply(FALLBACK, ranking, message=said))

    def _asked_again(self, turn: TurnState, ask: str) -> bool:
        """Whether ``ask`` was the bot's last message before the user's, and the user's message
        filled none of the form's slots and got no other message this turn."""
        if turn.form_goes_on or any(r.message for r in turn.replies) or turn.tracker.latest_message == SILENCE:
            return False
        said = [i for i, t in enumerate(turn.turns) if t.speaker == USER and t.text != SILENCE]
        if not said:
            return False
        before = (
            t.text
            for t in reversed(turn.turns[: said[-1]])
            if t.speaker == BOT and self.spec.kind(t.text) == "response"
        )
        return next(before, None) == ask

    def close(self) -> None:
        self.locks.close()
