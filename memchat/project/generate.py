"""Stories and rules become training dialogues: what the memory network learns from.

Each story is sampled ``samples`` times (seeded): a user step takes the text of one of its
intent's NLU examples, its entities re-drawn from the values the project knows (or set to the
story's), and what the bot does is the story's actions, one after another, then ``action_listen``.
The dialogue is written the way the dialogue manager stores a live conversation, so the two can
never drift apart:

    kb     slot cuisine italian          a slot the user's turn sets (stored just before it)
    user   <what the user typed>
    bot    utter_ask_people              an action; a second action follows an implicit <SILENCE>
    user   <SILENCE>
    bot    action_listen                 the bot waits for the user

Forms run as they do live: the form action, ``active_loop FORM``, then for each required slot not
yet filled ``utter_ask_<slot>``, a listen, an answer from an example annotated with that slot's
entity, the form again; then ``active_loop null``. Rules that do not start a conversation get a
random beginning from another story or rule most of the time, so they are learned "at any point".
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from memchat.dialogs import BOT, KB, SILENCE, USER, Dialog, Turn
from memchat.errors import MemchatError
from memchat.project.data import ANY_VALUE, Example, Step, Story
from memchat.project.folder import Project
from memchat.project.interpreter import Interpreter
from memchat.project.numbers import find as find_duckling
from memchat.project.rules import is_follow_up
from memchat.project.spec import (
    FALLBACK_INTENT,
    LISTEN,
    ask_for,
    conversation_state,
    payload_words,
    slot_line,
    slot_text,
)

MAX_CHECKPOINT_DEPTH = 5
DUCKLING_SAMPLES = {"number": "2", "email": "someone@example.com", "amount-of-money": "100 dollars"}
PREFIXED = 0.75  # the share of a rule's dialogues that begin with part of another story or rule


@dataclass
class _State:
    turns: list[Turn] = field(default_factory=list)
    slots: dict[str, object] = field(default_factory=dict)
    active_loop: str | None = None
    retrieval: str | None = None  # the sub-intent of the last retrieval-intent message ("faq/ask_price")


class Generator:
    def __init__(self, project: Project, interpreter: Interpreter, seed: int = 0):
        self.project, self.interpreter = project, interpreter
        self.domain, self.data = project.domain, project.data
        self.rng = random.Random(seed)
        self.decks: dict[tuple, list] = {}  # _draw's shuffled examples not dealt yet
        self.trial = False  # drawing for a prefix (_prefix), not dealing from the decks
        self.values = {e: v for e, v in project.entity_values().items() if v}
        self.by_checkpoint: dict[str, list[Story]] = {}
        for story in self.data.stories:
            if story.steps and story.steps[0].kind == "checkpoint":
                self.by_checkpoint.setdefault(story.steps[0].name, []).append(story)
        # the examples that answer a form's question: annotated with exactly the entity of one slot
        self.answers: dict[str, list[Example]] = {}
        for examples in self.data.examples.values():
            for ex in examples:
                if len(ex.entity_types) == 1:
                    self.answers.setdefault(next(iter(ex.entity_types)), []).append(ex)
                elif not ex.entities and project.duckling:  # "for four people": Duckling's, not annotated
                    found = {e for e, _, _ in find_duckling(ex.text, project.duckling)}
                    if len(found) == 1:
                        self.answers.setdefault(found.pop(), []).append(ex)

    def _draw(self, key: tuple, items: list):
        """One of ``items`` (the same list for the same ``key``), dealt like cards: each once, in
        shuffled order, before any again -- every NLU example gets into the training dialogues
        (drawn at random, the default bot's 80 draws of its 44 off-topic examples left 8 out)."""
        if self.trial:  # a prefix, cut at a random point: what it drew may be thrown away
            return self.rng.choice(items)
        own, banked = _split(items)
        if own and banked and key[0] != "answer":  # an intent's own examples and its bank's in turn (acts.py)
            turn = self.decks.setdefault((key, "turn"), [0])
            turn[0] += 1
            key, items = ((key, "banked"), banked) if turn[0] % 2 == 0 else ((key, "own"), own)
        deck = self.decks.get(key)
        if not deck:
            deck = self.decks[key] = list(items)
            self.rng.shuffle(deck)
        return deck.pop()

    # ---- whole dialogues -------------------------------------------------------------------
    def dialogs(self, samples: int) -> list[Dialog]:
        out = []
        # a rule of one action (then listen) is applied as the bot talks (rules.py): as a dialogue
        # it would only teach the bot to speak after a listen, unbidden
        starts = [
            s
            for s in self.data.stories
            if not (s.steps and s.steps[0].kind == "checkpoint")
            and not (is_follow_up(s) and len(s.steps) == 1)
            and not self._left_out(s)
        ]
        for story in starts:
            for _ in range(samples):
                state = _State(slots={n: s.initial for n, s in self.domain.slots.items() if s.initial is not None})
                if story.rule and not story.conversation_start and self.rng.random() < PREFIXED:
                    self._prefix(state, starts)
                self._condition(state, story.condition)
                self.run(state, story.steps, story, 0)
                if story.wait_for_user_input and state.turns and state.turns[-1].text != LISTEN:
                    self._bot(state, LISTEN)
                out.append(Dialog(state.turns, source=story.at.split(":")[0], line=int(story.at.split(":")[-1])))
        return out

    def _left_out(self, story: Story) -> bool:
        """Whether the story is left out of training: it has a user step of ``nlu_fallback`` (which
        no one says), or runs a loop that is no form of the domain (Rasa's two-stage fallback)."""
        steps = [o for s in story.steps for o in ([s] if s.kind != "or" else [x[0] for x in s.options])]
        loops = [s.name for s in [*story.condition, *steps] if s.kind == "active_loop" and s.name]
        fallback = any(s.kind == "intent" and s.user is None and s.name == FALLBACK_INTENT for s in steps)
        return fallback or any(name not in self.domain.forms for name in loops)

    def _prefix(self, state: _State, starts: list[Story]) -> None:
        """The beginning of another story, up to a point where the bot listens and no form is on."""
        stories = [s for s in starts if not s.condition]
        if not stories:
            return
        trial = _State(slots=dict(state.slots))
        self.trial = True
        try:
            self.run(trial, self.rng.choice(stories).steps, None, 0)
        finally:
            self.trial = False
        cuts = [k + 1 for k, t in enumerate(trial.turns) if t.text == LISTEN]
        if cuts:
            cut = self.rng.choice(cuts)
            state.turns = trial.turns[:cut]
            state.slots, _ = conversation_state(((t.speaker, t.text) for t in state.turns), {})

    def _condition(self, state: _State, condition: list[Step]) -> None:
        for step in condition:
            if step.kind == "active_loop" and step.name:
                state.active_loop = step.name
                self._bot(state, step.name)
                state.turns.append(Turn(KB, f"active_loop {step.name}", 0))
                # as live, the form has asked for a slot and listens (after some answers, so that
                # the rule is seen after each of its questions)
                for _ in range(self.rng.randrange(len(self.domain.forms[step.name]))):
                    if not self._ask(state, step.name):
                        break
                self._ask(state, step.name, once=True)
            elif step.kind == "slot_was_set":
                self._slots(state, step)

    # ---- steps ------------------------------------------------------------------------------
    def run(self, state: _State, steps: list[Step], story: Story | None, depth: int) -> None:
        k = 0
        while k < len(steps):
            step = steps[k]
            if step.kind == "or":
                step = self.rng.choice(step.options)[0]
            if step.kind == "intent":
                if state.turns and state.turns[-1].speaker != USER and state.turns[-1].text != LISTEN:
                    self._bot(state, LISTEN)
                self._user(state, step, self._lookahead_slots(steps, k))
            elif step.kind == "action":
                name = step.name
                if name.startswith("utter_") and name[6:] == (state.retrieval or "").split("/")[0]:
                    name = f"utter_{state.retrieval}"
                self._bot(state, name)
                if name in self.domain.forms:
                    k = self._form(state, name, steps, k)
                elif name == "action_deactivate_loop" and state.active_loop:
                    state.active_loop = None
                    state.turns.append(Turn(KB, "active_loop null", 0))
            elif step.kind == "slot_was_set":
                self._slots(state, step)
            elif step.kind == "active_loop":
                if step.name:
                    if state.active_loop != step.name:
                        state.active_loop = step.name
                        state.turns.append(Turn(KB, f"active_loop {step.name}", 0))
                elif state.active_loop:
                    state.active_loop = None
                    state.turns.append(Turn(KB, "active_loop null", 0))
            elif step.kind == "checkpoint" and k == len(steps) - 1 and k > 0:
                nexts = self.by_checkpoint.get(step.name)
                if nexts and depth < MAX_CHECKPOINT_DEPTH:
                    self.run(state, self.rng.choice(nexts).steps[1:], story, depth + 1)
            k += 1

    def _lookahead_slots(self, steps: list[Step], k: int) -> dict[str, object]:
        """Values the story's slot_was_set steps right after a user step give to slots."""
        out = {}
        for step in steps[k + 1 :]:
            if step.kind != "slot_was_set":
                break
            out.update({s: v for s, v in step.slots if v is not ANY_VALUE and v is not None})
        return out

    def _form(self, state: _State, form: str, steps: list[Step], k: int) -> int:
        """The form runs as it does live; returns the index of the last story step it used."""
        nxt = steps[k + 1] if k + 1 < len(steps) else None
        if nxt is not None and nxt.kind == "active_loop" and nxt.name == form:
            k += 1
            after = steps[k + 1] if k + 1 < len(steps) else None
            if state.active_loop != form:
                state.active_loop = form
                state.turns.append(Turn(KB, f"active_loop {form}", 0))
            if after is not None and after.kind == "active_loop" and not after.name:
                self._fill(state, form)
                k += 1
            elif after is None:
                self._ask(state, form, once=True)
            return k
        if nxt is not None and nxt.kind == "active_loop" and not nxt.name:
            self._fill(state, form)
            return k + 1
        return k

    def _missing(self, state: _State, form: str) -> list[str]:
        return [s for s in self.domain.forms[form] if state.slots.get(s) in (None, "")]

    def _ask(self, state: _State, form: str, once: bool = False) -> bool:
        missing = self._missing(state, form)
        if not missing:
            return False
        slot = missing[0]
        ask = ask_for(form, slot, self.domain.actions, self.domain.responses)
        self._bot(state, ask)
        self._bot(state, LISTEN)
        if once:
            return True
        entities = self.domain.slots[slot].entities
        answers = [(None, ex) for e in entities for ex in self.answers.get(e, [])]
        for m in self.domain.slots[slot].mappings:  # yes/no answers and the like
            if m["type"] == "from_intent":
                answers += [(i, ex) for i in m.get("intent", []) for ex in self.data.examples.get(i, [])]
            elif m["type"] == "from_text":
                answers += [(None, ex) for exs in self.data.examples.values() for ex in exs if not ex.entities][:50]
        if not answers:
            raise MemchatError(
                f"{self.domain.where.get(f'forms {form}', '?')}: form '{form}' asks for '{slot}', "
                f"but no NLU example answers it (annotated with {', '.join(entities) or 'its entity'}, "
                "or of an intent its mappings name)"
            )
        intent, example = self._draw(("answer", slot), answers)
        self._say(state, example, {}, intent)
        self._bot(state, form)
        return True

    def _fill(self, state: _State, form: str) -> None:
        for _ in range(len(self.domain.forms[form]) + 1):
            if not self._ask(state, form):
                break
        state.active_loop = None
        state.turns.append(Turn(KB, "active_loop null", 0))

    def _user(self, state: _State, step: Step, slot_values: dict[str, object]) -> None:
        wanted = dict(step.entities)
        for slot, value in slot_values.items():  # a later slot_was_set fixes the entity's value
            for entity in self.domain.slots[slot].entities if slot in self.domain.slots else []:
                if wanted.get(entity) is None:
                    wanted[entity] = str(value)
        if step.user is not None:
            example, intent = step.user, step.name
        else:
            intent = step.name
            names = [n for n in self.data.examples if n == intent or n.startswith(intent + "/")]
            candidates = [(n, ex) for n in names for ex in self.data.examples[n]]
            if not candidates:  # an intent only a button sends: said as its payload reads live
                candidates = [(intent, Example(payload_words(intent)))]
            fitting = [(n, ex) for n, ex in candidates if ex.entity_types == frozenset(wanted)]
            if not fitting and wanted:  # Rasa reads it anyway: an example with fewer, the rest said after it
                subsets = [(n, ex) for n, ex in candidates if ex.entity_types < frozenset(wanted)]
                most = max((len(ex.entity_types) for _, ex in subsets), default=-1)
                base = [(n, ex) for n, ex in subsets if len(ex.entity_types) == most]
                if not base:
                    raise MemchatError(f"{step.at}: intent '{intent}' has no NLU examples to say it with")
                intent, ex = self._draw((intent, "fewer", frozenset(wanted)), base)
                rest = sorted(set(wanted) - ex.entity_types)
                said = " ".join(wanted[e] or self._sample(e) for e in rest)
                state.retrieval = intent if "/" in intent else None
                self._say(state, Example(f"{ex.text} {said}", ex.entities), wanted, intent or None)
                return
            intent, example = self._draw((intent, frozenset(wanted) if fitting else None), fitting or candidates)
        state.retrieval = intent if "/" in intent else None
        self._say(state, example, wanted, intent or None)

    def _say(self, state: _State, example: Example, wanted: dict[str, str | None], intent: str | None = None) -> None:
        """The example's text with its entities re-drawn (or set to ``wanted``), and the slots it fills."""
        text, pos = [], 0
        for start, end, entity, value in sorted(example.entities):
            text.append(example.text[pos:start])
            given = wanted.get(entity)
            if given is not None:
                value = given
            elif self.values.get(entity) and self.rng.random() < 0.8:
                value = self.rng.choice(self.values[entity])
            else:
                value = example.text[start:end]
            text.append(self._surface(value))
            pos = end
        text.append(example.text[pos:])
        said = "".join(text)
        missing = self._missing(state, state.active_loop) if state.active_loop else []
        for slot, value in self.interpreter.slots_from_text(
            said, state.active_loop, missing[0] if missing else None, intent
        ).items():
            self._set(state, slot, value)
        state.turns.append(Turn(USER, said, 0))

    def _sample(self, entity: str) -> str:
        """A value of ``entity`` for a message that must name it."""
        if self.values.get(entity):
            return self.rng.choice(self.values[entity])
        return DUCKLING_SAMPLES.get(entity, entity)

    def _surface(self, value: str) -> str:
        """A value as a user may say it: now and then one of its synonyms."""
        aliases = self.interpreter.aliases_of.get(value.lower())
        if aliases and self.rng.random() < 0.3:
            return self.rng.choice(aliases)
        return value

    def _slots(self, state: _State, step: Step) -> None:
        for slot, value in step.slots:
            if slot == "requested_slot":
                continue
            if value is ANY_VALUE:
                value = state.slots.get(slot)
                if value in (None, ""):
                    kind = self.domain.slots[slot].type
                    value = True if kind == "bool" else self._any_value(slot)
            self._set(state, slot, value)

    def _set(self, state: _State, slot: str, value: object) -> None:
        """A slot set: its line in memory, as the dialogue manager stores it (not for a slot that
        does not influence the conversation)."""
        value = slot_text(value)
        if state.slots.get(slot) != value:
            state.slots[slot] = value
            if self.domain.slots[slot].influence:
                state.turns.append(Turn(KB, slot_line(slot, value), 0))

    def _any_value(self, slot: str) -> str:
        s = self.domain.slots[slot]
        pool = s.values or [v for e in s.entities for v in self.values.get(e, [])]
        return self.rng.choice(pool) if pool else "set"

    def _bot(self, state: _State, action: str) -> None:
        """An action; after anything but the user's turn, the implicit <SILENCE> comes first."""
        if state.turns and state.turns[-1].speaker != USER:
            state.turns.append(Turn(USER, SILENCE, 0))
        state.turns.append(Turn(BOT, action, 0))


def _split(items: list) -> tuple[list, list]:
    """``items`` (examples, or (intent, example) pairs) as the author's and the banks' (acts.py):
    dealt in turn, the banks widen an intent's wording and every one of the author's examples is
    still dealt within twice their number."""
    own, banked = [], []
    for it in items:
        (banked if (it[1] if isinstance(it, tuple) else it).banked else own).append(it)
    return own, banked
