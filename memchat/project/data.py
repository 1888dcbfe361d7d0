"""A bot project's training data in Rasa 3.x's formats: NLU, stories, rules and test stories.

NLU (``nlu:``): ``intent`` examples (a block of ``- text`` lines, retrieval intents as
``faq/ask_price``) with entity annotations ``[text](entity)``, ``[text](entity:value)`` and
``[text]{"entity": ..., "value": ...}``; ``synonym`` and ``lookup`` tables. Stories and rules
(``stories:``, ``rules:``; test stories the same, with ``user:`` text): steps ``intent`` (with
``entities``, and ``user`` in test stories), ``action``, ``slot_was_set``, ``active_loop``, ``or``
and ``checkpoint``; rules' ``condition``, ``conversation_start`` and ``wait_for_user_input``.
Anything else is refused with one line naming ``file:line`` and the key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from memchat.errors import MemchatError
from memchat.project.domain import Domain, read_responses, shown_path
from memchat.project.yamlfile import YamlList, YamlMap, load_yaml

_ANNOTATION = re.compile(r"\[(?P<text>[^\]]+)\](?:\((?P<short>[^)]+)\)|(?P<json>\{[^}]*\}))")


@dataclass
class Example:
    """One user message: its plain text and the entities annotated in it."""

    text: str
    entities: list[tuple[int, int, str, str]] = field(default_factory=list)  # (start, end, entity, value)
    banked: bool = False  # a wording of memchat's banks of dialogue acts (acts.py), not the author's

    @property
    def entity_types(self) -> frozenset[str]:
        return frozenset(e[2] for e in self.entities)


def parse_example(raw: str, at: str) -> Example:
    """``I want [italian](cuisine) food`` -> the plain text and its entities."""
    text, entities, pos = [], [], 0
    length = 0
    for m in _ANNOTATION.finditer(raw):
        before = raw[pos : m.start()]
        text.append(before)
        length += len(before)
        surface = m.group("text")
        if m.group("short"):
            entity, _, value = m.group("short").partition(":")
            value = value or surface
        else:
            try:
                spec = json.loads(m.group("json"))
            except json.JSONDecodeError:
                raise MemchatError(f"{at}: entity annotation {m.group('json')} is not valid JSON") from None
            if not isinstance(spec, dict) or not isinstance(spec.get("entity"), str):
                raise MemchatError(f'{at}: entity annotation {m.group("json")} needs an "entity"')
            unknown = set(spec) - {"entity", "value"}
            if unknown:
                raise MemchatError(
                    f"{at}: entity annotation key '{sorted(unknown)[0]}' is not supported "
                    "(entity, value; roles and groups are not)"
                )
            entity, value = spec["entity"], str(spec.get("value", surface))
        entities.append((length, length + len(surface), entity.strip(), value.strip()))
        text.append(surface)
        length += len(surface)
        pos = m.end()
    text.append(raw[pos:])
    plain = "".join(text).strip()
    shift = len("".join(text)) - len("".join(text).lstrip())
    return Example(plain, [(s - shift, e - shift, ent, v) for s, e, ent, v in entities])


@dataclass
class Step:
    kind: str  # intent, action, slot_was_set, active_loop, or, checkpoint
    name: str = ""  # the intent, action, form (None: "null") or checkpoint
    entities: list[tuple[str, str | None]] = field(default_factory=list)  # intent: (entity, value or any)
    user: Example | None = None  # test stories: what the user typed
    slots: list[tuple[str, object]] = field(default_factory=list)  # slot_was_set: (slot, value or ...)
    options: list[list[Step]] = field(default_factory=list)  # or: the alternatives, each one step
    at: str = ""
    bot_text: bool = False  # action: an end-to-end story's "bot:" text, the action that says it


@dataclass
class Story:
    name: str
    steps: list[Step]
    rule: bool = False
    condition: list[Step] = field(default_factory=list)
    conversation_start: bool = False
    wait_for_user_input: bool = True
    at: str = ""


@dataclass
class TrainingData:
    examples: dict[str, list[Example]] = field(default_factory=dict)  # intent -> examples
    synonyms: dict[str, str] = field(default_factory=dict)  # surface form -> value
    lookups: dict[str, list[str]] = field(default_factory=dict)  # entity -> values
    stories: list[Story] = field(default_factory=list)
    where: dict[str, str] = field(default_factory=dict)  # "intent greet" -> file:line
    regexes: dict[str, list[str]] = field(default_factory=dict)  # name -> patterns (nlu: regex)
    # responses written in data files (a retrieval intent's utter_faq/price), for the domain
    responses: Domain = field(default_factory=Domain)


ANY_VALUE = ...  # slot_was_set without a value: any value


def read_data(paths: list[Path], root: Path, into: TrainingData | None = None, test: bool = False) -> TrainingData:
    data = into or TrainingData()
    for path in paths:
        doc = load_yaml(path, shown_path(path, root))
        for key in doc:
            if key == "version":
                continue
            if key == "nlu":
                _nlu(data, _list(doc, key))
            elif key in ("stories", "rules"):
                _stories(data, _list(doc, key), rule=key == "rules", test=test)
            elif key == "responses":
                read_responses(data.responses, doc[key], doc, key)
            else:
                raise MemchatError(
                    f"{doc.at(key)}: '{key}': not supported in training data (version, nlu, stories, rules, responses)"
                )
    return data


def _list(doc: YamlMap, key) -> YamlList:
    value = doc[key]
    if value is None:
        value = YamlList()
        value.file, value.line, value.lines = doc.file, doc.lines[key], []
    if not isinstance(value, list):
        raise MemchatError(f"{doc.at(key)}: '{key}': expected a list")
    return value


def _block(item: YamlMap, key: str) -> list[tuple[str, str]]:
    """The ``- line`` items of an ``examples`` block: (text, file:line)."""
    block = item.get(key)
    if isinstance(block, list):
        return [(str(x), item.at(key)) for x in block]
    if not isinstance(block, str):
        raise MemchatError(f"{item.at(key) if key in item else item.at()}: expected '{key}: |' and lines '- text'")
    first = item.lines[key] + 1
    out = []
    for i, line in enumerate(block.splitlines()):
        s = line.strip()
        if not s:
            continue
        if not s.startswith("- ") and s != "-":
            raise MemchatError(f"{item.file}:{first + i}: expected an example line '- text', got {s!r}")
        out.append((s[2:].strip(), f"{item.file}:{first + i}"))
    return out


def _nlu(data: TrainingData, items: YamlList) -> None:
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise MemchatError(f"{items.at(i)}: expected '- intent: NAME' with examples")
        kinds = [k for k in ("intent", "synonym", "lookup", "regex") if k in item]
        if len(kinds) != 1:
            other = sorted(set(item) - {"examples", "metadata"})
            raise MemchatError(
                f"{item.at()}: '{other[0] if other else '?'}': not supported in nlu (intent, synonym, lookup, regex)"
            )
        kind = kinds[0]
        unknown = set(item) - {kind, "examples", "metadata"}
        if unknown:
            raise MemchatError(
                f"{item.at(sorted(unknown)[0])}: '{sorted(unknown)[0]}': not supported beside '{kind}' (examples)"
            )
        name = str(item[kind])
        lines = _block(item, "examples")
        if kind == "intent":
            examples = data.examples.setdefault(name, [])
            data.where.setdefault(f"intent {name}", item.at(kind))
            for text, at in lines:
                ex = parse_example(text, at)
                if not ex.text:
                    raise MemchatError(f"{at}: empty example")
                examples.append(ex)
        elif kind == "regex":
            for text, at in lines:
                try:
                    re.compile(text)
                except re.error as e:
                    raise MemchatError(f"{at}: regex '{name}': not a regular expression ({e})") from None
                data.regexes.setdefault(name, []).append(text)
        elif kind == "synonym":
            for text, _ in lines:
                data.synonyms[text.lower()] = name
        else:
            data.lookups.setdefault(name, []).extend(text for text, _ in lines)


_STORY_KEYS = {"story", "rule", "steps", "condition", "conversation_start", "wait_for_user_input", "metadata"}


def _stories(data: TrainingData, items: YamlList, rule: bool, test: bool) -> None:
    kind = "rule" if rule else "story"
    for i, item in enumerate(items):
        if not isinstance(item, dict) or kind not in item:
            raise MemchatError(f"{items.at(i)}: expected '- {kind}: NAME' with steps")
        unknown = set(item) - _STORY_KEYS
        if unknown:
            k = sorted(unknown)[0]
            raise MemchatError(f"{item.at(k)}: '{k}': not supported in a {kind}")
        if not rule and set(item) & {"condition", "conversation_start", "wait_for_user_input"}:
            k = sorted(set(item) & {"condition", "conversation_start", "wait_for_user_input"})[0]
            raise MemchatError(f"{item.at(k)}: '{k}' belongs to rules, not stories")
        steps = item.get("steps")
        if not isinstance(steps, list) or not steps:
            raise MemchatError(
                f"{item.at('steps') if 'steps' in item else item.at()}: {kind} "
                f"'{item[kind]}': expected a non-empty list of steps"
            )
        story = Story(str(item[kind]), [_step(steps, j, test) for j in range(len(steps))], rule=rule, at=item.at(kind))
        if "condition" in item:
            cond = item["condition"]
            if not isinstance(cond, list):
                raise MemchatError(f"{item.at('condition')}: expected a list of active_loop or slot_was_set")
            story.condition = [_step(cond, j, test) for j in range(len(cond))]
            bad = [s for s in story.condition if s.kind not in ("active_loop", "slot_was_set")]
            if bad:
                raise MemchatError(f"{bad[0].at}: a rule's condition holds active_loop and slot_was_set only")
        story.conversation_start = bool(item.get("conversation_start", False))
        story.wait_for_user_input = bool(item.get("wait_for_user_input", True))
        data.stories.append(story)


def _step(steps: YamlList, j: int, test: bool) -> Step:
    raw = steps[j]
    at = steps.at(j)
    if not isinstance(raw, dict):
        raise MemchatError(f"{at}: expected a step such as '- intent: NAME' or '- action: NAME'")
    if "bot" in raw:  # an end-to-end story's bot text: the action that says it
        if set(raw) != {"bot"} or not isinstance(raw["bot"], str) or not raw["bot"].strip():
            raise MemchatError(f"{at}: expected '- bot: text' alone in its step")
        return Step("action", raw["bot"], at=at, bot_text=True)
    if "intent" in raw or "user" in raw:
        unknown = set(raw) - {"intent", "user", "entities", "metadata"}
        if unknown:
            raise MemchatError(f"{raw.at(sorted(unknown)[0])}: '{sorted(unknown)[0]}': not supported in a user step")
        step = Step("intent", str(raw.get("intent") or ""), at=raw.at("intent" if "intent" in raw else "user"))
        if "user" in raw:
            step.user = parse_example(str(raw["user"]), raw.at("user"))
            if not step.user.text:
                raise MemchatError(f"{raw.at('user')}: an empty user message")
        elif not step.name:
            raise MemchatError(f"{raw.at('intent')}: a user step needs an intent or a 'user' text")
        for e in raw.get("entities") or []:
            if isinstance(e, str):
                step.entities.append((e, None))
            elif isinstance(e, dict) and len(e) == 1:
                ((name, value),) = e.items()
                step.entities.append((str(name), None if value is None else str(value)))
            elif isinstance(e, dict) and "entity" in e:
                step.entities.append((str(e["entity"]), None if e.get("value") is None else str(e["value"])))
            else:
                raise MemchatError(f"{raw.at('entities')}: expected entities as '- NAME: value' or '- NAME'")
        if step.user:  # the annotated text is what the story means
            step.entities = step.entities or [(ent, val) for _, _, ent, val in step.user.entities]
        return step
    if len(raw) != 1:
        k = sorted(raw)[0]
        raise MemchatError(
            f"{raw.at(k)}: a step has one key (intent, action, slot_was_set, active_loop, or, "
            f"checkpoint); got {', '.join(sorted(map(str, raw)))}"
        )
    ((key, value),) = raw.items()
    if key == "action":
        return Step("action", str(value), at=at)
    if key == "active_loop":
        return Step("active_loop", "" if value is None else str(value), at=at)
    if key == "checkpoint":
        return Step("checkpoint", str(value), at=at)
    if key == "slot_was_set":
        step = Step("slot_was_set", at=at)
        for s in value if isinstance(value, list) else [value]:
            if isinstance(s, str):
                step.slots.append((s, ANY_VALUE))
            elif isinstance(s, dict) and len(s) == 1:
                ((name, v),) = s.items()
                step.slots.append((str(name), v))
            else:
                raise MemchatError(f"{at}: expected slot_was_set as a list of '- SLOT: value'")
        return step
    if key == "or":
        if not isinstance(value, list) or len(value) < 2:
            raise MemchatError(f"{at}: 'or' takes a list of two or more steps")
        options = [_step(value, k, test) for k in range(len(value))]
        kinds = {o.kind for o in options}
        if not kinds <= {"intent", "slot_was_set"}:
            raise MemchatError(f"{at}: 'or' takes intent or slot_was_set steps")
        return Step("or", options=[[o] for o in options], at=at)
    raise MemchatError(
        f"{raw.at(key)}: step '{key}' is not supported (intent, user, action, slot_was_set, "
        "active_loop, or, checkpoint)"
    )
