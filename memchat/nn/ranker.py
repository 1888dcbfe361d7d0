"""Ranking the candidate replies for one conversation, live: the dialogue manager's hot path.

This is the memory network's forward pass (Bordes et al. 2017, §4.1; ``model.py`` gives the
equations) for one query against one memory window, in numpy, on weights read from a bundle with
``safetensors.numpy``: answering needs no torch. Training and batch evaluation score whole
dialogues in batches (``MemN2N.forward``, torch); a test checks that both give the same scores
and attention on real bundles.

A live turn needs matrix-vector products, not batches: each utterance's bag embedding is cached
per text (a conversation repeats most of them), the hops' output projection is applied to the
memory once for all hops, and the match features touch only the candidates naming an entity said.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from memchat import sparse
from memchat.dialogs import USER, Turn
from memchat.nn.config import MemN2NConfig
from memchat.nn.entities import MatchContext
from memchat.nn.featurize import SPEAKER_INDEX, Featurizer


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


@dataclass
class Ranking:
    """The scores of every candidate for one query, and what the model looked at."""

    scores: np.ndarray  # (C,) score of every candidate
    attention: list[np.ndarray]  # one (M,) array per hop: weight of each memory slot
    memory: list[Turn]  # the M memory slots, oldest first
    query: Turn  # the user turn the reply answers
    candidates: Sequence[str]

    @property
    def best(self) -> str:
        return self.candidates[int(self.scores.argmax())]

    def order(self) -> list[int]:
        """Every candidate's index, best first (the first of equals first)."""
        return np.argsort(-self.scores, kind="stable").tolist()

    def top(self, k: int) -> list[tuple[str, float]]:
        """The k best candidates with their softmax probability."""
        probs = softmax(self.scores.astype(np.float64))
        return [(self.candidates[i], float(probs[i])) for i in self.order()[:k]]


