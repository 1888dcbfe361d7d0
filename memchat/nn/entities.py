"""Entities in text: the tokenizer, the entity table (the knowledge base's typed values and
subjects) and the match context -- which entities a dialogue has said, and the match codes the
model's match features read (Bordes et al. 2017, §4.4, and our context kinds).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cached_property

from memchat.dialogs import BOT, KB, KBFact

_TOKEN = re.compile(r"<silence>|\w+(?:'\w+)*|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Lower-cased words and punctuation marks; entity names like ``resto_x_phone`` stay whole."""
    return _TOKEN.findall(text.lower())


class EntityTable:
    """Entity words and their types (the knowledge base's ``R_*`` relations, or a bot project's
    entities), and which entities describe each knowledge-base subject (a restaurant: its
    cuisine, phone, address...).

    An entity may be several words ("new york", kept as its tokens joined by spaces), and
    ``aliases`` name other ways to say one (a project's synonyms: "budget" -> "cheap")."""

    def __init__(
        self,
        types: Sequence[str],
        entities: dict[str, int],
        subjects: dict[str, list[str]] | None = None,
        aliases: dict[str, str] | None = None,
    ):
        self.types = list(types)  # type names, e.g. R_cuisine
        self.entities = dict(entities)  # entity word -> type index
        self.ids = {w: i for i, w in enumerate(self.entities)}  # entity word -> entity id
        self.words_of = list(self.entities)  # entity id -> entity word
        self.aliases = {a: w for a, w in (aliases or {}).items() if w in self.ids}  # other words -> entity word
        # what find() looks up: every entity and alias, as its tokens joined by spaces
        self._lookup = {**self.ids, **{a: self.ids[w] for a, w in self.aliases.items() if a not in self.ids}}
        self._longest = max((k.count(" ") + 1 for k in self._lookup), default=1)
        self._firsts = {k.split(" ")[0] for k in self._lookup if " " in k}  # what a several-word entity starts with
        self._near: SlipIndex | None = None  # fuzzy matching: deletion variant -> one-word entities
        self._part_near = SlipIndex(())  # and -> the words of several-word entities
        self._known: frozenset[str] = frozenset()
        self._known_near = SlipIndex(())
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

    @classmethod
    def from_values(cls, values: dict[str, Iterable[str]], aliases: dict[str, str] | None = None) -> EntityTable:
        """A project's entities: each entity type's values (any number of words), and aliases."""
        types = sorted(values)
        entities: dict[str, int] = {}
        for t, vals in ((t, values[t]) for t in types):
            for v in vals:
                key = " ".join(tokenize(v))
                if key:
                    entities.setdefault(key, types.index(t))
        norm = {" ".join(tokenize(a)): " ".join(tokenize(w)) for a, w in (aliases or {}).items()}
        return cls(types, entities, {}, {a: w for a, w in norm.items() if a and a != w})

    def __len__(self) -> int:
        return len(self.ids)

    def find(self, tokens: Sequence[str]) -> list[int]:
        """Entity ids of the entities said in ``tokens`` (longest match first, aliases counted),
        in order of appearance, without repeats."""
        return list(dict.fromkeys(i for i, _, _ in self.spans(tokens)))

    def fuzzy(self, known: Iterable[str], index: SlipIndex | None = None) -> None:
        """Match a word that is no known word (``known``: the vocabulary) to the one-word entity
        it is one slip away from (a letter left out, added, changed or two swapped, never the
        first): "itallian" is italian, "cheep" is cheap. Words under 4 letters never are."""
        self._known = frozenset(known)
        # the other words a slip may be of ("thak" is thank with a letter left out sooner than thai
        # with one changed): ``index``, the caller's slip index of ``known`` (the featurizer has one)
        self._known_near = index if index is not None else SlipIndex(k for k in self._known if k.isalpha())
        # only words of letters: a slip is looked up only when it is one (``_nearest``), and codes
        # such as resto_rome_cheap_2_phone (most of a knowledge base) would fill the index for nothing
        self._near = SlipIndex(k for k in self._lookup if " " not in k and k.isalpha())
        # the words of several-word values ("mid range"): "mid rnge" is mid range
        self._part_near = SlipIndex({w for k in self._lookup if " " in k for w in k.split() if w.isalpha()})

    def _nearest(self, token: str) -> int | None:
        if len(token) < 4 or token in self._known or not token.isalpha():
            return None
        keys = near_words(token, self._near)
        ids = {self._lookup[k] for k in keys}
        if len(ids) != 1:
            return None  # two entities as near: neither
        # a known word a letter left out or added away, as near as any slip, or nearer: "thak" is
        # a letter changed from thai, but one left out of thank; "thre" is a letter left out of
        # three, and of there: neither is an entity ("cheep" stays cheap beside cheer: a tie of
        # letters changed goes to the entity)
        if any(len(w) != len(token) for w in near_words(token, self._known_near) if w not in self._lookup):
            return None
        return ids.pop()

    def _part(self, token: str) -> str:
        """``token``, or the one word of a several-word entity it is one slip from."""
        if len(token) < 4 or token in self._known or not token.isalpha():
            return token
        near = near_words(token, self._part_near)
        return near.pop() if len(near) == 1 else token

    def spans(self, tokens: Sequence[str]) -> list[tuple[int, int, int]]:
        """(entity id, first token, end token) of each entity said in ``tokens``, in order."""
        lookup, out = self._lookup, []
        if self._longest == 1:  # one-word entities (dialog bAbI): one dict look-up per token
            for k, t in enumerate(tokens):
                i = lookup.get(t)
                if i is None and self._near is not None:
                    i = self._nearest(t)
                if i is not None:
                    out.append((i, k, k + 1))
            return out
        k, n = 0, len(tokens)
        while k < n:
            t = tokens[k]  # several words are looked up only from a word one of them starts with
            starts = t in self._firsts or (self._near is not None and self._part(t) in self._firsts)
            for m in range(min(self._longest, n - k) if starts else 1, 0, -1):
                i = lookup.get(" ".join(tokens[k : k + m]))
                if i is None and self._near is not None:
                    i = self._nearest(tokens[k]) if m == 1 else lookup.get(" ".join(map(self._part, tokens[k : k + m])))
                if i is not None:
                    out.append((i, k, k + m))
                    k += m
                    break
            else:
                k += 1
        return out

    def find_subject(self, tokens: Sequence[str]) -> int:
        """Id of the last knowledge-base subject named in ``tokens``, or -1."""
        for t in reversed(tokens):
            i = self.subject_ids.get(t)
            if i is not None:
                return i
        return -1


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


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def one_slip(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by one letter left out, added or changed, or two swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return a == b
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1 :] == b[i + 1 :] or (a[i + 2 :] == b[i + 2 :] and a[i : i + 2] == b[i : i + 2][::-1])
    return a[i + 1 :] == b[i:] if len(a) > len(b) else a[i:] == b[i + 1 :]


class SlipIndex:
    """Each word of 4 letters or more under itself and each of its one-letter deletions: what
    ``near_words`` looks a slip up in (SymSpell's way). Made the first time a slip is looked up
    in it: most messages have no word the bot lacks, and a start need not pay for it (the default
    bot's bundle loads in 6.7 ms, against 8.7 ms with its three indexes made). ``words`` is read
    at once."""

    def __init__(self, words: Iterable[str]):
        self.words = list(words)

    @cached_property
    def index(self) -> dict[str, set[str]]:
        index: dict[str, set[str]] = {}
        for w in self.words:
            if len(w) >= 4:
                for variant in {w, *_deletions(w)}:
                    index.setdefault(variant, set()).add(w)
        return index

    def get(self, variant: str, default: Iterable[str] = ()) -> Iterable[str]:
        return self.index.get(variant, default)


def near_words(token: str, index: SlipIndex) -> set[str]:
    """The words of ``index`` one slip from ``token`` that keep its first letter, or swap its first
    two (people rarely slip on the first letter, and "right" must not become "eight")."""
    keys = {k for v in {token, *_deletions(token)} for k in index.get(v, ())}
    return {k for k in keys if (k[0] == token[0] or k[:2] == token[1::-1]) and one_slip(token, k)}
