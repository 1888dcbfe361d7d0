"""What a project bot needs while it talks, as a bundle keeps it (``BotSpec.to_dict``): its
responses, forms, slots, rules and knowledge base, checked field by field as a bundle loads; and
the slots and form of a conversation read from its stored lines. A trained bot answers without
its project folder.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from memchat.project.intents import IntentMatcher

LISTEN = "action_listen"  # the action that ends the bot's turn: it waits for the user
TEMPLATE_SLOT = re.compile(r"\{(\w+)\}")  # a slot named in a response's text
SLOT_LINE = "slot"  # a stored line "slot NAME VALUE": the slot was set
LOOP_LINE = "active_loop"  # "active_loop FORM" or "active_loop null"
_PAYLOAD = re.compile(r"^/([\w/.-]+)(\{.*\})?$", re.S)  # Rasa's "/intent{json}" message
LOOP_ACTIONS = ("action_two_stage_fallback",)  # Rasa's default actions that are loops (active_loop)
# Rasa's default actions, which every bot has without declaring them (memchat.dialogue.default_actions)
DEFAULT_ACTIONS = (
    LISTEN,
    "action_restart",
    "action_session_start",
    "action_default_fallback",
    "action_deactivate_loop",
    "action_revert_fallback_events",
    "action_default_ask_affirmation",
    "action_default_ask_rephrase",
    "action_two_stage_fallback",
    "action_unlikely_intent",
    "action_back",
    "action_extract_slots",
)


@dataclass
class BotSpec:
    """A project bot's runtime, as its bundle keeps it."""

    responses: dict[str, list[dict]] = field(default_factory=dict)  # utter_x -> variations
    actions: list[str] = field(default_factory=list)  # custom actions: run by the execute_action hook
    forms: dict[str, list[str]] = field(default_factory=dict)  # form -> required slots
    slot_entities: dict[str, list[str]] = field(default_factory=dict)  # slot -> entities that fill it
    slot_mappings: dict[str, list[dict]] = field(default_factory=dict)  # slot -> its mappings (domain.Slot)
    intent_examples: dict[str, list[str]] = field(default_factory=dict)  # for mappings that name intents
    initial_slots: dict[str, str] = field(default_factory=dict)
    quiet_slots: list[str] = field(default_factory=list)  # influence_conversation: false: kept out of memory
    kb: dict | None = None  # the knowledge base: rows, name, rank, search and suggest actions
    rules: list[dict] = field(default_factory=list)  # follow-up rules, applied as it talks (rules.py)
    intent_rules: list[dict] = field(default_factory=list)  # rules applied when their intent is certain
    # entity -> {"before": words, "after": words}: the words its values sit beside in the NLU
    # examples ("in [paris]", "[thai] food"), where a word the bot never saw is a value it lacks
    value_cues: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    # responses a story or rule follows with the form that was active ("off-topic while booking,
    # then the booking goes on"): after one, the form asks its question again
    form_resumes: list[str] = field(default_factory=list)
    # responses a story or rule follows with the user's message while a form is on ("Do you
    # want to continue?"): after one, the bot waits for the answer
    form_waits: list[str] = field(default_factory=list)
    # response -> the custom action every story and rule says it right after ("That was the last
    # one I know of" after the suggestion): said only right after it
    action_results: dict[str, str] = field(default_factory=dict)
    # config.toml [rules]: how sure of an intent the bot must be for an intent rule (IntentMatcher)
    intent_sure: dict[str, float] = field(default_factory=dict)
    # IntentMatcher.index() of intent_examples, made as the bot was built: a start reads it, not
    # the examples (12 ms for the default bot's 518, 0.28 s for 5,180); None: built from them
    intent_index: dict | None = None
    # form -> intents whose messages fill none of its slots (Rasa's ignored_intents)
    ignored_intents: dict[str, list[str]] = field(default_factory=dict)
    # intent -> {"entity,entity": an example's text with {entity} where its values stand}: what a
    # payload ("/inform{\"cuisine\": \"thai\"}", a button's) reads as to the model
    intent_templates: dict[str, dict[str, str]] = field(default_factory=dict)
    # Duckling's dimensions the project's config.yml names (number, email, amount-of-money...):
    # found in process (memchat.project.numbers)
    duckling: list[str] = field(default_factory=list)
    # the words next to numbers in the NLU examples ("for", "people"): a number beside one fills
    # a number slot the form does not ask for
    number_cues: list[str] = field(default_factory=list)
    # entity of numbers (a party size) -> the words the NLU examples put beside its values ("for",
    # "people"): a number fills it only beside one, or when the bot asked for its slot
    number_entities: dict[str, list[str]] = field(default_factory=dict)
    slot_types: dict[str, str] = field(default_factory=dict)  # slot -> Rasa type (text, float, bool...)
    action_endpoint: str | None = None  # endpoints.yml's action server URL, where custom actions run

    def has_intent_rule(self, intent: str) -> bool:
        return any(r["intent"] == intent for r in self.intent_rules)

    def payload(self, text: str) -> tuple[str, dict[str, str], str] | None:
        """A message written as Rasa's payload ``/intent`` or ``/intent{"entity": "value"}`` (a
        button's): the intent, its entities, and the text the model reads for it (the intent's
        example for those entities, filled); None for any other message or an unknown intent."""
        m = _PAYLOAD.match(text)
        if m is None or m.group(1) not in self.intent_templates:
            return None
        entities: dict[str, str] = {}
        if m.group(2):
            try:
                raw = json.loads(m.group(2))
            except ValueError:
                return None
            if not isinstance(raw, dict):
                return None
            entities = {str(k): slot_text(v[0] if isinstance(v, list) and v else v) for k, v in raw.items()}
        templates = self.intent_templates[m.group(1)]
        key = ",".join(sorted(entities))
        template = templates.get(key) or templates.get("") or next(iter(templates.values()), m.group(1))
        said = TEMPLATE_SLOT.sub(lambda e: entities.get(e.group(1), e.group(1)), template)
        unsaid = [v for e, v in sorted(entities.items()) if "{" + e + "}" not in template]
        if unsaid:  # the rest said after it, as training says an example with fewer entities
            said = " ".join([said, *unsaid])
        return m.group(1), entities, said

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> BotSpec:
        """The spec a bundle keeps, each field checked against ``SPEC_SHAPES`` and the intent
        matcher's table read (``IntentMatcher.read_index``): ValueError names the first field that
        does not fit ("bot.forms.booking_form: expected a list")."""
        if not isinstance(data, dict):
            raise ValueError("bot: expected a table (a JSON object)")
        for key, shape in SPEC_SHAPES.items():
            if key in data:
                _check_shape(data[key], shape, f"bot.{key}")
        for key in ("rules", "intent_rules"):
            for i, rule in enumerate(data.get(key, ())):
                if len(rule["states"]) != len(rule["actions"]) + 1:
                    raise ValueError(f"bot.{key}[{i}].states: expected one more than its actions")
        spec = cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        if spec.intent_index is not None:
            try:
                spec.intent_index = IntentMatcher.read_index(spec.intent_index, spec.intent_examples)
            except ValueError as e:
                raise ValueError(f"bot.intent_index: {e}") from None
        return spec

    def kind(self, action: str) -> str:
        """listen, response, form, default (one of Rasa's default actions) or action."""
        if action == LISTEN:
            return "listen"
        if action in self.responses or (action.startswith("utter_") and action not in self.actions):
            return "response"
        if action in self.forms:
            return "form"
        if action in DEFAULT_ACTIONS and action not in self.actions:
            return "default"
        return "action"

    def renderable(self, action: str, slots: dict[str, str]) -> bool:
        """Whether ``action`` can be said now: not a response, or one with a variation whose
        condition holds and whose slots are all set (a response with blanks or placeholders is
        the wrong response)."""
        return action not in self.responses or bool(self._usable(action, slots))

    def _usable(self, action: str, slots: dict[str, str]) -> list[dict]:
        """The variations that can be said now, Rasa's way: those whose ``condition`` holds, if
        any does; else those without a condition; in either case, only those whose ``{slot}``s
        are all set."""

        def filled(v: dict) -> bool:
            return not any(is_unset(slots.get(s)) for s in TEMPLATE_SLOT.findall(v.get("text") or ""))

        def holds(v: dict) -> bool:
            return all(
                (slots.get(c["name"]) in (None, "", "null"))
                if c["value"] is None
                else slots.get(c["name"]) == c["value"]
                for c in v["condition"]
            )

        variations = self.responses.get(action) or []
        conditional = [v for v in variations if v.get("condition") and holds(v) and filled(v)]
        return conditional or [v for v in variations if not v.get("condition") and filled(v)]

    def template_slots(self, action: str) -> set[str]:
        """The slots a response's text names (``{restaurant}``); empty for anything else."""
        return {s for v in self.responses.get(action) or () for s in TEMPLATE_SLOT.findall(v.get("text") or "")}

    def missing(self, form: str, slots: dict[str, str]) -> list[str]:
        """The required slots of ``form`` not set yet, in order."""
        return [s for s in self.forms.get(form, ()) if is_unset(slots.get(s))]

    def ask(self, form: str, slot: str) -> str:
        """What asks for ``slot``, in Rasa's order: action_ask_<form>_<slot>, action_ask_<slot>,
        utter_ask_<form>_<slot>, utter_ask_<slot>."""
        return ask_for(form, slot, self.actions, self.responses)

    def render(self, action: str, slots: dict[str, str], seed: str = "") -> dict:
        """A response as a channel sends it: ``{"text": ...}`` with ``{slot}`` filled, plus its
        ``buttons``, ``image`` or ``custom`` payload. Of its usable variations (``_usable``), one
        picked by ``seed`` (the same turn always says the same)."""
        variations = self.responses.get(action)
        if not variations:  # a form's question the domain lacks (Rasa says nothing either)
            return {}
        pool = self._usable(action, slots) or [v for v in variations if not v.get("condition")] or variations
        chosen = pool[zlib.crc32(seed.encode("utf-8", "replace")) % len(pool)]
        message = {k: v for k, v in chosen.items() if k not in ("text", "condition")}
        if "text" in chosen:
            message["text"] = TEMPLATE_SLOT.sub(lambda m: str(slots.get(m.group(1)) or ""), chosen["text"])
        return message


