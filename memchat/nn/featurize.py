"""Turning utterances into the ids the memory network reads (Bordes et al. 2017, Appendix A, §4.4).

Each memory slot is one earlier utterance -- a user turn, a bot turn (api calls included) or a
knowledge-base result -- as a bag of words; the model adds a speaker feature and a time feature
(how many slots ago it was said) to each slot. The query is the user's latest utterance.

Match-type features (§4.4): the knowledge base says which words are entities of which type
(cuisine, location, price, party size, rating, phone, address; whatever ``R_*`` relations the
file has). For each example we record which entities occur in the dialogue so far; the model gives
a candidate one extra "match" word per type for each of its entities seen there. Entities are
matched by their text, so a cuisine never seen in training still matches by type when the
knowledge base knows it, although its word has no embedding.

Context features (ours, on unless ``memchat train --paper``): knowledge-base subjects (restaurant
names) are entities too, of type ``NAME_TYPE``; each entity adds its type's word (``<R_cuisine>``)
to the bag it is in, candidates included; the match features get three more kinds
(``MatchContext``); and each example records which entity types were said before it
(``Batch.said_types``), which the model adds to the query.

The vocabulary comes from the training dialogues only; unknown words drop out of the bags.

This module imports no torch: the live path reads its ids. Whole dialogues as tensors, for
training and batch evaluation, are ``batches.py``'s.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from functools import cached_property, lru_cache

import numpy as np

from memchat import sparse
from memchat.dialogs import BOT, KB, SPEAKERS, Dialog, KBFact, parse_kb_result
from memchat.nn.entities import MATCH_KINDS, EntityTable, SlipIndex, near_words, tokenize
from memchat.nn.word_classes import WORDS as CLASS_WORDS
from memchat.nn.word_classes import classes

PAD = "<pad>"
SPEAKER_INDEX = {s: i for i, s in enumerate(SPEAKERS)}


class Vocabulary:
    """Word ids; id 0 is padding, and words never seen in training also map to 0 (no embedding)."""

    def __init__(self, words: Iterable[str]):
        self.words: list[str] = [PAD]
        self.ids: dict[str, int] = {PAD: 0}
        for w in words:
            if w not in self.ids:
                self.ids[w] = len(self.words)
                self.words.append(w)

    @classmethod
    def from_dialogs(cls, dialogs: Iterable[Dialog]) -> Vocabulary:
        words = sorted({w for d in dialogs for t in d.turns for w in tokenize(t.text)})
        return cls(words)

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        get = self.ids.get
        return [i for i in (get(t, 0) for t in tokens) if i]


SUBWORD_WEIGHT = 0.1  # an n-gram counts this much in a bag: a word's ~10 n-grams weigh about as much as the word


@lru_cache(maxsize=200_000)
def char_ngrams(word: str, buckets: int) -> tuple[int, ...]:
    """The buckets of a word's character 3- and 4-grams, with boundary marks ("<it", "ita", ...,
    "an>"), hashed as fastText does (crc32 here: stable across runs and machines)."""
    marked = f"<{word}>"
    grams = {marked[i : i + n] for n in (3, 4) for i in range(len(marked) - n + 1)}
    return tuple(sorted(zlib.crc32(g.encode()) % buckets for g in grams))


def type_word(entity_type: str) -> str:
    """The word standing for any entity of a type; ``tokenize`` never makes it from text."""
    return f"<{entity_type}>"


def facts_in_dialogs(dialogs: Iterable[Dialog]) -> list[KBFact]:
    """The knowledge-base facts stated by the result lines inside dialogues."""
    return [f for d in dialogs for t in d.turns if t.speaker == KB and (f := parse_kb_result(t.text))]


class Featurizer:
    """Vocabulary, entity table and candidate replies: everything that turns text into ids."""

    def __init__(
        self,
        vocab: Vocabulary,
        entities: EntityTable,
        candidates: Sequence[str],
        context: bool = False,
        kinds: int = MATCH_KINDS,
        candidate_texts: Sequence[str] | None = None,
        subwords: int = 0,
        candidate_ids: dict[str, np.ndarray] | None = None,
    ):
        self.vocab = vocab
        # hashed character n-grams of each word (fastText's, Rasa's char_wb): ids after the words
        self.subwords = subwords
        self.size = len(vocab) + subwords  # the model's input vocabulary: words, then n-gram buckets
        self.spelling: SlipIndex | None = None  # correct_slips(): words a slip is looked up among
        self.entities = entities
        self.context = context  # the latest, focus and next match kinds too (see MatchContext)
        self.kinds = kinds if context else 1  # match kinds (MemN2NConfig.match_kinds)
        self.candidates = list(candidates)
        self.candidate_index = {c: i for i, c in enumerate(self.candidates)}
        # what a candidate is embedded by: its own text, or (a project's action) its name and words
        self.candidate_texts = list(candidate_texts) if candidate_texts is not None else self.candidates
        # the word classes' words (word_classes.py), when the vocabulary has them (a project's)
        self.class_ids = {w: vocab.ids[w] for w in CLASS_WORDS if w in vocab.ids}
        # the word of each entity's type ("<R_cuisine>"), when the vocabulary has type words
        type_words = [vocab.ids.get(type_word(t), 0) for t in entities.types]
        self.entity_type_word = [type_words[t] for t in entities.type_of]  # entity id -> word id or 0
        if candidate_ids is not None:  # as a bundle stored them (``candidate_ids``): nothing to read again
            self.candidate_ids = candidate_ids
        else:
            cand_tokens = [tokenize(c) for c in self.candidate_texts]
            self.cand_entities = [entities.find(t) for t in cand_tokens]  # each candidate's entity ids
            self.cand_words = [self.words(t, e) for t, e in zip(cand_tokens, self.cand_entities)]  # and word ids
        # match code (entity + kind * entities) -> its entity, and its match word (type + kind * types)
        n_types = len(entities.types)
        self.code_entity = [e for _ in range(self.kinds) for e in range(len(entities))]
        self.code_type = [t + k * n_types for k in range(self.kinds) for t in entities.type_of]

    @cached_property
    def candidate_ids(self) -> dict[str, np.ndarray]:
        """The candidates' word ids and entity ids as flat arrays, what the ranker reads and a bundle
        stores (``CANDIDATE_IDS``): candidate c's words are ``words[words_at[c] : words_at[c + 1]]``,
        its entities likewise. Reading 4,212 task-5 candidates again took a quarter of a start."""
        (words, words_at), (entities, entities_at) = map(sparse.from_lists, (self.cand_words, self.cand_entities))
        return {"words": words, "words_at": words_at, "entities": entities, "entities_at": entities_at}

    @cached_property
    def cand_words(self) -> list[list[int]]:
        """Each candidate's word ids (from ``candidate_ids``, when a bundle gave those)."""
        return sparse.to_lists(self.candidate_ids["words"], self.candidate_ids["words_at"])

    @cached_property
    def cand_entities(self) -> list[list[int]]:
        """Each candidate's entity ids (from ``candidate_ids``, when a bundle gave those)."""
        return sparse.to_lists(self.candidate_ids["entities"], self.candidate_ids["entities_at"])

    @classmethod
    def from_training(
        cls,
        train: Sequence[Dialog],
        candidates: Sequence[str] | None,
        facts: Iterable[KBFact],
        context: bool = False,
        subwords: int = 0,
    ) -> Featurizer:
        """Vocabulary from the training dialogues; entities from the knowledge base and the
        training dialogues' result lines; candidates from the file, plus any training reply it
        lacks (without a file, every bot reply of the training dialogues)."""
        replies = dict.fromkeys(candidates or [])
        replies.update(dict.fromkeys(t.text for d in train for t in d.turns if t.speaker == BOT))
        entities = EntityTable.from_facts([*facts, *facts_in_dialogs(train)], names=context)
        vocab = Vocabulary.from_dialogs(train)
        if context:
            vocab = Vocabulary(vocab.words[1:] + [type_word(t) for t in entities.types])
        return cls(vocab, entities, list(replies), context, subwords=subwords)

    @classmethod
    def for_project(
        cls,
        train: Sequence[Dialog],
        candidates: Sequence[str],
        candidate_texts: Sequence[str],
        entities: EntityTable,
        context: bool = False,
        subwords: int = 0,
    ) -> Featurizer:
        """A bot project's: candidates are its actions, embedded by their names and response words
        (which join the vocabulary); entities are its entities, synonyms and several-word values."""
        words = {w for d in train for t in d.turns for w in tokenize(t.text)}
        words |= {w for text in candidate_texts for w in tokenize(text)}
        types = [type_word(t) for t in entities.types] if context else []
        return cls(
            Vocabulary(sorted(words) + types + list(CLASS_WORDS if context else ())),
            entities,
            candidates,
            context,
            candidate_texts=candidate_texts,
            subwords=subwords,
        )

    def correct_slips(self) -> None:
        """From now on, a word the vocabulary lacks that is one slip from exactly one word it has
        (same first letter, 4 letters or more) is read as that word: "thnaks" is thanks."""
        self.spelling = SlipIndex(w for w in self.vocab.words if w.isalpha())
        self.entities.fuzzy(self.vocab.words, self.spelling)

    def knows(self, token: str) -> bool:
        """Whether the bot has seen ``token``: a word of its vocabulary or an entity value, or
        (after ``correct_slips``) one slip from one such word."""
        if token in self.vocab.ids or token in self.entities.ids:
            return True
        return self.spelling is not None and self._spell(token) != token

    def spell(self, token: str) -> str:
        """``token`` as the bot reads it: the one word it knows a slip away, or itself (after
        ``correct_slips``; before, itself)."""
        return self._spell(token) if self.spelling is not None else token

    def _spell(self, token: str) -> str:
        if len(token) < 4 or token in self.vocab.ids or not token.isalpha() or token in self.entities.ids:
            return token
        near = near_words(token, self.spelling)
        return near.pop() if len(near) == 1 else token

    def words(self, tokens: Sequence[str], entities: list[int] | None = None) -> list[int]:
        """Word ids of ``tokens``, then the type word of each entity among them (if any), then the
        hashed character n-grams of the words (with ``subwords``): a word never seen, or typed
        with a slip, still shares most of its n-grams with the word it stands for. ``entities``:
        those of ``tokens``, when the caller has found them (and no slip is read back)."""
        if self.spelling is not None:
            tokens, entities = [self._spell(t) for t in tokens], None
        ids = self.vocab.encode(tokens)
        for e in self.entities.find(tokens) if entities is None else entities:
            if w := self.entity_type_word[e]:
                ids.append(w)
        if self.class_ids:
            ids += [self.class_ids[c] for c in classes(tokens)]
        if self.subwords:
            base = len(self.vocab)
            for t in tokens:
                if t[0].isalnum() and t != "<silence>":
                    ids += [base + b for b in char_ngrams(t, self.subwords)]
        return ids

    def encode_text(self, text: str) -> tuple[list[int], list[int], int]:
        """One utterance's word ids, entity ids and last named subject (-1 for none)."""
        tokens = tokenize(text)
        return self.words(tokens), self.entities.find(tokens), self.entities.find_subject(tokens)


CANDIDATE_IDS = ("words", "words_at", "entities", "entities_at")  # Featurizer.candidate_ids, by name
