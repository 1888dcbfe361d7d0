"""A bot project's domain (``domain.yml`` or a ``domain/`` folder), in Rasa 3.x's format.

What memchat reads: ``intents`` (names, retrieval intents' parents included), ``entities``,
``slots`` (any type; mappings ``from_entity`` and ``custom``), ``responses`` (variations with
``text``, and ``buttons``, ``image`` or ``custom`` payloads passed to the channel), ``actions``
(custom actions, run through the ``execute_action`` hook) and ``forms`` (``required_slots``).
Anything else a real project may write is refused with one line naming ``file:line`` and the key,
except ``version``, ``session_config`` and ``config`` (read by Rasa's servers, not by memchat).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from memchat.errors import MemchatError
from memchat.project.spec import slot_text
from memchat.project.yamlfile import YamlList, YamlMap, load_yaml


def shown_path(path: Path, root: Path) -> str:
    """How a file is named in messages: from the project's folder when it is inside it."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


SLOT_TYPES = {"text", "bool", "categorical", "float", "list", "any"}
IGNORED_KEYS = {"version", "session_config", "config"}  # Rasa's server settings; nothing for memchat


@dataclass
class Slot:
    name: str
    type: str = "any"
    entities: list[str] = field(default_factory=list)  # from_entity mappings: entities that fill it
    mappings: list[dict] = field(default_factory=list)  # each: type, entity, value, intent, not_intent, conditions
    values: list[str] = field(default_factory=list)  # categorical values
    initial: object = None
    influence: bool = True  # influence_conversation: its changes are in the model's memory


@dataclass
class Domain:
    intents: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    slots: dict[str, Slot] = field(default_factory=dict)
    responses: dict[str, list[dict]] = field(default_factory=dict)  # name -> variations
    actions: list[str] = field(default_factory=list)  # custom actions
    forms: dict[str, list[str]] = field(default_factory=dict)  # form -> required slots
    # form -> intents that do not fill its slots (Rasa's ignored_intents: "chitchat" mid-form)
    ignored_intents: dict[str, list[str]] = field(default_factory=dict)
    e2e_actions: list[str] = field(default_factory=list)  # bot texts of end-to-end stories (bot: steps)
    where: dict[str, str] = field(default_factory=dict)  # "response utter_x" -> file:line, for messages
    notes: list[str] = field(default_factory=list)  # what was accepted without changing what memchat does

    @property
    def action_names(self) -> list[str]:
        """Everything the bot can do: responses, custom actions, forms."""
        return [*self.responses, *self.actions, *self.forms]

    def merge(self, other: Domain, at: str) -> None:
        for name in other.intents:
            if name not in self.intents:
                self.intents.append(name)
        for name in other.entities:
            if name not in self.entities:
                self.entities.append(name)
        for kind in ("slots", "responses", "forms", "ignored_intents"):
            mine, theirs = getattr(self, kind), getattr(other, kind)
            for name, value in theirs.items():
                if name in mine:
                    raise MemchatError(
                        f"{other.where.get(f'{kind} {name}', at)}: {kind[:-1]} '{name}' is declared "
                        f"twice (also at {self.where.get(f'{kind} {name}', '?')})"
                    )
                mine[name] = value
        self.actions += [a for a in other.actions if a not in self.actions]
        self.e2e_actions += [a for a in other.e2e_actions if a not in self.e2e_actions]
        self.where.update(other.where)
        self.notes += other.notes


def read_domain(path: Path, root: Path) -> Domain:
    """``domain.yml``, or every ``.yml`` file of a ``domain/`` folder merged."""
    files = sorted(path.rglob("*.yml")) + sorted(path.rglob("*.yaml")) if path.is_dir() else [path]
    domain = Domain()
    for f in files:
        domain.merge(_read_one(f, shown_path(f, root)), str(f))
    return domain


def _read_one(path: Path, shown: str) -> Domain:
    data = load_yaml(path, shown)
    d = Domain()
    for key, value in data.items():
        if key in IGNORED_KEYS:
            continue
        reader = _READERS.get(key)
        if reader is None:
            raise MemchatError(
                f"{data.at(key)}: '{key}': not supported in a domain (memchat reads {', '.join(_READERS)})"
            )
        reader(d, value, data, key)
    return d


def _expect(value, kind, data: YamlMap | YamlList, key, what: str):
    if not isinstance(value, kind):
        raise MemchatError(f"{data.at(key)}: '{key}': expected {what}")
    return value


NAME_OPTIONS = {
    "intents": {"use_entities", "ignore_entities", "triggers"},
    "entities": {"roles", "groups", "influence_conversation"},
}