# What each field of a bundle's ``bot`` holds (``_check_shape``): a type; ``[shape]``, a list of
# them; ``{str: shape}``, a dict of them; ``{"key": shape, "key?": shape}``, a dict with those
# keys (``?``: may be missing; others may be there); a tuple, any of its shapes.
_STATE = {"slots": {str: (str, None)}, "active_loop?": (str, None)}
_RULE = {"name": str, "at": str, "actions": [str], "states": [_STATE], "wait": bool}
_MAPPING = {"type": str, "entity?": str, "intent?": [str], "not_intent?": [str], "conditions?": [{str: object}]}
_VARIATION = {"text?": str, "condition?": [{"name": str, "value": (str, None)}]}
SPEC_SHAPES = {
    "responses": {str: [_VARIATION]},
    "actions": [str],
    "forms": {str: [str]},
    "slot_entities": {str: [str]},
    "slot_mappings": {str: [_MAPPING]},
    "intent_examples": {str: [str]},
    "initial_slots": {str: str},
    "quiet_slots": [str],
    "kb": (None, {"rows": [{str: str}], "name": str, "rank": (str, None), "search": str, "suggest": (str, None)}),
    "rules": [_RULE],
    "intent_rules": [{**_RULE, "intent": str, "before": [str], "start": bool, "memo?": bool}],
    "value_cues": {str: {"before": [str], "after": [str]}},
    "form_resumes": [str],
    "form_waits": [str],
    "action_results": {str: str},
    "intent_sure": {str: float},
    "intent_index": (None, {str: list}),  # its contents: IntentMatcher.read_index
    "ignored_intents": {str: [str]},
    "intent_templates": {str: {str: str}},
    "duckling": [str],
    "number_cues": [str],
    "number_entities?": {str: [str]},
    "slot_types": {str: str},
    "action_endpoint": (None, str),
}
_NAMES = {str: "a string", int: "a whole number", float: "a number", bool: "true or false", list: "a list"} | {
    dict: "a table (a JSON object)"
}


