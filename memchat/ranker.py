"""Ranking the candidate replies for one conversation, live: the dialogue manager's hot path.

Training and evaluation score whole dialogues in batches (``MemN2N.forward``); a live turn needs
one query against one memory window, and building batch tensors for it costs more than the
network itself. This module computes the same function as ``MemN2N.forward`` for a single
example with plain dense ops, and a test checks that both agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch

from memchat.babi import USER, Turn
from memchat.entities import MatchContext
from memchat.featurize import SPEAKER_INDEX, Featurizer
from memchat.model import MemN2N


@dataclass
class Ranking:
    """The scores of every candidate for one query, and what the model looked at."""

    scores: torch.Tensor  # (C,) score of every candidate
    attention: list[torch.Tensor]  # one (M,) tensor per hop: weight of each memory slot
    memory: list[Turn]  # the M memory slots, oldest first
    query: Turn  # the user turn the reply answers
    candidates: Sequence[str]

    @property
    def best(self) -> str:
        return self.candidates[int(self.scores.argmax())]

    def top(self, k: int) -> list[tuple[str, float]]:
        """The k best candidates with their softmax probability."""
        probs = torch.softmax(self.scores, 0)
        values, index = probs.topk(min(k, len(probs)))
        return [(self.candidates[i], float(v)) for v, i in zip(values.tolist(), index.tolist())]


class Ranker:
    """A trained model and its featurizer, ready to answer one query at a time."""

    def __init__(self, model: MemN2N, featurizer: Featurizer):
        self.model = model.eval()
        self.featurizer = featurizer
        self._encode = lru_cache(maxsize=65536)(self._encode_text)  # live turns repeat a lot
        self._slot = lru_cache(maxsize=65536)(self._slot_vector)
        self._said = lru_cache(maxsize=4096)(self._said_vector)
        # match code -> its entity and its match word, as lists: a few codes index faster in Python
        self._code_entity = featurizer.code_entity.tolist()
        self._code_type = featurizer.code_type.tolist()
        with torch.inference_mode():  # row i: the time feature of the slot said i + 1 slots before the last
            self._time_back = model.time.weight.flip(0)

    @property
    def memory_size(self) -> int:
        return self.model.config.memory

    def _encode_text(self, text: str) -> tuple[torch.Tensor, list[int], int]:
        """An utterance's bag embedding A Φ(text) (d,), its entity ids and last named subject.

        Cached per text: the model's weights must not change while this ranker is in use."""
        ids, entities, subject = self.featurizer.encode_text(text)
        with torch.inference_mode():
            index = torch.tensor(ids, dtype=torch.long)
            weights = self.model.word_weights(index)
            rows = self.model.A.weight[index]
            bag = (rows if weights is None else rows * weights[:, None]).sum(0)
        return bag, entities, subject

    def _slot_vector(self, text: str, speaker: str) -> torch.Tensor:
        """A memory slot without its time feature: A Φ(text) + S[speaker] (d,), cached likewise."""
        with torch.inference_mode():
            return self._encode(text)[0] + self.model.speaker.weight[SPEAKER_INDEX[speaker]]

    def _said_vector(self, types: frozenset[int]) -> torch.Tensor:
        """Σ_t S_t over the entity types said so far (d,), cached per set of types."""
        with torch.inference_mode():
            return self.model.said[sorted(types)].sum(0)

    @torch.inference_mode()
    def rank(self, turns: Sequence[Turn]) -> Ranking:
        """Rank the candidates as the reply to the last user turn of ``turns`` (oldest first).

        The memory is the ``memory`` most recent turns before that user turn; the match features
        look at the entities said in those turns and the query (the window the caller read).
        """
        q_at = max((i for i, t in enumerate(turns) if t.speaker == USER), default=None)
        if q_at is None:
            raise ValueError("no user turn to answer")
        N = self.model.config.memory
        memory = list(turns[max(0, q_at - N) : q_at])
        query = turns[q_at]
        m = self.model
        f = self.featurizer
        context = MatchContext(f.entities, f.context, f.kinds)
        for t in (*memory, query):
            _, ents, subject = self._encode(t.text)
            context.add(ents, subject, t.speaker)
        M = len(memory)
        q = self._encode(query.text)[0]  # (d,)
        if m.config.context and context.seen:
            q = q + self._said(frozenset(f.entities.type_of[e] for e in context.seen))
        # slot i of M was said M - 1 - i slots before the query: the time feature's row
        if M:
            mem = torch.stack([self._slot(t.text, t.speaker) for t in memory]) + self._time_back[-M:]  # (M, d)
        else:
            mem = q.new_zeros(0, len(q))
        attention = []
        mem_out = mem @ m.R.weight.T  # (M, d): R (p @ mem) = p @ (mem R^T), one product for all hops
        for _ in range(m.config.hops):
            p = torch.softmax(mem @ q, 0) if M else mem.new_zeros(0)  # (M,)
            q = torch.addmv(q, mem_out.T, p)
            attention.append(p)
        # MemN2N.score for one example, with matrix-vector products: faster than its (n, d) ones here
        scores = m.candidate_embeddings() @ q  # (C,)
        codes = context.codes() if m.config.match else []
        if codes:
            ent = torch.tensor([self._code_entity[c] for c in codes], dtype=torch.long)
            code_type = torch.tensor([self._code_type[c] for c in codes], dtype=torch.long)
            per_entity = scores.new_zeros(f.cand_ent[0].shape[1])  # each matched entity's match score
            per_entity.index_add_(0, ent, (m.M @ q)[code_type])
            scores = torch.addmv(scores, f.cand_ent[0], per_entity)
        return Ranking(scores, attention, memory, query, self.featurizer.candidates)
