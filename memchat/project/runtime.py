"""What a project bot needs while it talks: the entities and slots of a message, the slots and
form of a conversation, and responses filled from slots. A bundle stores it (``BotSpec.to_dict``),
so a trained bot answers without its project folder.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from itertools import groupby

import numpy as np

from memchat import sparse
from memchat.entities import EntityTable, tokenize

LISTEN = "action_listen"  # the action that ends the bot's turn: it waits for the user
TEMPLATE_SLOT = re.compile(r"\{(\w+)\}")  # a slot named in a response's text
SLOT_LINE = "slot"  # a stored line "slot NAME VALUE": the slot was set
LOOP_LINE = "active_loop"  # "active_loop FORM" or "active_loop null"


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
    # response -> the custom action every story and rule says it right after ("That was the last
    # one I know of" after the suggestion): said only right after it
    action_results: dict[str, str] = field(default_factory=dict)
    # config.toml [rules]: how sure of an intent the bot must be for an intent rule (IntentMatcher)
    intent_sure: dict[str, float] = field(default_factory=dict)
    # IntentMatcher.index() of intent_examples, made as the bot was built: a start reads it, not
    # the examples (12 ms for the default bot's 518, 0.28 s for 5,180); None: built from them
    intent_index: dict | None = None

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
        """listen, response, form or action."""
        if action == LISTEN:
            return "listen"
        if action in self.responses:
            return "response"
        if action in self.forms:
            return "form"
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
        own = f"utter_ask_{form}_{slot}"
        return own if own in self.responses else f"utter_ask_{slot}"

    def render(self, action: str, slots: dict[str, str], seed: str = "") -> dict:
        """A response as a channel sends it: ``{"text": ...}`` with ``{slot}`` filled, plus its
        ``buttons``, ``image`` or ``custom`` payload. Of its usable variations (``_usable``), one
        picked by ``seed`` (the same turn always says the same)."""
        variations = self.responses.get(action) or [{"text": action}]
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
    "intent_rules": [{**_RULE, "intent": str, "before": [str], "start": bool}],
    "value_cues": {str: {"before": [str], "after": [str]}},
    "form_resumes": [str],
    "action_results": {str: str},
    "intent_sure": {str: float},
    "intent_index": (None, {str: list}),  # its contents: IntentMatcher.read_index
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


class IntentMatcher:
    """The intent of a message, for the slot mappings that depend on one (``from_intent``, a
    mapping's ``intent``): the intent of the NLU example nearest by character 3-grams (cosine),
    entities counted as their type ("we are 5" is "we are <number>"). memchat's model itself
    needs no intents.

    The examples' 3-gram counts are a sparse table by 3-gram, as the ranker's candidates by
    entity: a message's cosines with every example are one gather and one ``bincount`` over the
    rows of its 3-grams. A loop over them in Python took 0.13 ms a message for the default bot's
    518 examples (now 0.07), and 4.1 ms for 5,180 (now 0.2)."""

    SURE = 0.5  # the least cosine of a certain intent's nearest example ([rules] sure)
    MARGIN = 0.15  # how much nearer than any other intent's it must be ([rules] margin)

    def __init__(
        self,
        examples: dict[str, list[str]],
        table: EntityTable | None = None,
        sure: float = SURE,
        margin: float = MARGIN,
    ):
        self.table = table
        self.sure, self.margin = sure, margin
        self.names: list[str] = []  # the intents with an example (faq/hours for a retrieval intent)
        self.starts: list[int] = []  # where each one's examples start: an intent's are together
        self.gram_ids: dict[str, int] = {}  # 3-gram -> its row
        grams, examples_of, counts, norms = [], [], [], []  # one entry per (example, 3-gram)
        for intent, texts in examples.items():
            for text in texts:
                if not (counted := self._grams(text)):
                    continue
                if not self.names or self.names[-1] != intent:
                    self.names.append(intent)
                    self.starts.append(len(norms))
                ids = self.gram_ids
                grams += [ids.setdefault(g, len(ids)) for g in counted]
                examples_of += [len(norms)] * len(counted)
                counts += counted.values()
                norms.append(sum(v * v for v in counted.values()) ** 0.5)
        # the examples having 3-gram g, and how often: example[at[g] : at[g + 1]], count[...]
        examples_of, counts = np.asarray(examples_of, dtype=np.intp), np.asarray(counts, dtype=np.float64)
        self.at, self.example, self.count = sparse.by_row(grams, len(self.gram_ids), examples_of, counts)  # (P,)
        self.norms = np.asarray(norms, dtype=np.float64)  # (E,) of each example's 3-gram counts

    @classmethod
    def from_index(cls, index: dict, table: EntityTable | None = None, sure: float = SURE, margin: float = MARGIN):
        """The matcher of a table a bundle keeps, as ``read_index`` reads it: no examples to count."""
        matcher = cls({}, table, sure, margin)
        matcher.gram_ids = {g: i for i, g in enumerate(index["grams"])}
        matcher.names, matcher.starts = list(index["names"]), list(index["starts"])
        matcher.example, matcher.count, matcher.at, matcher.norms = (
            index[k] for k in ("example", "count", "at", "norms")
        )
        return matcher

    def index(self) -> dict:
        """The sparse table as a bundle keeps it (``BotSpec.intent_index``), in JSON's lists."""
        return {
            "grams": list(self.gram_ids),
            "names": self.names,
            "starts": self.starts,
            "example": self.example.tolist(),
            "count": self.count.astype(int).tolist(),
            "at": self.at.tolist(),
            "norms": self.norms.tolist(),
        }

    @staticmethod
    def read_index(index: object, examples: dict[str, list[str]]) -> dict:
        """A kept ``index`` of ``examples``, its lists as arrays, checked; ValueError says, in a few
        words, what does not fit."""
        keys = ("grams", "names", "starts", "example", "count", "at", "norms")
        if not isinstance(index, dict) or set(index) != set(keys) or not all(isinstance(index[k], list) for k in keys):
            raise ValueError(f"expected a table of lists: {', '.join(keys)}")
        grams, names, starts = index["grams"], index["names"], index["starts"]
        if not all(isinstance(g, str) for g in grams) or len(set(grams)) != len(grams):
            raise ValueError("'grams' must be distinct strings")
        if not all(isinstance(n, str) and n in examples for n in names) or len(set(names)) != len(names):
            raise ValueError("'names' must be distinct intents of its examples")
        try:
            arrays = {k: np.asarray(index[k]) for k in ("starts", "example", "count", "at")}
            norms = np.asarray(index["norms"], dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError("'starts', 'example', 'count', 'at' and 'norms' must be numbers") from None
        if any(a.ndim != 1 or (len(a) and a.dtype.kind not in "iu") for a in arrays.values()) or norms.ndim != 1:
            raise ValueError("'starts', 'example', 'count' and 'at' must be whole numbers")
        starts, example, count, at = (arrays[k].astype(np.intp) for k in ("starts", "example", "count", "at"))
        n = len(norms)
        if len(starts) != len(names) or (len(starts) and (starts[0] != 0 or starts[-1] >= n)):
            raise ValueError("'starts' must be where each intent's examples begin")
        if (np.diff(starts) <= 0).any():
            raise ValueError("'starts' must rise")
        if not (np.isfinite(norms).all() and (norms > 0).all()):
            raise ValueError("'norms' must be positive numbers")
        if not sparse.offsets_fit(at, len(grams), len(example)):
            raise ValueError(f"'at' must rise from 0 to {len(example)} in {len(grams) + 1} steps")
        if len(example) and not 0 <= example.min() <= example.max() < n:
            raise ValueError(f"'example' must hold examples 0 to {n - 1}")
        if len(count) != len(example) or (count < 1).any():
            raise ValueError("'count' must hold a count of at least 1 for each of 'example'")
        return {
            "grams": grams,
            "names": names,
            "starts": starts.tolist(),
            "example": example,
            "count": count.astype(np.float64),  # as the matcher multiplies it
            "at": at,
            "norms": norms,
        }

    def _grams(self, text: str) -> Counter:
        tokens = tokenize(text)
        if self.table is not None:
            for i, start, end in reversed(self.table.spans(tokens)):
                tokens[start:end] = [f"<{self.table.types[self.table.type_of[i]]}>"]
        marked = f" {' '.join(tokens)} "
        return Counter([marked[i : i + 3] for i in range(len(marked) - 2)])

    def _nearest(self, text: str) -> list[tuple[float, str]]:
        """(cosine, intent) of the nearest example of each intent sharing a 3-gram with ``text``,
        nearest first."""
        counted, rows, ns = self._grams(text), [], []
        for g, n in counted.items():
            if (row := self.gram_ids.get(g)) is not None:
                rows.append(row)
                ns.append(n)
        if not rows:
            return []
        pairs, lengths = sparse.gather(self.at, np.asarray(rows, dtype=np.intp))  # (P,), (K,) examples of each
        dots = np.bincount(self.example[pairs], self.count[pairs] * np.repeat(ns, lengths), len(self.norms))  # (E,)
        norm = sum(v * v for v in counted.values()) ** 0.5
        cosines = np.where(dots > 0, dots / (norm * self.norms), -1.0)  # -1: shares no 3-gram
        best = np.maximum.reduceat(cosines, self.starts).tolist()  # (intents,)
        return sorted(((c, name) for c, name in zip(best, self.names) if c >= 0), reverse=True)

    def intent(self, text: str) -> str | None:
        nearest = self._nearest(text)
        return nearest[0][1] if nearest else None

    def certain(self, text: str) -> str | None:
        """The intent of ``text`` when the bot is sure of it: its nearest example at cosine
        ``sure`` or more, and ``margin`` nearer than any other intent's; else None. (Chosen on
        the default bot's test stories, whose wording its NLU does not have: every message above
        both is read right; the two read wrong are within 0.06 of another intent.)"""
        nearest = self._nearest(text)
        if not nearest or nearest[0][0] < self.sure:
            return None
        if len(nearest) > 1 and nearest[0][0] - nearest[1][0] < self.margin:
            return None
        return nearest[0][1]


# the words a question starts with: a message starting so is no answer naming a value
_QUESTION = frozenset("who what when where why how which can could do does did is are will would".split())


class Interpreter:
    """The entities of a message (the entity table: values, synonyms, several-word values) and
    the slots they fill, by each slot's mappings."""

    def __init__(
        self,
        table: EntityTable,
        slot_mappings: dict[str, list[dict]],
        intent_examples: dict[str, list[str]] | None = None,
        value_cues: dict[str, dict[str, list[str]]] | None = None,
        knows=None,
        intent_sure: dict[str, float] | None = None,
        intent_index: dict | None = None,
    ):
        self.table = table
        self.mappings = slot_mappings
        self.cues = {e: (set(c.get("before", ())), set(c.get("after", ()))) for e, c in (value_cues or {}).items()}
        self.knows = knows  # token -> whether the bot has seen the word (a slip of one counts)
        sure = intent_sure or {}
        self.matcher = (  # the bundle's table, read (BotSpec.from_dict), or one made from the examples
            IntentMatcher.from_index(intent_index, table, **sure)
            if intent_index is not None
            else IntentMatcher(intent_examples or {}, table, **sure)
        )
        self.aliases_of: dict[str, list[str]] = {}  # value -> the other ways to say it
        for alias, word in table.aliases.items():
            self.aliases_of.setdefault(word, []).append(alias)

    def entities(self, text: str) -> list[tuple[str, str]]:
        """(entity, value) of each entity said in ``text``, in order; values as the table has them."""
        words = self.table.words_of
        return [(self.table.types[self.table.type_of[i]], words[i]) for i, _, _ in self.table.spans(tokenize(text))]

    def unknown_values(self, text: str, asked: str | None = None) -> list[tuple[str, str]]:
        """(entity, words) of each value the bot has no record of: a run of up to three words it
        never saw, beside a word the entity's values sit beside in the NLU examples ("in dublin",
        "korean food"); or, when the bot asked for ``asked`` (an entity), the one such word of a
        short answer (``_short_answer``: "tokyo it is"). A run of unseen words anywhere else is no value."""
        if self.knows is None or text == "<SILENCE>":
            return []
        tokens = tokenize(text)
        inside = {k for _, a, b in self.table.spans(tokens) for k in range(a, b)}
        new = [t.isalpha() and len(t) >= 3 and k not in inside and not self.knows(t) for k, t in enumerate(tokens)]
        runs = []  # (first, end) of each run of unseen words
        for unseen, group in groupby(range(len(tokens)), key=new.__getitem__):
            at = list(group)
            if unseen:
                runs.append((at[0], at[-1] + 1))
        words = [t for t in tokens if t[0].isalnum()]
        out = []
        for a, b in runs:
            if b - a > 3:
                continue
            before = tokens[a - 1] if a else None
            after = tokens[b] if b < len(tokens) else None
            cued = [e for e, (pre, post) in self.cues.items() if before in pre or after in post]
            if not cued and asked is not None and self._short_answer(words, tokens[a:b]) and len(runs) == 1:
                cued = [asked]
            if len(cued) == 1:
                out.append((cued[0], " ".join(tokens[a:b])))
        return out

    def unheard(self, text: str) -> bool:
        """Whether ``text`` has words and none the bot ever saw ("zzzz qqqq"): not understood."""
        if self.knows is None or text == "<SILENCE>":
            return False
        tokens = tokenize(text)
        words = [t for t in tokens if t.isalpha()]
        return bool(words) and not self.table.spans(tokens) and not any(self.knows(t) for t in words)

    @staticmethod
    def _short_answer(words: list[str], run: list[str]) -> bool:
        """Whether ``words`` read as a short answer naming ``run``: at most four words, ``run``
        first or last ("tokyo it is", "the city is dublin"), and no question ("who's winning the
        football" is none)."""
        at_edge = words[: len(run)] == run or words[-len(run) :] == run
        return len(words) <= 4 and at_edge and words[0].split("'")[0] not in _QUESTION

    def slots_from_text(
        self, text: str, active_loop: str | None = None, requested: str | None = None, intent: str | None = None
    ) -> dict[str, object]:
        """The slots a message sets: each slot by its first mapping that applies (its conditions
        on the active form and the slot it asks for, its intents), as Rasa's mappings do."""
        if text == "<SILENCE>":
            return {}
        found = dict(self.entities(text))
        out: dict[str, object] = {}
        for slot, mappings in self.mappings.items():
            for m in mappings:
                conditions = m.get("conditions")
                if conditions and not any(
                    c.get("active_loop") == active_loop
                    and ("requested_slot" not in c or c["requested_slot"] == requested)
                    for c in conditions
                ):
                    continue
                if "intent" in m or "not_intent" in m or m["type"] == "from_intent":
                    if intent is None:
                        intent = self.matcher.intent(text) or ""
                    base = intent.split("/")[0]  # a retrieval intent is its own: faq/hours is faq
                    if base not in m.get("intent", [base]) or base in m.get("not_intent", []):
                        continue
                if m["type"] == "from_entity" and m["entity"] in found:
                    out[slot] = found[m["entity"]]
                elif m["type"] == "from_text" and (conditions or "intent" in m):
                    out[slot] = text
                elif m["type"] == "from_intent":
                    out[slot] = m["value"]
                else:
                    continue
                break
        return out


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
    return "null" if value is None else " ".join(str(value).split()) or "null"


def is_unset(value: str | None) -> bool:
    """Whether a slot's stored value means "not set"."""
    return value in (None, "", "null")