def _kind(shape: object) -> type | None:
    """The Python type a value of ``shape`` is (``type(None)`` for null), or None for any."""
    if shape is None:
        return type(None)
    if shape is object:
        return None
    return shape if isinstance(shape, type) else list if isinstance(shape, list) else dict


def _check_shape(value: object, shape: object, where: str) -> None:
    """ValueError naming ``where`` (``bot.forms.booking_form[2]``) and what it should be, unless
    ``value`` has ``shape``."""
    if isinstance(shape, tuple):  # the option of the value's kind says what is wrong inside it
        for option in shape:
            if _kind(option) is None or isinstance(value, _kind(option)):
                return _check_shape(value, option, where)
        raise ValueError(f"{where}: expected {' or '.join(_NAMES.get(_kind(o), 'null') for o in shape)}")
    if shape is None or shape is object:
        if shape is None and value is not None:
            raise ValueError(f"{where}: expected null")
        return
    if isinstance(shape, type):
        fits = isinstance(value, (int, float) if shape is float else shape)  # a whole number is a number
        fits = fits and not (shape in (int, float) and isinstance(value, bool))
        if not fits or (shape is float and value != value):
            raise ValueError(f"{where}: expected {_NAMES.get(shape, shape.__name__)}")
        return
    if isinstance(shape, list):
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list")
        if shape[0] is str and all(isinstance(item, str) for item in value):
            return  # the most common shape, at once
        for i, item in enumerate(value):
            _check_shape(item, shape[0], f"{where}[{i}]")
        return
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected a table (a JSON object)")
    if str in shape:  # any keys, each value of one shape
        if shape[str] is str and all(isinstance(item, str) for item in value.values()):
            return
        for key, item in value.items():
            _check_shape(item, shape[str], f"{where}.{key}")
        return
    for key, item_shape in shape.items():
        name = key.rstrip("?")
        if name in value:
            _check_shape(value[name], item_shape, f"{where}.{name}")
        elif not key.endswith("?"):
            raise ValueError(f"{where}: expected a key '{name}'")