def _names(d: Domain, value, data: YamlMap, key: str) -> list[str]:
    """A list of names, each a string or a one-key mapping with options: Rasa's intent options
    and entity roles and groups are accepted and noted (memchat's model reads every entity)."""
    items = _expect(value or YamlList(), list, data, key, "a list of names")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, dict):
            name = next(iter(item)) if len(item) == 1 else None
            options = item.get(name) if name else None
            allowed = NAME_OPTIONS.get(key, set())
            unknown = set(options) - allowed if isinstance(options, dict) else ({"?"} if options else set())
            if name is None or unknown:
                raise MemchatError(
                    f"{items.at(i)}: '{key}': options on '{name or item}' are not supported "
                    f"(memchat accepts {', '.join(sorted(allowed)) or 'none'})"
                )
            if options:
                d.notes.append(
                    f"{items.at(i)}: {key[:-1]} '{name}': {', '.join(sorted(options))} accepted; "
                    "memchat's model reads every entity of every message"
                )
            item = name
        if not isinstance(item, str) or not item:
            raise MemchatError(f"{items.at(i)}: '{key}': expected a name, got {item!r}")
        out.append(item)
    return out


def _intents(d: Domain, value, data, key) -> None:
    d.intents = _names(d, value, data, key)


def _entities(d: Domain, value, data, key) -> None:
    d.entities = _names(d, value, data, key)


def _actions(d: Domain, value, data, key) -> None:
    d.actions = _names(d, value, data, key)


def _slots(d: Domain, value, data, key) -> None:
    slots = _expect(value or YamlMap(), dict, data, key, "a mapping of slot names")
    for name, spec in slots.items():
        spec = _expect(spec or YamlMap(), dict, slots, name, f"slot '{name}' to be a mapping (type, mappings)")
        slot = Slot(name)
        for option, setting in spec.items():
            if option == "type":
                if setting not in SLOT_TYPES:
                    raise MemchatError(
                        f"{spec.at(option)}: slot '{name}': type '{setting}' is not one of "
                        f"{', '.join(sorted(SLOT_TYPES))}"
                    )
                slot.type = setting
            elif option == "values":
                slot.values = [str(v) for v in _expect(setting, list, spec, option, "a list of values")]
            elif option == "initial_value":
                slot.initial = setting
            elif option == "influence_conversation":
                slot.influence = bool(setting)
            elif option == "mappings":
                slot.mappings = _mappings(name, _expect(setting, list, spec, option, "a list of mappings"))
                slot.entities = [m["entity"] for m in slot.mappings if m["type"] == "from_entity"]
            else:
                raise MemchatError(
                    f"{spec.at(option)}: slot '{name}': '{option}' is not supported "
                    "(type, values, initial_value, influence_conversation, mappings)"
                )
        d.slots[name] = slot
        d.where[f"slots {name}"] = slots.at(name)


MAPPING_TYPES = {"from_entity", "from_text", "from_intent", "custom"}
MAPPING_KEYS = {"type", "entity", "value", "intent", "not_intent", "conditions", "role", "group"}


def _mappings(slot: str, mappings: YamlList) -> list[dict]:
    """Slot mappings as Rasa 3.x writes them: ``from_entity`` (an entity), ``from_text`` (the
    whole message), ``from_intent`` (a value when the message is of an intent), ``custom`` (set by
    actions); ``intent``/``not_intent`` and ``conditions`` (active_loop, requested_slot) honoured."""
    out = []
    for i, m in enumerate(mappings):
        if not isinstance(m, dict) or m.get("type") not in MAPPING_TYPES:
            raise MemchatError(
                f"{mappings.at(i)}: slot '{slot}': a mapping needs a 'type' of {', '.join(sorted(MAPPING_TYPES))}"
            )
        unknown = set(m) - MAPPING_KEYS
        if unknown:
            k = sorted(unknown)[0]
            raise MemchatError(f"{m.at(k)}: slot '{slot}': mapping key '{k}' is not supported")
        if m["type"] == "from_entity" and not isinstance(m.get("entity"), str):
            raise MemchatError(f"{m.at()}: slot '{slot}': a from_entity mapping needs an 'entity'")
        if m["type"] == "from_intent" and "value" not in m:
            raise MemchatError(f"{m.at()}: slot '{slot}': a from_intent mapping needs a 'value'")
        mapping = {"type": m["type"]}
        if m.get("entity") is not None:
            mapping["entity"] = str(m["entity"])
        if "value" in m:
            mapping["value"] = m["value"]
        for key in ("intent", "not_intent"):
            if m.get(key) is not None:
                mapping[key] = [str(x) for x in (m[key] if isinstance(m[key], list) else [m[key]])]
        conditions = []
        for c in m.get("conditions") or []:
            if not isinstance(c, dict) or set(c) - {"active_loop", "requested_slot"}:
                raise MemchatError(
                    f"{m.at('conditions')}: slot '{slot}': a condition holds active_loop and requested_slot"
                )
            conditions.append({k: (None if v is None else str(v)) for k, v in c.items()})
        if conditions:
            mapping["conditions"] = conditions
        out.append(mapping)
    return out


