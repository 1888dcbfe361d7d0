"""Custom actions on the project's action server, as Rasa runs them: ``endpoints.yml``'s
``action_endpoint`` is sent Rasa's request (``next_action``, ``sender_id``, ``tracker``,
``domain``, ``version``) and its answer applied -- the ``events`` (``slot``, ``active_loop``,
``followup``, ``reset_slots``, ``restart``; a ``reminder`` is refused in one logged line) and the
``responses`` (a domain response by name, filled from the slots, or the text and payloads given).
A project's own ``actions/`` run unchanged there: ``python -m rasa_sdk --actions actions``.

An action server that is down, slow (``TIMEOUT``) or answers with an error gives the user the
fallback response (``utter_default``, if the domain has one) and one logged line; the turn goes on
and is stored whole. ``MEMCHAT_ACTION_ENDPOINT`` (a URL) overrides the url the bundle was trained
with, as Rasa's ``--endpoints`` does.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request

from memchat.dialogs import KB
from memchat.dialogue.rasa_tracker import rasa_tracker, typed
from memchat.dialogue.turn import FALLBACK, Reply, TurnState
from memchat.project.spec import SLOT_LINE, conversation_state, slot_text
from memchat.store.event import Event
from memchat.version import __version__

log = logging.getLogger("memchat.actions")
TIMEOUT = 10.0  # seconds an action may take before the user gets the fallback
RASA_VERSION = "3.6.21"  # the Rasa version whose protocol memchat speaks (rasa-sdk checks it)


def endpoint(dm) -> str | None:
    """Where the bot's custom actions run: ``MEMCHAT_ACTION_ENDPOINT``, else endpoints.yml's url."""
    return os.environ.get("MEMCHAT_ACTION_ENDPOINT") or (dm.spec.action_endpoint if dm.spec else None)


def domain_json(spec) -> dict:
    """The domain as the action server reads it (forms' required slots, slots, responses)."""
    return {
        "version": "3.1",
        "intents": sorted(spec.intent_templates),
        "entities": sorted({e for ents in spec.slot_entities.values() for e in ents}),
        "slots": {
            name: {"type": kind, "mappings": spec.slot_mappings.get(name, [])} for name, kind in spec.slot_types.items()
        },
        "responses": spec.responses,
        "actions": list(spec.actions),
        "forms": {form: {"required_slots": slots} for form, slots in spec.forms.items()},
        "session_config": {"session_expiration_time": 60, "carry_over_slots_to_new_session": True},
    }


def tracker_of(dm, turn: TurnState, events: list[Event], active_loop: str | None) -> dict:
    """The turn's conversation as Rasa's tracker, with ``events`` (memchat's) and ``active_loop``."""
    parse_of = dm.interpreter.parse if dm.interpreter is not None else None
    return rasa_tracker(turn.conversation_id, events, dm.spec, turn.tracker.slots, active_loop, parse_of)


def call(dm, turn: TurnState, action: str, tracker: dict | None = None) -> dict | None:
    """Rasa's request for ``action``; its answer, or None (logged) when the server failed."""
    url = endpoint(dm)
    body = {
        "next_action": action,
        "sender_id": turn.conversation_id,
        "tracker": tracker or tracker_of(dm, turn, turn.tracker.events, turn.tracker.active_loop),
        "domain": domain_json(dm.spec),
        "version": RASA_VERSION,
    }
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json", "User-Agent": f"memchat/{__version__}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            result = json.loads(answer.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        log.warning("action %s: the action server at %s answered %s", action, url, e.code)
        return None
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        log.warning("action %s: the action server at %s did not answer (%s)", action, url, getattr(e, "reason", e))
        return None
    except ValueError:
        log.warning("action %s: the action server at %s answered no JSON", action, url)
        return None
    if not isinstance(result, dict):
        log.warning("action %s: the action server at %s answered no JSON object", action, url)
        return None
    return result


def run(dm, turn: TurnState, reply: Reply) -> None:
    """``reply.text``, a custom action, on the action server: its events and responses applied,
    or the fallback response when the server failed."""
    result = call(dm, turn, reply.text)
    if result is None:
        fallback(dm, turn, reply)
        return
    apply(dm, turn, reply, result)


def validate_form(dm, turn: TurnState, form: str, candidates: dict[str, str]) -> None:
    """The form's ``validate_<form>`` (rasa-sdk's ``FormValidationAction``) on the slots the
    user's message set: the tracker's events end with them, as Rasa's form sends them."""
    t = turn.tracker

    def candidate(e: Event) -> bool:  # this turn's line setting a candidate: it goes last
        head, _, rest = e.text.partition(" ")
        return e.speaker == KB and e.seq > turn.base_seq and head == SLOT_LINE and rest.split(" ")[0] in candidates

    tracker = tracker_of(dm, turn, [e for e in t.events if not candidate(e)], form)
    types = dm.spec.slot_types
    tracker["events"] += [
        {"event": "slot", "name": name, "value": typed(value, types.get(name)), "timestamp": None}
        for name, value in candidates.items()
    ]
    reply = Reply(f"validate_{form}", None)
    result = call(dm, turn, reply.text, tracker)
    if result is None:  # not validated: the slots go back to what they were before the message
        fallback(dm, turn, reply)
        before, _ = conversation_state(
            ((e.speaker, e.text) for e in t.events if e.seq <= turn.base_seq), dm.spec.initial_slots
        )
        result = {
            "events": [{"event": "slot", "name": n, "value": typed(before.get(n), types.get(n))} for n in candidates]
        }
    apply(dm, turn, reply, result)


def fallback(dm, turn: TurnState, reply: Reply) -> None:
    if FALLBACK in dm.spec.responses:
        said = dm.spec.render(FALLBACK, turn.tracker.slots, f"{turn.conversation_id}:{turn.last_seq}")
        turn.replies.append(Reply(reply.text, reply.ranking, message=said))


def apply(dm, turn: TurnState, reply: Reply, result: dict) -> None:
    """The action server's ``events`` and ``responses``, as Rasa applies them."""
    tracker, events = turn.tracker, []
    for e in result.get("events") or []:
        if not isinstance(e, dict):
            continue
        kind = e.get("event")
        if kind == "slot" and isinstance(e.get("name"), str) and e["name"] != "requested_slot":
            value = slot_text(e.get("value"))
            if tracker.slots.get(e["name"]) != value:
                tracker.slots[e["name"]] = value
                events.append(dm.slot_event(e["name"], e.get("value")))
        elif kind == "active_loop":
            name = e.get("name") or None
            if name != tracker.active_loop:
                tracker.active_loop = name
                events.append(Event(KB, f"active_loop {name or 'null'}"))
        elif kind == "followup" and isinstance(e.get("name"), str):
            turn.followup = e["name"]
        elif kind in ("reset_slots", "restart"):
            for name in list(tracker.slots):
                if tracker.slots[name] not in ("", "null"):
                    tracker.slots[name] = "null"
                    events.append(dm.slot_event(name, None))
            if kind == "restart" and tracker.active_loop:
                tracker.active_loop = None
                events.append(Event(KB, "active_loop null"))
        elif kind in ("reminder", "cancel_reminder"):
            log.warning("action %s: a %s event is not supported by memchat; ignored", reply.text, kind)
    if events:
        dm.add_events(turn, events)
    for r in result.get("responses") or []:
        if not isinstance(r, dict):
            continue
        name = r.get("response") or r.get("template")
        if name and name in dm.spec.responses:
            slots = {**tracker.slots, **{k: slot_text(v) for k, v in r.items() if k not in ("text", "response")}}
            message = dm.spec.render(name, slots, f"{turn.conversation_id}:{turn.last_seq}")
        else:
            message = {k: v for k, v in r.items() if v not in (None, [], {}, "") and k not in ("response", "template")}
        if message:
            turn.replies.append(Reply(reply.text, reply.ranking, message=message))
    reply.action_results = [e.text for e in events]
