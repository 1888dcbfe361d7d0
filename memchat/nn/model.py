"""The End-to-End Memory Network for goal-oriented dialogue (Bordes, Boureau & Weston, ICLR 2017, §4.1).

    memory   m_i = A Φ(c_i) + S[speaker_i] + T[time_i]     each earlier utterance, one slot
    query    q_1 = A Φ(c_t^u)  [+ Σ_{t said} S_t]            the user's latest utterance [context: types said so far]
    hop h    p_i = softmax(q_h · m_i)
             o_h = R Σ_i p_i m_i                            R: one d×d matrix shared by all hops
             q_{h+1} = q_h + o_h
    answer   â = softmax_y(q_{H+1} · (W Φ(y) + Σ_t match_t(y) M_t))   over every candidate y

Hops use the paper's R matrix rather than adjacent weight tying. The speaker and time features of
Appendix A are words in the paper's bag; an embedding row per speaker and per "slots ago" is the
same thing. ``match_t(y)`` counts the candidate's entities of type t that were said in the dialogue
(§4.4's match-type features; the paper's flag becomes a count, identical when a candidate names one
entity per type, as every dialog bAbI candidate does). With ``context`` three more kinds of
match word per type go beyond the paper: the entity is the latest of its type said, an
identifying attribute of the knowledge-base subject named last, or the best-rated subject of the
results the bot has not proposed yet (see ``entities.MatchContext``); the query gets a learned
vector S_t per entity type said so far, a slot-filling state.

Rather than copying every example's memory, a batch holds whole dialogues: each slot is embedded
once and every reply of the dialogue attends over the slots before its query, like causal
attention. The time feature ``q · T[k]`` is read from a (D, E, M) table with a gather.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from memchat.nn.config import MemN2NConfig  # torch-free: the live path (ranker.py) reads it too

Sparse = tuple[torch.Tensor, torch.Tensor]  # a sparse CSR matrix and its transpose


class MemN2N(nn.Module):
    """Scores every candidate reply for every example of a batch (``featurize.Batch``).

    The candidates are the model's output vocabulary, given when it is built and kept beside the
    weights rather than in the checkpoint: ``cand_bow``, their word counts, sparse (C, V), and
    ``cand_ent``, which candidates name each entity, sparse (C, entities), each with its
    transpose (``Featurizer.cand_bow`` and ``Featurizer.cand_ent``).
    """

    def __init__(self, config: MemN2NConfig, cand_bow: Sparse, cand_ent: Sparse):
        super().__init__()
        self.config = config
        d = config.dim
        self.A = nn.Embedding(config.vocab_size, d, padding_idx=0)  # memory and query words
        self.speaker = nn.Embedding(config.speakers, d)  # speaker feature, in A's space
        self.time = nn.Embedding(config.memory, d)  # "k slots ago" feature, in A's space
        self.R = nn.Linear(d, d, bias=False)
        self.W = nn.Embedding(config.vocab_size, d, padding_idx=0)  # candidate words
        kinds = config.match_kinds if config.context else 1
        self.M = nn.Parameter(torch.empty(max(config.num_entity_types, 1) * kinds, d))  # a match word per kind and type
        # "an entity of type t was said": added to the query, a slot-filling state (context only)
        self.said = nn.Parameter(torch.empty(max(config.num_entity_types, 1), d)) if config.context else None
        for p in (
            self.A.weight,
            self.speaker.weight,
            self.time.weight,
            self.R.weight,
            self.W.weight,
            self.M,
            self.said,
        ):
            if p is not None:
                nn.init.normal_(p, std=0.1)
        with torch.no_grad():
            self.A.weight[0].zero_()
            self.W.weight[0].zero_()
        self.cand_bow = cand_bow  # sparse (C, V) and transpose
        self.cand_ent = cand_ent  # sparse (C, entities) and transpose
        self._cand_cache: torch.Tensor | None = None

    def train(self, mode: bool = True) -> MemN2N:
        self._cand_cache = None
        return super().train(mode)

    def numpy_weights(self) -> dict:
        """The weights as the live path reads them (``ranker.Ranker``): name -> a float32 numpy
        array, copied."""
        return {k: v.detach().numpy().copy() for k, v in self.state_dict().items()}

    def word_weights(self, ids: torch.Tensor) -> torch.Tensor | None:
        """What each id counts in a bag: 1 for a word, ``subword_weight`` for an n-gram bucket."""
        if not self.config.subwords:
            return None
        split = self.config.vocab_size - self.config.subwords
        return torch.where(ids >= split, self.config.subword_weight, 1.0)

    def candidate_embeddings(self) -> torch.Tensor:
        """W Φ(y) for every candidate: (C, d); cached while the model is in eval mode."""
        if self._cand_cache is not None:
            return self._cand_cache
        emb = _Bags.apply(self.W.weight, *self.cand_bow)
        if not self.training and not torch.is_grad_enabled():
            self._cand_cache = emb
        return emb

    def encode(self, batch) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The final state q_{H+1} of the n real examples (n, d), and each hop's attention (D, E, K)."""
        D, K = batch.slot_mask.shape
        E = batch.qpos.shape[1]
        d, N = self.config.dim, self.config.memory

        if batch.slot_bow is not None:
            bags = _Bags.apply(self.A.weight, *batch.slot_bow)
        else:
            weights = self.word_weights(batch.slot_words)
            bags = F.embedding_bag(
                batch.slot_words, self.A.weight, mode="sum", padding_idx=0, per_sample_weights=weights
            )
        bags = bags.view(D, K, d)  # (D, K, d)
        if self.training and self.config.dropout:  # regularizes: no single word decides
            bags = F.dropout(bags, self.config.dropout)
        mem = bags + self.speaker(batch.slot_speaker)  # (D, K, d)
        q = torch.gather(bags, 1, batch.qpos[:, :, None].expand(D, E, d))  # (D, E, d)
        if self.config.context:
            q = q + batch.said_types @ self.said  # (D, E, T) @ (T, d)

        # slot k is (qpos - 1 - k) slots before the query; attend over the N most recent
        ago = batch.qpos[:, :, None] - 1 - torch.arange(K)[None, None, :]  # (D, E, K)
        visible = (ago >= 0) & (ago < N) & batch.slot_mask[:, None, :]  # (D, E, K)
        ago = ago.clamp(0, N - 1)
        T = self.time.weight  # (N, d)

        attention = []
        for _ in range(self.config.hops):
            scores = q @ mem.transpose(1, 2)  # (D, E, K)
            scores = scores + torch.gather(q @ T.T, 2, ago)  # time feature of each slot
            p = torch.softmax(scores.masked_fill(~visible, -1e9), dim=2) * visible  # (D, E, K)
            p_ago = torch.zeros(D, E, N).scatter_add_(2, ago, p)  # (D, E, N) weight per "ago"
            o = p @ mem + p_ago @ T  # (D, E, d)
            q = q + self.R(o)
            attention.append(p)

        q = q.reshape(D * E, d).index_select(0, batch.example_index)  # (n, d)
        return q, attention

    def forward(self, batch) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Scores (n, C) of every candidate for the n real examples, and each hop's attention.

        The scores are a view of a candidates-major (C, n) tensor: reduce them as ``scores.T ... (0)``."""
        q, attention = self.encode(batch)
        return self.score(q, batch.match_codes).T, attention

    def score(self, q: torch.Tensor, match_codes: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Candidates-major scores (C, n) of every candidate for final states ``q`` (n, d).

        ``match_codes`` are (example row, entity, type + kind * types) triples, as in
        ``Batch.match_codes``: each example's matches become scores per entity, and one sparse
        (C, entities) product adds them to every candidate naming the entity.
        """
        scores = self.candidate_embeddings() @ q.T  # (C, n)
        if self.config.match and len(match_codes[0]):
            scores.addmm_(self.cand_ent[0], _per_entity(q @ self.M.T, match_codes, self.cand_ent[0].shape[1]))
        return scores

    def best(
        self, q: torch.Tensor, match_codes: tuple[torch.Tensor, torch.Tensor, torch.Tensor], block: int = 256
    ) -> torch.Tensor:
        """The top-ranked candidate (n,) for final states ``q`` (n, d), ``block`` examples at a
        time: each (C, block) block of scores is reduced while it is still in cache."""
        out = torch.empty(len(q), dtype=torch.long)
        for s, e, codes in _row_blocks(len(q), block, match_codes):
            out[s:e] = argmax_rows(self.score(q[s:e], codes))
        return out

    def loss(self, batch) -> torch.Tensor:
        """Mean cross-entropy of the gold replies (examples whose gold is -1 are left out).

        Same value as ``cross_entropy(self(batch)[0], gold)``, computed a few examples at a time
        so that the (C, n) score matrix never exists whole: training's hottest path.
        """
        q, _ = self.encode(batch)
        row, ent, code_type = batch.match_codes
        cand_ent = self.cand_ent
        if batch.local_match is not None:  # the same matches among the batch's entities alone
            ent, cand_ent = batch.local_match
        if self.config.match:
            per_type, codes = q @ self.M.T, (row, ent, code_type)
        else:
            per_type, codes = q.new_zeros(len(q), 1), (row[:0], ent[:0], code_type[:0])
        return _ChunkedCandidateLoss.apply(q, self.candidate_embeddings(), per_type, batch.gold, codes, cand_ent)


