"""What a project bot reads in the user's message before its policies act: the slots it sets
(``slots_said``, as the plugins' ``validate_slot`` lets them) and what the bot says first
(``lead_of``: a value it has no record of, or words it never saw).

Each function takes ``dm``, the ``DialogueManager`` running the turn (not imported here: it
imports this module)."""

from __future__ import annotations

from memchat.dialogue.turn import FALLBACK
from memchat.plugins import PluginFailure, call_each
from memchat.project.spec import slot_text


def lead_of(dm, text: str, changed: dict, requested: str | None) -> tuple[str, dict] | None:
    """What the bot says first (``TurnState.lead``): when the user named a value it has no
    record of, for a slot this message did not set, the domain's ``utter_unknown_SLOT`` if it
    has one; when the message has no word the bot ever saw, or the bot is unsure of it
    (``Interpreter.unsure``), ``utter_default`` if it has one."""
    asked = next(iter(dm.spec.slot_entities.get(requested) or []), None) if requested else None
    for entity, words in dm.interpreter.unknown_values(text, asked):
        for slot, entities in dm.spec.slot_entities.items():
            if entity in entities and slot not in changed and f"utter_unknown_{slot}" in dm.spec.responses:
                return f"utter_unknown_{slot}", {slot: words}
    if not changed and FALLBACK in dm.spec.responses and (dm.interpreter.unheard(text) or dm.interpreter.unsure(text)):
        return FALLBACK, {}
    return None


def slots_said(
    dm,
    conversation_id: str,
    text: str,
    slots: dict,
    failures: list[PluginFailure],
    active: str | None = None,
    requested: str | None = None,
    payload: tuple[str, dict, str] | None = None,
) -> tuple[dict, set[str]]:
    """The slots the user's text sets, as the plugins' ``validate_slot`` hook lets them, and
    the slots it names (set to their value again, or not). ``payload``: the message was
    Rasa's ``/intent{entities}`` (``BotSpec.payload``): its intent and entities are read."""
    intent, given = (payload[0], payload[1]) if payload else (None, None)
    changed, said = {}, dm.interpreter.slots_from_text(text, active, requested, intent, given)
    for slot, value in said.items():
        args = {"conversation_id": conversation_id, "slot": slot, "value": value, "slots": slots}
        verdicts = [v for _, v in call_each(dm.pm, "validate_slot", failures, args)]
        if any(v is False for v in verdicts):
            continue
        value = next((v for v in verdicts if v is not True), value)
        if slots.get(slot) != slot_text(value):
            changed[slot] = value
    return changed, set(said)


def unknown_for_form(dm, text: str, form: str, requested: str | None, changed: dict) -> dict[str, str]:
    """Values the bot has no record of ("klingon food") for the slots of a form its project
    validates (``validate_<form>`` on the action server): set, as Rasa's entity extractor would,
    for the validator to accept or refuse with its own message."""
    asked = next(iter(dm.spec.slot_entities.get(requested) or []), None) if requested else None
    out = {}
    for entity, words in dm.interpreter.unknown_values(text, asked):
        for slot in dm.spec.forms.get(form, ()):
            if entity in dm.spec.slot_entities.get(slot, ()) and slot not in changed and slot not in out:
                out[slot] = words
    return out
