"""Entities in text: the tokenizer, the entity table (the knowledge base's typed values and
subjects) and the match context -- which entities a dialogue has said, and the match codes the
model's match features read (Bordes et al. 2017, §4.4, and our context kinds).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import torch

from memchat.babi import BOT, KB, KBFact

_TOKEN = re.compile(r"<silence>|\w+(?:'\w+)*|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Lower-cased words and punctuation marks; entity names like ``resto_x_phone`` stay whole."""
    return _TOKEN.findall(text.lower())


class EntityTable:
    """Entity words and their types (the knowledge base's ``R_*`` relations), and which entities
    describe each knowledge-base subject (a restaurant: its cuisine, phone, address...)."""

    def __init__(self, types: Sequence[str], entities: dict[str, int], subjects: dict[str, list[str]] | None = None):
        self.types = list(types)  # type names, e.g. R_cuisine
        self.entities = dict(entities)  # entity word -> type index
        self.ids = {w: i for i, w in enumerate(self.entities)}  # entity word -> entity id
        self.type_of = list(self.entities.values())  # entity id -> type index
        # subject word -> its entity words; kept as given, the bundle stores it
        self.subjects = {s: [w for w in words if w in self.ids] for s, words in (subjects or {}).items()}
        self.subject_ids = {s: i for i, s in enumerate(self.subjects)}  # subject word -> subject id
        self.subject_entities = [[self.ids[w] for w in words] for words in self.subjects.values()]
        # the type that ranks subjects (every value a whole number: R_rating), and each entity's number
        worded = {k for w, k in self.entities.items() if not w.isdigit()}
        self.rank_type = next((t for t in range(len(self.types)) if t not in worded), -1)
        self.number = [int(w) if k == self.rank_type else 0 for w, k in self.entities.items()]
        self.name_type = self.types.index(NAME_TYPE) if NAME_TYPE in self.types else -1
        self.subject_name = [self.ids.get(s, -1) for s in self.subjects]  # subject id -> its name's entity id

    @classmethod
    def from_facts(cls, facts: Iterable[KBFact], names: bool = False) -> EntityTable:
        """Entities from the facts' one-word values, typed by relation; with ``names`` the
        one-word subjects too, typed ``NAME_TYPE``."""
        by_word: dict[str, str] = {}
        about: dict[str, dict[str, None]] = {}
        for f in facts:
            tokens, subject = tokenize(f.value), tokenize(f.subject)
            if len(tokens) == 1:  # a value of several words cannot be matched word by word
                by_word.setdefault(tokens[0], f.relation)
                if len(subject) == 1:
                    about.setdefault(subject[0], {})[tokens[0]] = None
        if names:
            for subject in about:
                by_word.setdefault(subject, NAME_TYPE)
        types = sorted(set(by_word.values()))
        index = {t: i for i, t in enumerate(types)}
        # a subject's identifying values only (its phone, its address): a cuisine many share says
        # nothing about which restaurant is in focus, and would cost a match per candidate naming it
        owners = Counter(w for words in about.values() for w in words)
        return cls(
            types,
            {w: index[r] for w, r in sorted(by_word.items())},
            {s: [w for w in words if owners[w] == 1] for s, words in sorted(about.items())},
        )

    def __len__(self) -> int:
        return len(self.ids)

    def find(self, tokens: Iterable[str]) -> list[int]:
        """Entity ids of the tokens that are entities, in order of appearance, without repeats."""
        found: dict[int, None] = {}
        for t in tokens:
            i = self.ids.get(t)
            if i is not None:
                found.setdefault(i, None)
        return list(found)

    def find_subject(self, tokens: Sequence[str]) -> int:
        """Id of the last knowledge-base subject named in ``tokens``, or -1."""
        for t in reversed(tokens):
            i = self.subject_ids.get(t)
            if i is not None:
                return i
        return -1

    def type_ids(self) -> torch.Tensor:
        return torch.tensor(self.type_of, dtype=torch.long)


MATCH_KINDS = (
    4  # said in the dialogue (§4.4); the latest of its type said; an attribute of the subject in focus; next to propose
)
NAME_TYPE = "R_name"  # the type of knowledge-base subjects (restaurant names) when they are entities (context)


class MatchContext:
    """The entities the match features look at, kept up to date while a dialogue is read.

    The paper's feature (§4.4) fires for a candidate's entity said anywhere in the dialogue so
    far. With ``context`` on, more kinds fire, each with its own learned word per type:

    - *latest*: the entity is the most recent of its type said (the user's update, "make it
      in oslo instead", overrides the city said before);
    - *focus*: the entity is an identifying attribute (one no other subject has), in the
      knowledge base, of the subject named last (after "what do you think of this option:
      red_crane", red_crane's phone and address);
    - *next* (``kinds`` 4): the subject with the best rank value (``EntityTable.rank_type``,
      R_rating) among those the dialogue's result lines gave it, that the bot has not named
      yet: what to propose next, for any restaurant name, seen in training or not.

    All are ours, not the paper's. Each match is a code ``entity + kind * len(entities)``.
    """

    def __init__(self, entities: EntityTable, context: bool, kinds: int = MATCH_KINDS):
        self.table, self.context, self.kinds = entities, context, kinds
        self.seen: dict[int, None] = {}  # entity ids in order of first mention
        self.latest: dict[int, int] = {}  # type -> entity id said last
        self.focus = -1  # subject id named last
        self.rank: dict[int, int] = {}  # subject id -> its rank value, as result lines gave them
        self.named: set[int] = set()  # subject ids the bot has named

    def add(self, entity_ids: Sequence[int], subject: int, speaker: str = BOT) -> None:
        """One more utterance: its entities (in order), the last subject it names (or -1) and
        who said it."""
        type_of = self.table.type_of
        for e in entity_ids:
            self.seen.setdefault(e, None)
            self.latest[type_of[e]] = e
        if subject >= 0:
            self.focus = subject
            if speaker == KB:  # a result line: "resto_x R_rating 7"
                for e in entity_ids:
                    if type_of[e] == self.table.rank_type:
                        self.rank[subject] = self.table.number[e]
            elif speaker == BOT:
                self.named.add(subject)

    def codes(self) -> list[int]:
        codes = list(self.seen)
        if self.context:
            n = len(self.table)
            codes += [e + n for e in self.latest.values()]
            if self.focus >= 0:
                codes += [e + 2 * n for e in self.table.subject_entities[self.focus]]
            if self.kinds > 3:
                # max keeps the first of equals: the result line listed first
                left = [s for s in self.rank if s not in self.named]
                if left and (e := self.table.subject_name[max(left, key=self.rank.__getitem__)]) >= 0:
                    codes.append(e + 3 * n)
        return codes
