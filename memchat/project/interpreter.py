"""A user's message read for a project bot: the entities it names and the slots they fill, by
each slot's mappings (``Interpreter``)."""

from __future__ import annotations

from itertools import groupby

from memchat.nn.entities import EntityTable, one_slip, tokenize
from memchat.nn.word_classes import classes, negated
from memchat.project.intents import IntentMatcher
from memchat.project.numbers import find as find_duckling

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
        duckling: list[str] | tuple[str, ...] = (),
        number_cues: list[str] | tuple[str, ...] = (),
        ignored_intents: dict[str, list[str]] | None = None,
        number_entities: dict[str, list[str]] | None = None,
        spell=None,
    ):
        self.spell = spell  # token -> the word it is a slip of (Featurizer.spell), for ``unsure``
        # entity of numbers -> its cues: a number fills it beside a cue, or when its slot is asked
        self.number_entities = {e: frozenset(c) for e, c in (number_entities or {}).items()}
        self.ignored = {form: set(i) for form, i in (ignored_intents or {}).items() if i}
        self.table = table
        self.duckling = tuple(duckling)  # Duckling's dimensions found in process (numbers.py)
        self.number_cues = frozenset(number_cues)
        self.mappings = slot_mappings
        self.cues = {e: (set(c.get("before", ())), set(c.get("after", ()))) for e, c in (value_cues or {}).items()}
        self.knows = knows  # token -> whether the bot has seen the word (a slip of one counts)
        sure = dict(intent_sure or {})
        # [rules] fallback: a message whose nearest NLU example is farther than this, naming
        # nothing, is not understood (Rasa's FallbackClassifier threshold, on memchat's cosine)
        self.fallback = float(sure.pop("fallback", 0.0))
        self.matcher = (  # the bundle's table, read (BotSpec.from_dict), or one made from the examples
            IntentMatcher.from_index(intent_index, table, **sure)
            if intent_index is not None
            else IntentMatcher(intent_examples or {}, table, **sure)
        )
        self.aliases_of: dict[str, list[str]] = {}  # value -> the other ways to say it
        for alias, word in table.aliases.items():
            self.aliases_of.setdefault(word, []).append(alias)

    def _found(self, text: str) -> tuple[dict[str, str], dict[str, str]]:
        """The entities of ``text`` (entity -> value), and the numbers said with no cue beside
        them (``loose``: for the slot asked for only). "for 12 people" is a party size; "rated 6"
        is not."""
        found = self._affirmed(text)
        loose: dict[str, str] = {}
        for entity, cues in self.number_entities.items():
            found.pop(entity, None)
            for value, cued in self._numbers(text, entity, cues):
                if cued and entity not in found:
                    found[entity] = value
                elif not cued and entity not in loose:
                    loose[entity] = value
        return found, loose

    def parse(self, text: str, ranking: int = 10) -> dict:
        """Rasa's ``parse_data`` of a message: its intent (the nearest NLU example's, with that
        example's cosine as the confidence), the ``ranking`` nearest intents, and its entities.
        The confidence is memchat's 3-gram cosine, not a probability: the intents' do not sum to 1."""
        nearest = self.matcher.nearest(text)[:ranking] if self.matcher.names else []
        intent = (
            {"name": nearest[0][1], "confidence": round(nearest[0][0], 4)}
            if nearest
            else {"name": None, "confidence": 0.0}
        )
        return {
            "intent": intent,
            "intent_ranking": [{"name": n, "confidence": round(c, 4)} for c, n in nearest],
            "entities": [{"entity": e, "value": v} for e, v in self._found(text)[0].items()],
        }

    def _affirmed(self, text: str) -> dict[str, str]:
        """entity -> its value in ``text``: the last one said outside a negation's scope ("make
        that chinese, not mexican" and "chinese instead of mexican" are chinese; "change it to
        thai" is thai)."""
        tokens = tokenize(text)
        no = negated(tokens)
        out: dict[str, str] = {}
        for i, start, _ in self.table.spans(tokens):
            entity = self.table.types[self.table.type_of[i]]
            if not no[start]:
                out[entity] = self.table.words_of[i]
        return out

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

    def _numbers(self, text: str, entity: str, cues: frozenset[str]) -> list[tuple[str, bool]]:
        """(value, cued) of each number of ``text`` for an entity of numbers: in digits or words
        (``numbers.find``), or else a value of the entity table (a slip: "a group of tree")."""

        def is_cue(word: str) -> bool:  # a cue, or a slip of one ("4 poeple")
            return word in cues or (len(word) >= 5 and any(len(c) >= 5 and one_slip(word, c) for c in cues))

        out = [(value, cued) for _, value, cued in find_duckling(text, ("number",), is_cue)]
        if out:
            return out
        tokens = tokenize(text)
        for i, a, b in self.table.spans(tokens):
            if self.table.types[self.table.type_of[i]] == entity and not any(t.isdigit() for t in tokens[a:b]):
                near = [tokens[a - 1] if a else "", tokens[b] if b < len(tokens) else ""]
                out.append((self.table.words_of[i], any(map(is_cue, near))))
        return out

    def unsure(self, text: str) -> bool:
        """Whether ``text`` names nothing the bot knows (no entity value; a number only where a
        word the examples put beside it stands), has a word of four letters or more the bot never
        saw and no word of an everyday class (word_classes.py), and its nearest NLU example
        (slips read back) is farther than ``[rules] fallback``: "do they take
        credit cards?" to a bot that books tables."""
        if not self.fallback or text == "<SILENCE>" or not self.matcher.names:
            return False
        tokens = tokenize(text)
        named = {self.table.types[self.table.type_of[i]] for i, _, _ in self.table.spans(tokens)}
        if named - set(self.number_entities):
            return False
        for entity, cues in self.number_entities.items():
            if entity in named and any(cued for _, cued in self._numbers(text, entity, cues)):
                return False
        if self.knows is not None and all(self.knows(t) for t in tokens if t.isalpha() and len(t) >= 4):
            return False  # every word known: the model has read messages like it
        if classes(tokens):
            return False  # a word of an everyday class (hey, thanks, great, no...) says what it is
        if self.spell is not None:  # "htanks a million" is as near as "thanks a million"
            text = " ".join(self.spell(t) for t in tokens)
        nearest = self.matcher.nearest(text)
        return not nearest or nearest[0][0] < self.fallback

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
        self,
        text: str,
        active_loop: str | None = None,
        requested: str | None = None,
        intent: str | None = None,
        given: dict[str, str] | None = None,
    ) -> dict[str, object]:
        """The slots a message sets: each slot by its first mapping that applies (its conditions
        on the active form and the slot it asks for, its intents), as Rasa's mappings do.
        ``given``: the entities of a payload message (``/inform{"cuisine": "thai"}``), read
        instead of the text's."""
        if text == "<SILENCE>":
            return {}
        if active_loop in self.ignored:  # Rasa's ignored_intents: chitchat mid-form fills nothing
            intent = intent if intent is not None else (self.matcher.intent(text) or "")
            if intent.split("/")[0] in self.ignored[active_loop]:
                return {}
        found, loose = (dict(given), {}) if given is not None else self._found(text)
        if given is None and self.duckling:
            for entity, value, cued in find_duckling(text, self.duckling, self.number_cues):
                if entity in found or entity in loose:
                    continue
                (found if cued else loose)[entity] = value
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
                elif m["type"] == "from_entity" and m["entity"] in loose and slot == requested:
                    out[slot] = loose[m["entity"]]
                elif m["type"] == "from_text" and (conditions or "intent" in m):
                    out[slot] = text
                elif m["type"] == "from_intent":
                    out[slot] = m["value"]
                else:
                    continue
                break
        return out
