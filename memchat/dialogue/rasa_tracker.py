"""A conversation as Rasa's tracker shows it: the JSON an action server receives and
``/conversations/{id}/tracker`` serves (Rasa's events, slots, ``latest_message``, ``active_loop``).

memchat's inner details stay inside: the implicit ``<SILENCE>`` turns between two bot actions
are no events here, slot and form lines become ``slot`` and ``active_loop`` events, and a slot's
stored text is given back as its type's value (a float slot's ``4`` is 4.0). Each event also
carries memchat's ``seq`` (what ``/conversations/{id}/why/{seq}`` explains).
"""

from __future__ import annotations

import json

from memchat.dialogs import BOT, KB, SILENCE, USER
from memchat.project.spec import LISTEN, LOOP_LINE, SLOT_LINE, BotSpec, is_unset
from memchat.store.event import Event


def typed(value: str | None, kind: str | None):
    """A slot's stored text as Rasa gives it for a slot of type ``kind``."""
    if is_unset(value):
        return None
    if value in ("true", "false"):  # a from_intent mapping's true sets a text slot to True, in Rasa too
        return value == "true"
    if kind == "float":
        try:
            return float(value)
        except ValueError:
            return value
    if kind in ("list", "any", None) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def rasa_events(events: list[Event], spec: BotSpec | None, parse_of=None) -> list[dict]:
    """Rasa's events for memchat's stored ones; ``parse_of(text)``: a user message's intent,
    its confidence, the ranking of intents and the entities (``Interpreter.parse``)."""
    out: list[dict] = []
    types = spec.slot_types if spec else {}
    for e in events:
        data, at = e.data or {}, {"timestamp": e.timestamp, "seq": e.seq}
        if e.speaker == USER:
            if data.get("implicit") or e.text == SILENCE:
                continue
            text = data.get("original", e.text)
            given = spec.payload(text) if spec is not None else None  # a button's: its intent, for sure
            if given is not None:
                entities = [{"entity": k, "value": v} for k, v in given[1].items()]
                parse = {"intent": {"name": given[0], "confidence": 1.0}, "entities": entities}
            else:
                parse = parse_of(e.text) if parse_of else {"intent": {"name": None, "confidence": 0.0}, "entities": []}
            parse = {"text": text, **parse}
            metadata = data.get("metadata") or {}
            out.append({"event": "user", "text": text, "parse_data": parse, "metadata": metadata, **at})
            if data.get("message_id"):
                out[-1]["message_id"] = data["message_id"]
        elif e.speaker == BOT:
            out.append({"event": "action", "name": e.text, "policy": None, "confidence": None, **at})
            message = data.get("message")
            if spec is None and e.text != LISTEN and not e.text.startswith("api_call"):
                message = {"text": e.text}  # a dialog bAbI bot's reply is its text
            if message and e.text != LISTEN:
                payload = {k: v for k, v in message.items() if k != "text"}
                out.append({"event": "bot", "text": message.get("text"), "data": payload, "metadata": {}, **at})
        elif e.speaker == KB:
            head, _, rest = e.text.partition(" ")
            if head == SLOT_LINE:
                name, _, value = rest.partition(" ")
                out.append({"event": "slot", "name": name, "value": typed(value, types.get(name)), **at})
            elif head == LOOP_LINE:
                out.append({"event": "active_loop", "name": None if rest == "null" else rest, **at})
    return out


def rasa_tracker(
    conversation_id: str,
    events: list[Event],
    spec: BotSpec | None,
    slots: dict[str, str] | None = None,
    active_loop: str | None = None,
    parse_of=None,
) -> dict:
    """Rasa's tracker of a conversation: its events (``rasa_events``), slots, latest message
    (the last the user typed, never an implicit silence) and active form."""
    rasa = rasa_events(events, spec, parse_of)
    latest = next((e for e in reversed(rasa) if e["event"] == "user"), None)
    action = next((e["name"] for e in reversed(rasa) if e["event"] == "action"), None)
    types = spec.slot_types if spec else {}
    requested = None
    if spec is not None and active_loop:
        missing = spec.missing(active_loop, slots or {})
        requested = missing[0] if missing else None
    return {
        "sender_id": conversation_id,
        "slots": {**{n: typed((slots or {}).get(n), t) for n, t in types.items()}, "requested_slot": requested}
        if spec
        else {},
        "latest_message": latest["parse_data"] if latest else {"text": None, "intent": {}, "entities": []},
        "latest_event_time": events[-1].timestamp if events else None,
        "followup_action": None,
        "paused": False,
        "events": rasa,
        "latest_input_channel": "rest",
        "active_loop": {"name": active_loop} if active_loop else {},
        "latest_action": {"action_name": action} if action else {},
        "latest_action_name": action,
    }
