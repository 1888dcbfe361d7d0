"""The intent of a message: the nearest NLU example by character 3-grams (``IntentMatcher``)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from memchat import sparse
from memchat.nn.entities import EntityTable, tokenize
from memchat.project.numbers import spell_digits


class IntentMatcher:
    """The intent of a message, for the slot mappings that depend on one (``from_intent``, a
    mapping's ``intent``): the intent of the NLU example nearest by character 3-grams (cosine),
    entities counted as their type ("we are 5" is "we are <number>"). memchat's model itself
    needs no intents.

    The examples' 3-gram counts are a sparse table by 3-gram, as the ranker's candidates by
    entity: a message's cosines with every example are one gather and one ``bincount`` over the
    rows of its 3-grams. A loop over them in Python took 0.13 ms a message for the default bot's
    518 examples (now 0.07), and 4.1 ms for 5,180 (now 0.2)."""

    SURE = 0.5  # the least cosine of a certain intent's nearest example ([rules] sure)
    MARGIN = 0.15  # how much nearer than any other intent's it must be ([rules] margin)

    def __init__(
        self,
        examples: dict[str, list[str]],
        table: EntityTable | None = None,
        sure: float = SURE,
        margin: float = MARGIN,
    ):
        self.table = table
        self.sure, self.margin = sure, margin
        self.names: list[str] = []  # the intents with an example (faq/hours for a retrieval intent)
        self.starts: list[int] = []  # where each one's examples start: an intent's are together
        self.gram_ids: dict[str, int] = {}  # 3-gram -> its row
        grams, examples_of, counts, norms = [], [], [], []  # one entry per (example, 3-gram)
        for intent, texts in examples.items():
            for text in texts:
                if not (counted := self._grams(text)):
                    continue
                if not self.names or self.names[-1] != intent:
                    self.names.append(intent)
                    self.starts.append(len(norms))
                ids = self.gram_ids
                grams += [ids.setdefault(g, len(ids)) for g in counted]
                examples_of += [len(norms)] * len(counted)
                counts += counted.values()
                norms.append(sum(v * v for v in counted.values()) ** 0.5)
        # the examples having 3-gram g, and how often: example[at[g] : at[g + 1]], count[...]
        examples_of, counts = np.asarray(examples_of, dtype=np.intp), np.asarray(counts, dtype=np.float64)
        self.at, self.example, self.count = sparse.by_row(grams, len(self.gram_ids), examples_of, counts)  # (P,)
        self.norms = np.asarray(norms, dtype=np.float64)  # (E,) of each example's 3-gram counts

    @classmethod
    def from_index(cls, index: dict, table: EntityTable | None = None, sure: float = SURE, margin: float = MARGIN):
        """The matcher of a table a bundle keeps, as ``read_index`` reads it: no examples to count."""
        matcher = cls({}, table, sure, margin)
        matcher.gram_ids = {g: i for i, g in enumerate(index["grams"])}
        matcher.names, matcher.starts = list(index["names"]), list(index["starts"])
        matcher.example, matcher.count, matcher.at, matcher.norms = (
            index[k] for k in ("example", "count", "at", "norms")
        )
        return matcher

    def index(self) -> dict:
        """The sparse table as a bundle keeps it (``BotSpec.intent_index``), in JSON's lists."""
        return {
            "grams": list(self.gram_ids),
            "names": self.names,
            "starts": self.starts,
            "example": self.example.tolist(),
            "count": self.count.astype(int).tolist(),
            "at": self.at.tolist(),
            "norms": self.norms.tolist(),
        }

    @staticmethod
    def read_index(index: object, examples: dict[str, list[str]]) -> dict:
        """A kept ``index`` of ``examples``, its lists as arrays, checked; ValueError says, in a few
        words, what does not fit."""
        keys = ("grams", "names", "starts", "example", "count", "at", "norms")
        if not isinstance(index, dict) or set(index) != set(keys) or not all(isinstance(index[k], list) for k in keys):
            raise ValueError(f"expected a table of lists: {', '.join(keys)}")
        grams, names, starts = index["grams"], index["names"], index["starts"]
        if not all(isinstance(g, str) for g in grams) or len(set(grams)) != len(grams):
            raise ValueError("'grams' must be distinct strings")
        if not all(isinstance(n, str) and n in examples for n in names) or len(set(names)) != len(names):
            raise ValueError("'names' must be distinct intents of its examples")
        try:
            arrays = {k: np.asarray(index[k]) for k in ("starts", "example", "count", "at")}
            norms = np.asarray(index["norms"], dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError("'starts', 'example', 'count', 'at' and 'norms' must be numbers") from None
        if any(a.ndim != 1 or (len(a) and a.dtype.kind not in "iu") for a in arrays.values()) or norms.ndim != 1:
            raise ValueError("'starts', 'example', 'count' and 'at' must be whole numbers")
        starts, example, count, at = (arrays[k].astype(np.intp) for k in ("starts", "example", "count", "at"))
        n = len(norms)
        if len(starts) != len(names) or (len(starts) and (starts[0] != 0 or starts[-1] >= n)):
            raise ValueError("'starts' must be where each intent's examples begin")
        if (np.diff(starts) <= 0).any():
            raise ValueError("'starts' must rise")
        if not (np.isfinite(norms).all() and (norms > 0).all()):
            raise ValueError("'norms' must be positive numbers")
        if not sparse.offsets_fit(at, len(grams), len(example)):
            raise ValueError(f"'at' must rise from 0 to {len(example)} in {len(grams) + 1} steps")
        if len(example) and not 0 <= example.min() <= example.max() < n:
            raise ValueError(f"'example' must hold examples 0 to {n - 1}")
        if len(count) != len(example) or (count < 1).any():
            raise ValueError("'count' must hold a count of at least 1 for each of 'example'")
        return {
            "grams": grams,
            "names": names,
            "starts": starts.tolist(),
            "example": example,
            "count": count.astype(np.float64),  # as the matcher multiplies it
            "at": at,
            "norms": norms,
        }

    def _grams(self, text: str) -> Counter:
        tokens = tokenize(spell_digits(text))  # "we are six" is "we are 6"
        if self.table is not None:
            for i, start, end in reversed(self.table.spans(tokens)):
                tokens[start:end] = [f"<{self.table.types[self.table.type_of[i]]}>"]
        tokens = ["<#>" if t.isdigit() else t for t in tokens]  # any other number: "we are <#>"
        marked = f" {' '.join(tokens)} "
        return Counter([marked[i : i + 3] for i in range(len(marked) - 2)])

    def nearest(self, text: str) -> list[tuple[float, str]]:
        """(cosine, intent) of the nearest example of each intent sharing a 3-gram with ``text``,
        nearest first."""
        counted, rows, ns = self._grams(text), [], []
        for g, n in counted.items():
            if (row := self.gram_ids.get(g)) is not None:
                rows.append(row)
                ns.append(n)
        if not rows:
            return []
        pairs, lengths = sparse.gather(self.at, np.asarray(rows, dtype=np.intp))  # (P,), (K,) examples of each
        dots = np.bincount(self.example[pairs], self.count[pairs] * np.repeat(ns, lengths), len(self.norms))  # (E,)
        norm = sum(v * v for v in counted.values()) ** 0.5
        cosines = np.where(dots > 0, dots / (norm * self.norms), -1.0)  # -1: shares no 3-gram
        best = np.maximum.reduceat(cosines, self.starts).tolist()  # (intents,)
        return sorted(((c, name) for c, name in zip(best, self.names) if c >= 0), reverse=True)

    def intent(self, text: str) -> str | None:
        nearest = self.nearest(text)
        return nearest[0][1] if nearest else None

    def certain(self, text: str) -> str | None:
        """The intent of ``text`` when the bot is sure of it: its nearest example at cosine
        ``sure`` or more, and ``margin`` nearer than any other intent's; else None. (Chosen on
        the default bot's test stories, whose wording its NLU does not have: every message above
        both is read right; the two read wrong are within 0.06 of another intent.)"""
        nearest = self.nearest(text)
        if not nearest or nearest[0][0] < self.sure:
            return None
        if len(nearest) > 1 and nearest[0][0] - nearest[1][0] < self.margin:
            return None
        return nearest[0][1]