def _row_blocks(n: int, size: int, match_codes):
    """Blocks of ``size`` example rows: (first row, end row, the block's match codes with rows
    counted from its first). The codes' rows must be sorted, as ``Batch.match_codes`` are."""
    row, ent, code_type = match_codes
    starts = list(range(0, n, size))
    bounds = torch.searchsorted(row, torch.tensor([*starts, n])).tolist()
    for k, s in enumerate(starts):
        lo, hi = bounds[k], bounds[k + 1]
        yield s, min(s + size, n), (row[lo:hi] - s, ent[lo:hi], code_type[lo:hi])


def _per_entity(per_type: torch.Tensor, match_codes, entities: int) -> torch.Tensor:
    """Each example's match score per entity (entities, n) from its match words' scores
    ``per_type`` (n, types * kinds): the entity gets the score of every code naming it."""
    row, ent, code_type = match_codes
    out = per_type.new_zeros(entities, len(per_type))
    return out.index_put_((ent, row), per_type[row, code_type], accumulate=True)


def argmax_rows(scores: torch.Tensor, group: int = 32) -> torch.Tensor:
    """``scores.argmax(0)`` of a (C, n) tensor, first index on ties, several times faster.

    torch's argmax over dim 0 is not vectorized, its max is: take each group of ``group`` rows'
    max, the first group holding the column's max, then the argmax within that group alone.
    """
    C, n = scores.shape
    full = C - C % group
    tops = scores[:full].view(-1, group, n).amax(1)  # (C // group, n)
    if full < C:
        tops = torch.cat([tops, scores[full:].amax(0, keepdim=True)])
    first = tops.argmax(0)  # (n,) group of each column's max
    rows = (first[None, :] * group + torch.arange(group)[:, None]).clamp_(max=C - 1)  # (group, n)
    within = torch.gather(scores, 0, rows).argmax(0)  # (n,)
    return rows.gather(0, within[None, :])[0]


