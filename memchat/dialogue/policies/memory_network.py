"""The memory network's choice: the best-ranked candidate that can be said now, that no plugin
vetoes, and that is neither the action just taken nor a repeat of the previous turn."""

from __future__ import annotations

from memchat.dialogs import SILENCE
from memchat.dialogue.policies.base import Decision
from memchat.dialogue.turn import FALLBACK
from memchat.plugins import PluginFailure
from memchat.project.spec import LISTEN


def sayable(at: Decision, c: str) -> bool:
    """Whether ``c`` may be said now: not a repeat, its slots set, not said already this turn,
    not a "that was the last one" with no suggestion looked for, and not the knowledge base's
    suggestion before it was searched."""
    spec, turn = at.dm.spec, at.turn
    if c in at.again or not spec.renderable(c, turn.tracker.slots):
        return False
    if c in turn.taken and spec.kind(c) == "response":
        return False  # said already in this turn: a turn going round in a circle
    kb = spec.kb
    if kb and c == kb.get("suggest") and not any(e.text == kb["search"] for e in turn.tracker.events):
        return False  # a suggestion before any search: the best row of the whole table, for nobody's request
    # "That was the last one I know of", with no suggestion looked for
    return spec.action_results.get(c, turn.previous) == turn.previous


class MemoryNetwork:
    """The model's best candidate that ``allowed`` lets through; passes when that is to listen
    (the fallbacks after it may still find something to say)."""

    def next_action(self, at: Decision) -> str | None:
        dm, turn = at.dm, at.turn
        spec, slots, active = dm.spec, turn.tracker.slots, turn.tracker.active_loop
        # a person who said something always gets an answer: never listen as the first action
        not_now = LISTEN if turn.step == 0 and turn.tracker.latest_message != SILENCE else turn.previous
        # while a form waits, of its questions only the one for the slot it needs may be asked,
        # and no custom action runs (a search on half the slots is the wrong search)
        question, led = at.question, at.led
        wrong = {spec.ask(active, s) for s in spec.forms.get(active, ())} - {question}

        def allowed(c: str) -> bool:
            if c in wrong or not sayable(at, c):
                return False
            if question is not None and spec.kind(c) == "action":
                return False
            if led and active is None:  # after "I don't know any restaurants in dublin": a form, or listen
                starts = turn.lead[0] != FALLBACK and spec.kind(c) == "form" and bool(spec.missing(c, slots))
                return c == LISTEN or starts
            return True

        failures: list[PluginFailure] = []
        action = dm.choose(
            turn.conversation_id, at.ranking, list(turn.turns), failures, not_again=not_now, allowed=allowed
        )
        turn.failures += failures
        return None if action == LISTEN else action