FALLBACK_INTENT = "nlu_fallback"  # Rasa's intent for a message NLU is unsure of: no one says it


def payload_words(intent: str) -> str:
    """What an intent without NLU examples reads as, in training and live (``/get_started``)."""
    return intent.replace("_", " ")


def ask_for(form: str, slot: str, actions, responses) -> str:
    """The action or response a form asks for ``slot`` with (``BotSpec.ask``)."""
    for name, where in (
        (f"action_ask_{form}_{slot}", actions),
        (f"action_ask_{slot}", actions),
        (f"utter_ask_{form}_{slot}", responses),
    ):
        if name in where:
            return name
    return f"utter_ask_{slot}"


def conversation_state(lines: Iterable[tuple[str, str]], initial: dict[str, str]) -> tuple[dict[str, str], str | None]:
    """The slots and the active form of a conversation from its stored (speaker, text) events."""
    slots, active = dict(initial), None
    for speaker, text in lines:
        if speaker != "kb":
            continue
        head, _, rest = text.partition(" ")
        if head == SLOT_LINE:
            name, _, value = rest.partition(" ")
            slots[name] = value
        elif head == LOOP_LINE:
            active = None if rest == "null" else rest
    return slots, active


def slot_line(name: str, value: object) -> str:
    """The stored line of a slot set to ``value``."""
    return f"{SLOT_LINE} {name} {slot_text(value)}"


def slot_text(value: object) -> str:
    """A slot's value as stored and compared: booleans as true/false, None (or nothing) as null."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):  # an action's list or object slot, as JSON it reads back
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return "null" if value is None else " ".join(str(value).split()) or "null"


def is_unset(value: str | None) -> bool:
    """Whether a slot's stored value means "not set"."""
    return value in (None, "", "null")