class _Bags(torch.autograd.Function):
    """Bag-of-words embeddings as sparse counts (N, V) @ weight (V, d); the transpose is given
    because the backward pass needs it and CSR transposes are costly to make."""

    @staticmethod
    def forward(ctx, weight, counts, counts_t):
        ctx.counts_t = counts_t
        return counts @ weight

    @staticmethod
    def backward(ctx, grad):
        return ctx.counts_t @ grad, None, None


class _ChunkedCandidateLoss(torch.autograd.Function):
    """Scores, match bonus, softmax cross-entropy and their gradients, chunk by chunk.

    The gradients are computed in the forward pass (the loss is always a leaf of the graph)
    so that each chunk's scores are touched while still in cache. Scores are candidates-major
    (C, chunk): torch reduces over the leading dim vectorized, and the match product writes rows.
    """

    CHUNK = 1024  # examples per chunk; smaller chunks measured slower here (more small ops)

    @staticmethod
    def forward(ctx, q, cands, per_type, gold, match_codes, cand_ent):
        n = len(q)
        ce, ce_t = cand_ent  # (C, entities) and (entities, C), sparse
        count = max(int((gold >= 0).sum()), 1)
        grad_q, grad_cands, grad_pt = torch.empty_like(q), torch.zeros_like(cands), torch.zeros_like(per_type)
        total = q.new_zeros(())
        for s, e, codes in _row_blocks(n, _ChunkedCandidateLoss.CHUNK, match_codes):
            scores = cands @ q[s:e].T  # (C, c)
            matched = len(codes[0]) > 0
            if matched:
                scores.addmm_(ce, _per_entity(per_type[s:e], codes, ce.shape[1]))
            g = gold[s:e]
            known = g >= 0
            cols = torch.arange(e - s)[known]
            top = scores.amax(0)  # (c,)
            gold_scores = scores[g[known], cols] - top[known]
            scores.sub_(top).exp_()
            sums = scores.sum(0)  # (c,)
            total += (sums[known].log() - gold_scores).sum()
            scores.mul_((1.0 / (sums * count)) * known)  # softmax / count; unknown gold: no gradient
            scores[g[known], cols] -= 1.0 / count  # now d loss / d scores
            grad_q[s:e] = scores.T @ cands
            grad_cands.addmm_(scores, q[s:e])
            if matched:
                r, en, ct = codes
                # (entities, c); into zeros in place: CSR @ dense measured 10x slower here
                grad_entity = scores.new_zeros(ce_t.shape[0], e - s).addmm_(ce_t, scores)
                grad_pt[s:e].index_put_((r, ct), grad_entity[en, r], accumulate=True)
        ctx.save_for_backward(grad_q, grad_cands, grad_pt)
        return total / count

    @staticmethod
    def backward(ctx, grad_out):
        grad_q, grad_cands, grad_pt = ctx.saved_tensors
        return grad_q * grad_out, grad_cands * grad_out, grad_pt * grad_out, None, None, None
