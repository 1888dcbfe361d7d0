"""The tensors training and batch evaluation read: whole dialogues as flat tensors
(``EncodedDialogs``), batches of them padded (``Batch``), and the candidates as sparse bags.

The live path (``ranker.py``) reads none of this: it is the one module of the featurizer's side
that imports torch, and ``Featurizer`` reaches it only when asked for tensors.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch

from memchat.dialogs import BOT, Dialog
from memchat.nn.entities import MatchContext
from memchat.nn.featurize import SPEAKER_INDEX, SUBWORD_WEIGHT, Featurizer


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


def candidate_bags(feat: Featurizer) -> tuple[torch.Tensor, torch.Tensor]:
    """Every candidate's word counts, sparse (C, size), and transpose; made once per featurizer
    (kept on it: the live path never asks for it, so answering needs no torch)."""
    if (kept := feat.__dict__.get("_candidate_bags")) is None:
        kept = feat.__dict__["_candidate_bags"] = _bags(feat, _pad(feat.cand_words))
    return kept


def candidate_entities(feat: Featurizer) -> tuple[torch.Tensor, torch.Tensor]:
    """Which candidates name each entity, sparse (C, entities), and transpose: one product adds
    every match of many examples to the candidates. Made once per featurizer."""
    if (kept := feat.__dict__.get("_candidate_entities")) is None:
        pairs = [(c, e) for c, ents in enumerate(feat.cand_entities) for e in ents]
        index = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).T
        kept = sparse_counts(index, (len(feat.candidates), max(len(feat.entities), 1)))
        feat.__dict__["_candidate_entities"] = kept
    return kept


def _bags(feat: Featurizer, words: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of word ids as sparse bags (N, size) and transpose, n-gram buckets weighted down."""
    return bag_of_words(words, feat.size, len(feat.vocab), SUBWORD_WEIGHT)


@lru_cache(maxsize=8)
def _code_tables(feat: Featurizer) -> tuple[torch.Tensor, torch.Tensor]:
    """``feat.code_entity`` and ``feat.code_type`` as tensors, made once per featurizer (every
    batch reads them)."""
    return torch.tensor(feat.code_entity, dtype=torch.long), torch.tensor(feat.code_type, dtype=torch.long)


def _split_codes(feat: Featurizer, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Match codes (``MatchContext.codes``) as (entity id, type + kind * types): the entity
    picks the candidates, the second the match word."""
    entity, code_type = _code_tables(feat)
    return entity[codes], code_type[codes]


def encode_dialogs(feat: Featurizer, dialogs: Sequence[Dialog]) -> EncodedDialogs:
    """``dialogs`` as flat tensors: every slot's word ids, and every bot turn as an example."""
    slot_words: list[list[int]] = []
    slot_speaker: list[int] = []
    start = [0]
    ex_dialog, ex_qpos, ex_gold, ex_ent, ex_ent_start, ex_first = [], [], [], [], [0], [0]
    memo: dict[str, tuple[list[int], list[int], int]] = {}  # dialogues repeat most utterances
    for j, d in enumerate(dialogs):
        context = MatchContext(feat.entities, feat.context, feat.kinds)
        for k, turn in enumerate(d.turns):
            ids = memo.get(turn.text)
            if ids is None:
                ids = memo[turn.text] = feat.encode_text(turn.text)
            if turn.speaker == BOT and k > 0:
                ex_dialog.append(j)
                ex_qpos.append(k - 1)
                ex_gold.append(feat.candidate_index.get(turn.text, -1))
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


def make_batch(feat: Featurizer, enc: EncodedDialogs, dialog_ids: torch.Tensor, training: bool = False) -> Batch:
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
    ent, code_type = _split_codes(feat, enc.ex_ent[at])
    types = max(len(feat.entities.types), 1)
    example_index = ex_mask.reshape(-1).nonzero().squeeze(1)
    said_types = torch.zeros(D * E, types)
    said = code_type < len(feat.entities.types)  # the paper's kind: said in the dialogue
    said_types[example_index[row[said]], code_type[said]] = 1.0
    slot_words = enc.slot_words[rows.reshape(-1)]
    return Batch(
        slot_words=slot_words,
        slot_bow=_bags(feat, slot_words) if training else None,
        slot_speaker=enc.slot_speaker[rows],
        slot_mask=slot_mask,
        qpos=qpos,
        example_index=example_index,
        gold=enc.ex_gold[ex_ids],
        match_codes=(row, ent, code_type),
        example_ids=ex_ids,
        said_types=said_types.view(D, E, types),
        local_match=local_entities(feat, ent) if training else None,
    )


def local_entities(feat: Featurizer, ent: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """``ent`` renumbered among the entities it holds, and the candidates naming each of those
    (sparse (C, U) and transpose): a batch's few hundred entities instead of thousands."""
    held, local = torch.unique(ent, return_inverse=True)
    crow, cand = (
        candidate_entities(feat)[1].crow_indices(),
        candidate_entities(feat)[1].col_indices(),
    )  # entity -> candidates
    owner, at = expand_csr(crow, held)
    return local, sparse_counts(torch.stack([cand[at], owner]), (len(feat.candidates), max(len(held), 1)))


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
