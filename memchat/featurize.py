"""Turning dialogues into the tensors the memory network reads (Bordes et al. 2017, Appendix A, §4.4).

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
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch

from memchat.babi import BOT, KB, SPEAKERS, Dialog, KBFact, parse_kb_result
from memchat.entities import MATCH_KINDS, EntityTable, MatchContext, near_words, slip_index, tokenize

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


def _pad(rows: Sequence[Sequence[int]]) -> torch.Tensor:
    width = max((len(r) for r in rows), default=0) or 1
    return torch.tensor([list(r) + [0] * (width - len(r)) for r in rows], dtype=torch.long)


@dataclass
class EncodedDialogs:
    """A set of dialogues as flat tensors; slot ``k`` of dialogue ``j`` is row ``start[j] + k``."""

    slot_words: torch.Tensor  # (S + 1, L) word ids of every slot, 0-padded; the last row is padding
    slot_speaker: torch.Tensor  # (S + 1,) speaker index into SPEAKERS
    start: torch.Tensor  # (N + 1,) first slot of each dialogue; start[N] == S
    ex_dialog: torch.Tensor  # (X,) dialogue of each example (bot turn)
    ex_qpos: torch.Tensor  # (X,) slot of the query (the user turn before the bot turn)
    ex_gold: torch.Tensor  # (X,) candidate index of the gold reply, -1 when it is no candidate
    ex_ent_start: torch.Tensor  # (X + 1,) CSR offsets into ex_ent
    ex_ent: torch.Tensor  # (sum,) match codes (MatchContext.codes) of the dialogue up to the query
    ex_first: torch.Tensor  # (N + 1,) first example of each dialogue

    @property
    def num_dialogs(self) -> int:
        return len(self.start) - 1

    @property
    def num_examples(self) -> int:
        return len(self.ex_dialog)


@dataclass
class Batch:
    """Tensors for a batch of D dialogues with up to K slots and E examples each (n real ones)."""

    slot_words: torch.Tensor  # (D*K, L) word ids; padding slots are all 0
    slot_bow: tuple[torch.Tensor, torch.Tensor] | None  # the same as sparse (D*K, V) counts and transpose
    slot_speaker: torch.Tensor  # (D, K)
    slot_mask: torch.Tensor  # (D, K) True for real slots
    qpos: torch.Tensor  # (D, E) query slot of each example
    example_index: torch.Tensor  # (n,) position of each real example in the flattened (D*E)
    gold: torch.Tensor  # (n,) gold candidate of each real example, -1 for none
    # (Q,) each, sorted by row: example row, entity, type + kind * types
    match_codes: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    example_ids: torch.Tensor  # (n,) index of each real example in its EncodedDialogs
    said_types: torch.Tensor  # (D, E, T) 1 where an entity of type t was said before the example's reply
    # training: Featurizer.local_entities
    local_match: tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]] | None = None


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
    ):
        self.vocab = vocab
        # hashed character n-grams of each word (fastText's, Rasa's char_wb): ids after the words
        self.subwords = subwords
        self.size = len(vocab) + subwords  # the model's input vocabulary: words, then n-gram buckets
        self.spelling: dict[str, set[str]] | None = None  # correct_slips(): words a slip is looked up among
        self.entities = entities
        self.context = context  # the latest, focus and next match kinds too (see MatchContext)
        self.kinds = kinds if context else 1  # match kinds (MemN2NConfig.match_kinds)
        self.candidates = list(candidates)
        self.candidate_index = {c: i for i, c in enumerate(self.candidates)}
        # what a candidate is embedded by: its own text, or (a project's action) its name and words
        self.candidate_texts = list(candidate_texts) if candidate_texts is not None else self.candidates
        cand_tokens = [tokenize(c) for c in self.candidate_texts]
        # the word of each entity's type ("<R_cuisine>"), when the vocabulary has type words
        type_words = [vocab.ids.get(type_word(t), 0) for t in entities.types]
        self.entity_type_word = [type_words[t] for t in entities.type_of]  # entity id -> word id or 0
        self.cand_words = _pad([self.words(t) for t in cand_tokens])  # (C, Lc)
        self.cand_bow = self.bags(self.cand_words)
        # which candidates name each entity, sparse (C, entities) and its transpose: one product
        # adds every match of many examples to the candidates
        pairs = [(c, e) for c, toks in enumerate(cand_tokens) for e in entities.find(toks)]
        index = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).T
        self.cand_ent = sparse_counts(index, (len(self.candidates), max(len(entities), 1)))
        self.ent_type = entities.type_ids()
        # match code (entity + kind * entities) -> its entity, and its match word (type + kind * types)
        self.code_entity = torch.arange(len(entities)).repeat(self.kinds)
        self.code_type = torch.cat([self.ent_type + k * len(entities.types) for k in range(self.kinds)])

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
            Vocabulary(sorted(words) + types),
            entities,
            candidates,
            context,
            candidate_texts=candidate_texts,
            subwords=subwords,
        )

    def correct_slips(self) -> None:
        """From now on, a word the vocabulary lacks that is one slip from exactly one word it has
        (same first letter, 4 letters or more) is read as that word: "thnaks" is thanks."""
        self.spelling = slip_index(w for w in self.vocab.words if w.isalpha())
        self.entities.fuzzy(self.vocab.words)

    def _spell(self, token: str) -> str:
        if len(token) < 4 or token in self.vocab.ids or not token.isalpha() or token in self.entities.ids:
            return token
        near = near_words(token, self.spelling)
        return near.pop() if len(near) == 1 else token

    def bags(self, words: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows of word ids as sparse bags (N, size) and transpose, n-gram buckets weighted down."""
        return bag_of_words(words, self.size, len(self.vocab), SUBWORD_WEIGHT)

    def words(self, tokens: Sequence[str]) -> list[int]:
        """Word ids of ``tokens``, then the type word of each entity among them (if any), then the
        hashed character n-grams of the words (with ``subwords``): a word never seen, or typed
        with a slip, still shares most of its n-grams with the word it stands for."""
        if self.spelling is not None:
            tokens = [self._spell(t) for t in tokens]
        ids = self.vocab.encode(tokens)
        for e in self.entities.find(tokens):
            if w := self.entity_type_word[e]:
                ids.append(w)
        if self.subwords:
            base = len(self.vocab)
            for t in tokens:
                if t[0].isalnum() and t != "<silence>":
                    ids += [base + b for b in char_ngrams(t, self.subwords)]
        return ids

    def split_codes(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Match codes (``MatchContext.codes``) as (entity id, type + kind * types): the entity
        picks the candidates, the second the match word."""
        return self.code_entity[codes], self.code_type[codes]

    def encode_text(self, text: str) -> tuple[list[int], list[int], int]:
        """One utterance's word ids, entity ids and last named subject (-1 for none)."""
        tokens = tokenize(text)
        return self.words(tokens), self.entities.find(tokens), self.entities.find_subject(tokens)

    def encode(self, dialogs: Sequence[Dialog]) -> EncodedDialogs:
        slot_words: list[list[int]] = []
        slot_speaker: list[int] = []
        start = [0]
        ex_dialog, ex_qpos, ex_gold, ex_ent, ex_ent_start, ex_first = [], [], [], [], [0], [0]
        memo: dict[str, tuple[list[int], list[int], int]] = {}  # dialogues repeat most utterances
        for j, d in enumerate(dialogs):
            context = MatchContext(self.entities, self.context, self.kinds)
            for k, turn in enumerate(d.turns):
                ids = memo.get(turn.text)
                if ids is None:
                    ids = memo[turn.text] = self.encode_text(turn.text)
                if turn.speaker == BOT and k > 0:
                    ex_dialog.append(j)
                    ex_qpos.append(k - 1)
                    ex_gold.append(self.candidate_index.get(turn.text, -1))
                    ex_ent.extend(context.codes())
                    ex_ent_start.append(len(ex_ent))
                context.add(ids[1], ids[2], turn.speaker)
                slot_words.append(ids[0])
                slot_speaker.append(SPEAKER_INDEX[turn.speaker])
            start.append(len(slot_words))
            ex_first.append(len(ex_dialog))
        return EncodedDialogs(
            slot_words=_pad(slot_words + [[]]),
            slot_speaker=torch.tensor(slot_speaker + [0], dtype=torch.long),
            start=torch.tensor(start, dtype=torch.long),
            ex_dialog=torch.tensor(ex_dialog, dtype=torch.long),
            ex_qpos=torch.tensor(ex_qpos, dtype=torch.long),
            ex_gold=torch.tensor(ex_gold, dtype=torch.long),
            ex_ent_start=torch.tensor(ex_ent_start, dtype=torch.long),
            ex_ent=torch.tensor(ex_ent, dtype=torch.long),
            ex_first=torch.tensor(ex_first, dtype=torch.long),
        )

    def batch(self, enc: EncodedDialogs, dialog_ids: torch.Tensor, training: bool = False) -> Batch:
        """Gather dialogues ``dialog_ids`` of ``enc`` into padded batch tensors.

        ``training`` adds what makes a batch built once and trained on every epoch faster: the
        slots as sparse bag-of-words matrices and the batch's own match entities."""
        starts, ends = enc.start[dialog_ids], enc.start[dialog_ids + 1]
        lengths = ends - starts
        D, K = len(dialog_ids), int(lengths.max())
        offs = torch.arange(K)
        slot_mask = offs[None, :] < lengths[:, None]  # (D, K)
        pad_row = len(enc.slot_words) - 1
        rows = torch.where(slot_mask, starts[:, None] + offs[None, :], pad_row)

        ex_lo, ex_hi = enc.ex_first[dialog_ids], enc.ex_first[dialog_ids + 1]
        n_ex = ex_hi - ex_lo
        E = max(int(n_ex.max()), 1)
        eoffs = torch.arange(E)
        ex_mask = eoffs[None, :] < n_ex[:, None]  # (D, E)
        ex_ids = (ex_lo[:, None] + eoffs[None, :])[ex_mask]  # (n,)
        qpos = torch.zeros(D, E, dtype=torch.long)
        qpos[ex_mask] = enc.ex_qpos[ex_ids]

        # (example, match code) pairs; the code's entity names the candidates it matches
        row, at = expand_csr(enc.ex_ent_start, ex_ids)
        ent, code_type = self.split_codes(enc.ex_ent[at])
        types = max(len(self.entities.types), 1)
        example_index = ex_mask.reshape(-1).nonzero().squeeze(1)
        said_types = torch.zeros(D * E, types)
        said = code_type < len(self.entities.types)  # the paper's kind: said in the dialogue
        said_types[example_index[row[said]], code_type[said]] = 1.0
        slot_words = enc.slot_words[rows.reshape(-1)]
        return Batch(
            slot_words=slot_words,
            slot_bow=self.bags(slot_words) if training else None,
            slot_speaker=enc.slot_speaker[rows],
            slot_mask=slot_mask,
            qpos=qpos,
            example_index=example_index,
            gold=enc.ex_gold[ex_ids],
            match_codes=(row, ent, code_type),
            example_ids=ex_ids,
            said_types=said_types.view(D, E, types),
            local_match=self.local_entities(ent) if training else None,
        )

    def local_entities(self, ent: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``ent`` renumbered among the entities it holds, and the candidates naming each of those
        (sparse (C, U) and transpose): a batch's few hundred entities instead of thousands."""
        held, local = torch.unique(ent, return_inverse=True)
        crow, cand = self.cand_ent[1].crow_indices(), self.cand_ent[1].col_indices()  # entity -> candidates
        owner, at = expand_csr(crow, held)
        return local, sparse_counts(torch.stack([cand[at], owner]), (len(self.candidates), max(len(held), 1)))


def bag_of_words(
    words: torch.Tensor, vocab_size: int, split: int | None = None, weight: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Word counts of each row of ``words`` (0 = padding) as sparse CSR (N, V), and its transpose;
    ids from ``split`` on (subword buckets) count ``weight`` each."""
    n, L = words.shape
    rows = torch.arange(n).repeat_interleave(L)
    cols = words.reshape(-1)
    keep = cols != 0
    cols = cols[keep]
    values = None if split is None or weight == 1.0 else torch.where(cols >= split, weight, 1.0)
    return sparse_counts(torch.stack([rows[keep], cols]), (n, vocab_size), values)


def sparse_counts(
    index: torch.Tensor, shape: tuple[int, int], values: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """How often each (row, column) pair of ``index`` (2, P) occurs, as sparse CSR ``shape``,
    and its transpose: products need both, and CSR transposes are costly to make on the fly."""
    values = torch.ones(index.shape[1]) if values is None else values
    counts = torch.sparse_coo_tensor(index, values, shape, check_invariants=False).coalesce()
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the CSR matmul is what we use
        warnings.simplefilter("ignore", UserWarning)
        return counts.to_sparse_csr(), counts.t().coalesce().to_sparse_csr()


def expand_csr(start: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every item of the CSR rows ``ids``: (position in ``ids`` of its row, its index)."""
    lo, counts = start[ids], start[ids + 1] - start[ids]
    owner = torch.repeat_interleave(torch.arange(len(ids)), counts)
    shift = torch.repeat_interleave(lo - (torch.cumsum(counts, 0) - counts), counts)
    return owner, shift + torch.arange(len(shift))