def read_responses(d: Domain, value, data, key) -> None:
    responses = _expect(value or YamlMap(), dict, data, key, "a mapping of response names")
    for name, variations in responses.items():
        if not str(name).startswith("utter_"):  # (a data file's retrieval responses: utter_faq/price)
            raise MemchatError(f"{responses.at(name)}: response '{name}': names start with 'utter_'")
        variations = _expect(variations, list, responses, name, f"response '{name}' to be a list of variations")
        out = []
        for i, v in enumerate(variations):
            if not isinstance(v, dict) or not ({"text", "custom", "image"} & set(v)):
                raise MemchatError(
                    f"{variations.at(i)}: response '{name}': a variation needs a 'text' (or 'custom' or 'image')"
                )
            unknown = set(v) - VARIATION_KEYS
            if unknown:
                key_name = sorted(unknown)[0]
                raise MemchatError(
                    f"{v.at(key_name)}: response '{name}': '{key_name}' is not supported "
                    f"({', '.join(sorted(VARIATION_KEYS))})"
                )
            if "text" in v and not isinstance(v["text"], str):
                raise MemchatError(f"{v.at('text')}: response '{name}': 'text' must be a string")
            variation = dict(v)
            if "condition" in v:
                variation["condition"] = _response_condition(v, name)
            out.append(variation)
        # a variation for one channel (Rasa's `channel: slack`) is that channel's; memchat's
        # channels take the others, as Rasa's REST channel does
        general = [v for v in out if not v.get("channel")]
        d.responses[name] = general or out
        d.where[f"responses {name}"] = responses.at(name)


VARIATION_KEYS = {
    "text",
    "buttons",
    "image",
    "custom",
    "condition",
    "channel",
    "metadata",
    "quick_replies",
    "attachment",
    "elements",
    "id",
}


def _response_condition(variation, name: str) -> list[dict]:
    """A conditional variation's ``condition`` (Rasa 3): slots that must hold given values."""
    cond = variation["condition"]
    if not isinstance(cond, list) or not cond:
        raise MemchatError(f"{variation.at('condition')}: response '{name}': condition: expected a list of slot checks")
    out = []
    for c in cond:
        if not isinstance(c, dict) or c.get("type") != "slot" or not isinstance(c.get("name"), str) or "value" not in c:
            raise MemchatError(
                f"{variation.at('condition')}: response '{name}': a condition is {{type: slot, name: SLOT, value: V}}"
            )
        out.append({"name": c["name"], "value": None if c["value"] is None else slot_text(c["value"])})
    return out


def _forms(d: Domain, value, data, key) -> None:
    forms = _expect(value or YamlMap(), dict, data, key, "a mapping of form names")
    for name, spec in forms.items():
        spec = _expect(spec, dict, forms, name, f"form '{name}' to be a mapping with required_slots")
        unknown = set(spec) - {"required_slots", "ignored_intents"}
        if unknown:
            k = sorted(unknown)[0]
            raise MemchatError(f"{spec.at(k)}: form '{name}': '{k}' is not supported (required_slots, ignored_intents)")
        required = _expect(spec.get("required_slots"), list, spec, "required_slots", "a list of slot names")
        d.forms[name] = [str(s) for s in required]
        ignored = spec.get("ignored_intents") or []
        ignored = _expect(
            [ignored] if isinstance(ignored, str) else ignored, list, spec, "ignored_intents", "a list of intents"
        )
        d.ignored_intents[name] = [str(i) for i in ignored]
        d.where[f"forms {name}"] = forms.at(name)


def _e2e_actions(d: Domain, value, data, key) -> None:
    """The bot's texts in end-to-end stories (``- bot: text``), as ``rasa data`` lists them."""
    items = _expect(value or YamlList(), list, data, key, "a list of bot texts")
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            raise MemchatError(f"{items.at(i)}: 'e2e_actions': expected a bot text, got {item!r}")
        d.e2e_actions.append(item)


_READERS = {
    "intents": _intents,
    "entities": _entities,
    "slots": _slots,
    "responses": read_responses,
    "actions": _actions,
    "forms": _forms,
    "e2e_actions": _e2e_actions,
}
