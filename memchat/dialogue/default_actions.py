"""Rasa's default actions, which every bot has without declaring them: what each does here.

- ``action_deactivate_loop``: the active form stops (``active_loop null``); its slots stay.
- ``action_restart``: ``utter_restart`` if the domain has it, then every slot back to its
  initial value and no form: the conversation starts over (its history stays stored).
- ``action_default_fallback``, ``action_two_stage_fallback``, ``action_default_ask_rephrase``,
  ``action_default_ask_affirmation``: the fallback response (``utter_ask_rephrase`` where Rasa
  asks to rephrase, else ``utter_default``), then the bot listens.
- ``action_back``: ``utter_back`` if the domain has it; the bot listens.
- ``action_session_start``, ``action_unlikely_intent``, ``action_extract_slots``,
  ``action_revert_fallback_events``: nothing to do (memchat keeps one session a conversation,
  and reads slots as each message comes in).
"""

from __future__ import annotations

from memchat.dialogs import KB
from memchat.dialogue.turn import FALLBACK, Reply, TurnState
from memchat.project.spec import LISTEN, is_unset
from memchat.store.event import Event

_SAYS = {  # action -> the responses it says, the first the domain has
    "action_restart": ("utter_restart",),
    "action_default_fallback": (FALLBACK,),
    "action_two_stage_fallback": ("utter_ask_rephrase", FALLBACK),
    "action_default_ask_rephrase": ("utter_ask_rephrase", FALLBACK),
    "action_default_ask_affirmation": ("utter_ask_rephrase", FALLBACK),
    "action_back": ("utter_back",),
}
_LISTENS = {
    "action_default_fallback",
    "action_two_stage_fallback",
    "action_default_ask_rephrase",
    "action_default_ask_affirmation",
    "action_back",
}


def run_default_action(dm, turn: TurnState, action: str, reply: Reply) -> bool:
    """Carry out one of Rasa's default actions; True when the bot now listens."""
    tracker, events = turn.tracker, []
    said = next((r for r in _SAYS.get(action, ()) if r in dm.spec.responses), None)
    if said is not None:
        reply.message = dm.spec.render(said, tracker.slots, f"{turn.conversation_id}:{turn.last_seq}")
    if action in ("action_deactivate_loop", "action_restart") and tracker.active_loop:
        tracker.active_loop = None
        events.append(Event(KB, "active_loop null"))
    if action == "action_restart":
        for name, value in list(tracker.slots.items()):
            initial = dm.spec.initial_slots.get(name)
            if value != initial and not (is_unset(value) and initial is None):
                tracker.slots[name] = initial if initial is not None else "null"
                events.append(dm.slot_event(name, initial))
    if events:
        dm.add_events(turn, events)
    if action in _LISTENS:
        dm.add_events(turn, [Event("bot", LISTEN)])
        return True
    return False
