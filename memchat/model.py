"""The End-to-End Memory Network for goal-oriented dialogue (Bordes, Boureau & Weston, ICLR 2017, §4.1).

    memory   m_i = A Φ(c_i) + S[speaker_i] + T[time_i]     each earlier utterance, one slot
    query    q_1 = A Φ(c_t^u)                               the user's latest utterance
    hop h    p_i = softmax(q_h · m_i)
             o_h = R Σ_i p_i m_i                            R: one d×d matrix shared by all hops
             q_{h+1} = q_h + o_h
    answer   â = softmax_y(q_{H+1} · (W Φ(y) + Σ_t match_t(y) M_t))   over every candidate y

Hops use the paper's R matrix rather than adjacent weight tying. The speaker and time features of
Appendix A are words in the paper's bag; an embedding row per speaker and per "slots ago" is the
same thing. ``match_t(y)`` counts the candidate's entities of type t that were said in the dialogue
(§4.4's match-type features; the paper's flag becomes a count, identical when a candidate names one
entity per type, as every dialog bAbI candidate does).

Rather than copying every example's memory, a batch holds whole dialogues: each slot is embedded
once and every reply of the dialogue attends over the slots before its query, like causal
attention. The time feature ``q · T[k]`` is read from a (D, E, M) table with a gather.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from memchat.featurize import SPEAKERS, Batch


@dataclass
class MemN2NConfig:
    vocab_size: int  # words of the training dialogues, id 0 being padding/unknown
    num_entity_types: int  # knowledge-base relations whose values get match features
    dim: int = 64  # embedding size d
    hops: int = 3  # memory hops H
    memory: int = 100  # memory window: the most recent slots the query attends over
    match: bool = True  # add the match-type features of §4.4 to the candidates

    def to_dict(self) -> dict:
        return asdict(self)


class MemN2N(nn.Module):
    """Scores every candidate reply for every example of a :class:`Batch`.

    ``set_candidates`` must be called before scoring: the candidates are the model's output
    vocabulary, kept as buffers next to the weights rather than in the checkpoint.
    """

    def __init__(self, config: MemN2NConfig):
        super().__init__()
        self.config = config
        d = config.dim
        self.A = nn.Embedding(config.vocab_size, d, padding_idx=0)  # memory and query words
        self.speaker = nn.Embedding(len(SPEAKERS), d)  # speaker feature, in A's space
        self.time = nn.Embedding(config.memory, d)  # "k slots ago" feature, in A's space
        self.R = nn.Linear(d, d, bias=False)
        self.W = nn.Embedding(config.vocab_size, d, padding_idx=0)  # candidate words
        self.M = nn.Parameter(torch.empty(max(config.num_entity_types, 1), d))  # match words
        for p in (self.A.weight, self.speaker.weight, self.time.weight, self.R.weight, self.W.weight, self.M):
            nn.init.normal_(p, std=0.1)
        with torch.no_grad():
            self.A.weight[0].zero_()
            self.W.weight[0].zero_()
        self.register_buffer("cand_words", torch.zeros(1, 1, dtype=torch.long), persistent=False)
        self._cand_cache: torch.Tensor | None = None

    def set_candidates(self, cand_words: torch.Tensor) -> None:
        """The candidate replies as word ids, (C, Lc) 0-padded."""
        self.cand_words = cand_words
        self._cand_cache = None

    def train(self, mode: bool = True) -> MemN2N:
        self._cand_cache = None
        return super().train(mode)

    def candidate_embeddings(self) -> torch.Tensor:
        """W Φ(y) for every candidate: (C, d); cached while the model is in eval mode."""
        if self._cand_cache is not None:
            return self._cand_cache
        emb = F.embedding_bag(self.cand_words, self.W.weight, mode="sum", padding_idx=0)
        if not self.training and not torch.is_grad_enabled():
            self._cand_cache = emb
        return emb

    def forward(self, batch: Batch) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Scores (n, C) for the n real examples, and each hop's attention (D, E, K)."""
        D, K = batch.slot_mask.shape
        E = batch.qpos.shape[1]
        d, N = self.config.dim, self.config.memory

        bags = F.embedding_bag(batch.slot_words, self.A.weight, mode="sum", padding_idx=0)
        bags = bags.view(D, K, d)  # (D, K, d)
        mem = bags + self.speaker(batch.slot_speaker)  # (D, K, d)
        q = torch.gather(bags, 1, batch.qpos[:, :, None].expand(D, E, d))  # (D, E, d)

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
        scores = q @ self.candidate_embeddings().T  # (n, C)
        if self.config.match and len(batch.match_index):
            per_type = q @ self.M.T  # (n, types): score of each type's match word
            n, C = scores.shape
            rows = torch.div(batch.match_index, C, rounding_mode="floor")
            bonus = per_type.reshape(-1).index_select(0, rows * per_type.shape[1] + batch.match_type)
            scores = scores.reshape(-1).index_add(0, batch.match_index, bonus).reshape(n, C)
        return scores, attention