class Ranker:
    """A trained model's weights and its featurizer, ready to answer one query at a time.

    ``weights``: the bundle's arrays by their ``MemN2N.state_dict()`` names (``config.weight_shapes``).
    """

    def __init__(self, config: MemN2NConfig, weights: dict[str, np.ndarray], featurizer: Featurizer):
        self.config = config
        self.weights = weights
        self.featurizer = featurizer
        self.A = weights["A.weight"]  # (V, d) memory and query words
        self.speaker = weights["speaker.weight"]  # (3, d)
        self.time_back = np.ascontiguousarray(weights["time.weight"][::-1])  # (N, d) row N-1-k: k slots ago
        self.R_T = np.ascontiguousarray(weights["R.weight"].T)  # (d, d): R (p @ mem) = p @ (mem R^T)
        self.M = weights["M"]  # (types * kinds, d) match words
        self.said = weights.get("said")  # (types, d) or None
        # what each id counts in a bag: 1 for a word, subword_weight for an n-gram bucket
        self.id_weight = np.ones(config.vocab_size, dtype=np.float32)
        self.id_weight[config.vocab_size - config.subwords :] = config.subword_weight  # empty without subwords
        ids = featurizer.candidate_ids
        self.candidates = candidate_embeddings(weights["W.weight"], ids["words"], ids["words_at"], self.id_weight)
        # the candidates naming each entity, as rows of a sparse table: entity e's are
        # named_cands[named_at[e] : named_at[e + 1]] (a candidate names an entity once: find())
        named = ids["entities"], ids["entities_at"]
        self.named_at, self.named_cands = candidates_naming(*named, len(featurizer.entities))
        self.code_entity = np.asarray(featurizer.code_entity, dtype=np.intp)  # match code -> its entity
        self.code_type = np.asarray(featurizer.code_type, dtype=np.intp)  # and -> its match word
        self._encode = lru_cache(maxsize=65536)(self._encode_text)  # live turns repeat a lot
        self._slot = lru_cache(maxsize=65536)(self._slot_vector)
        self._said = lru_cache(maxsize=4096)(self._said_vector)

    @classmethod
    def from_bundle(cls, bundle) -> Ranker:
        return cls(bundle.config, bundle.weights, bundle.featurizer)

    @classmethod
    def from_model(cls, model, featurizer: Featurizer) -> Ranker:
        """From a torch ``MemN2N`` (a model being trained or tested): its weights, copied."""
        return cls(model.config, model.numpy_weights(), featurizer)

    @property
    def memory_size(self) -> int:
        return self.config.memory

    def _encode_text(self, text: str) -> tuple[np.ndarray, list[int], int]:
        """An utterance's bag embedding A Φ(text) (d,), its entity ids and last named subject."""
        ids, entities, subject = self.featurizer.encode_text(text)
        index = np.array(ids, dtype=np.intp)
        return self.id_weight[index] @ self.A[index], entities, subject

    def _slot_vector(self, text: str, speaker: str) -> np.ndarray:
        """A memory slot without its time feature: A Φ(text) + S[speaker] (d,)."""
        return self._encode(text)[0] + self.speaker[SPEAKER_INDEX[speaker]]

    def _said_vector(self, types: frozenset[int]) -> np.ndarray:
        """Σ_t S_t over the entity types said so far (d,)."""
        return self.said[sorted(types)].sum(0)

    def rank(self, turns: Sequence[Turn]) -> Ranking:
        """Rank the candidates as the reply to the last user turn of ``turns`` (oldest first).

        The memory is the ``memory`` most recent turns before that user turn; the match features
        look at the entities said in those turns and the query (the window the caller read).
        """
        q_at = max((i for i, t in enumerate(turns) if t.speaker == USER), default=None)
        if q_at is None:
            raise ValueError("no user turn to answer")
        memory = list(turns[max(0, q_at - self.config.memory) : q_at])
        query = turns[q_at]
        f = self.featurizer
        context = MatchContext(f.entities, f.context, f.kinds)
        for t in (*memory, query):
            _, ents, subject = self._encode(t.text)
            context.add(ents, subject, t.speaker)
        q = self._encode(query.text)[0]  # (d,)
        if self.config.context and context.seen:
            q = q + self._said(frozenset(f.entities.type_of[e] for e in context.seen))
        attention = []
        if memory:
            # slot i of M was said M - 1 - i slots before the query: the time feature's row
            mem = np.stack([self._slot(t.text, t.speaker) for t in memory]) + self.time_back[-len(memory) :]  # (M, d)
            mem_out = mem @ self.R_T  # (M, d)
            for _ in range(self.config.hops):
                p = softmax(mem @ q)  # (M,)
                q = q + p @ mem_out
                attention.append(p)
        else:
            attention = [np.zeros(0, dtype=np.float32)] * self.config.hops
        scores = self.candidates @ q  # (C,)
        codes = context.codes() if self.config.match else []
        if codes:
            codes = np.asarray(codes, dtype=np.intp)  # (K,)
            value = (self.M @ q)[self.code_type[codes]]  # (K,) the score of each code's match word
            # every candidate naming each code's entity gets the code's value: the rows of the
            # sparse table named_at/named_cands, gathered for all codes at once
            rows, lengths = sparse.gather(self.named_at, self.code_entity[codes])  # (R,), (K,) candidates naming it
            scores += np.bincount(self.named_cands[rows], np.repeat(value, lengths), len(scores)).astype(np.float32)
        return Ranking(scores, attention, memory, query, f.candidates)


def candidate_embeddings(W: np.ndarray, words: np.ndarray, at: np.ndarray, id_weight: np.ndarray) -> np.ndarray:
    """W Φ(y) for every candidate y, from the candidates' word ids (``Featurizer.candidate_ids``): (C, d)."""
    out = np.zeros((len(at) - 1, W.shape[1]), dtype=np.float32)
    rows = np.flatnonzero(np.diff(at))  # reduceat needs non-empty segments
    if len(rows):
        weighted = np.take(W * id_weight[:, None], words, axis=0)  # (words, d): a row per word said
        out[rows] = np.add.reduceat(weighted, at[rows], axis=0)
    return out


def candidates_naming(named: np.ndarray, at: np.ndarray, entities: int) -> tuple[np.ndarray, np.ndarray]:
    """(at, cands): the candidates naming entity e are ``cands[at[e] : at[e + 1]]``, in order; from
    the candidates' entity ids (``Featurizer.candidate_ids``)."""
    return sparse.by_row(named, entities, np.repeat(np.arange(len(at) - 1), np.diff(at)))
