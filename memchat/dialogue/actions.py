"""The actions a project bot runs besides its responses: a custom action (through the plugins'
``execute_action`` hook: its lines, slots and messages), and a form (ask for its first missing
slot, or close it), with the fallback response before a question asked again.

Each function takes ``dm``, the ``DialogueManager`` running the turn (not imported here: it
imports this module)."""

from __future__ import annotations

from memchat.dialogs import BOT, KB, SILENCE, USER
from memchat.dialogue import action_server
from memchat.dialogue.turn import FALLBACK, Reply, TurnState
from memchat.nn.ranker import Ranking
from memchat.plugins import PluginFailure, call_each
from memchat.project.spec import LISTEN, slot_text
from memchat.store.event import Event


def run_custom_action(dm, turn: TurnState, reply: Reply) -> None:
    """A custom action through the plugins: its lines and slots stored, its messages sent."""
    failures: list[PluginFailure] = []
    args = {
        "store": dm.store,
        "conversation_id": turn.conversation_id,
        "action": reply.text,
        "tracker": turn.tracker,
    }
    result = next((r for _, r in call_each(dm.pm, "execute_action", failures, args)), None)
    reply.plugin_failures += failures
    if result is None and not dm.call_action_server:  # a test: Rasa's evaluation runs no custom action
        return
    if result is None and action_server.endpoint(dm):
        action_server.run(dm, turn, reply)
        return
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
            events.append(dm.slot_event(str(name), value))
            turn.tracker.slots[str(name)] = value
    reply.action_results = lines
    for text in result.get("messages") or []:
        turn.replies.append(Reply(reply.text, reply.ranking, message={"text": str(text)}))
    if events:
        dm.add_events(turn, events)


def run_form(dm, turn: TurnState, form: str) -> bool:
    """A form: ask for its first missing slot and listen (True), or close it when all are filled."""
    tracker = turn.tracker
    validator = f"validate_{form}"
    if turn.changed and not turn.validated and validator in dm.spec.actions and dm.call_action_server:
        turn.validated = True  # Rasa's form validates the user's slots before it asks again
        if action_server.endpoint(dm):
            action_server.validate_form(dm, turn, form, {s: tracker.slots.get(s) for s in turn.changed})
    missing = dm.spec.missing(form, tracker.slots)
    if not missing:
        tracker.active_loop = None
        dm.add_events(turn, [Event(KB, "active_loop null")])
        return False
    if tracker.active_loop != form:
        tracker.active_loop = form
        dm.add_events(turn, [Event(KB, f"active_loop {form}")])
    ask = dm.spec.ask(form, missing[0])
    dm.let_go_on(turn)
    ranking = dm.ranker.rank(turn.turns)
    if dm.spec.kind(ask) == "action":  # the form asks with a custom action (Rasa's action_ask_<slot>)
        reply = Reply(ask, ranking)
        dm.add_events(turn, [Event(BOT, ask)])
        turn.replies.append(reply)
        run_custom_action(dm, turn, reply)
        dm.add_events(turn, [Event(BOT, LISTEN)])
        return True
    message = dm.spec.render(ask, tracker.slots, f"{turn.conversation_id}:{turn.last_seq}")
    fallback_first(dm, turn, ask, ranking)
    dm.add_events(turn, [Event(BOT, ask, {"message": message})])
    turn.replies.append(Reply(ask, ranking, message=message))
    dm.add_events(turn, [Event(BOT, LISTEN)])
    return True


def fallback_first(dm, turn: TurnState, ask: str, ranking: Ranking) -> None:
    """Before a form's question asked again right after itself, the user's answer unheard:
    Rasa's fallback response (``utter_default``), if the domain has one, so the person knows
    why it comes again."""
    if FALLBACK in dm.spec.responses and asked_again(dm, turn, ask):
        said = dm.spec.render(FALLBACK, turn.tracker.slots, f"{turn.conversation_id}:{turn.last_seq}")
        dm.add_events(turn, [Event(BOT, FALLBACK, {"message": said})])
        turn.replies.append(Reply(FALLBACK, ranking, message=said))


def asked_again(dm, turn: TurnState, ask: str) -> bool:
    """Whether ``ask`` was the bot's last message before the user's, and the user's message
    filled none of the form's slots and got no other message this turn."""
    if turn.form_goes_on or any(r.message for r in turn.replies) or turn.tracker.latest_message == SILENCE:
        return False
    said = [i for i, t in enumerate(turn.turns) if t.speaker == USER and t.text != SILENCE]
    if not said:
        return False
    before = (
        t.text for t in reversed(turn.turns[: said[-1]]) if t.speaker == BOT and dm.spec.kind(t.text) == "response"
    )
    return next(before, None) == ask
