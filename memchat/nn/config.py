"""The memory network's configuration, and the weights it implies: read by training (``model.py``,
torch) and by the live path (``ranker.py``, numpy) alike, so it imports neither."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class MemN2NConfig:
    vocab_size: int  # words of the training dialogues (id 0 padding/unknown), then the subword buckets
    num_entity_types: int  # knowledge-base relations whose values get match features
    speakers: int = 3  # speaker embeddings: user, bot, knowledge base (babi.SPEAKERS)
    dim: int = 64  # embedding size d
    hops: int = 3  # memory hops H
    memory: int = 100  # memory window: the most recent slots the query attends over
    match: bool = True  # add the match-type features of §4.4 to the candidates
    context: bool = False  # ours: entity-type words, latest/focus/next match kinds, said types (entities.MatchContext)
    match_kinds: int = 4  # match kinds with context (entities.MATCH_KINDS); bundles made before the "next" kind have 3
    dropout: float = 0.0  # dropout on the utterance embeddings (memory and query) while training
    subwords: int = 0  # hashed character n-gram buckets among the vocabulary's ids (featurize.char_ngrams)
    subword_weight: float = 0.1  # what one n-gram counts in a bag (featurize.SUBWORD_WEIGHT)

    def to_dict(self) -> dict:
        return asdict(self)


def weight_shapes(config: MemN2NConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor of a bundle's weights file, by its name in ``MemN2N.state_dict()``, and its shape."""
    d = config.dim
    types = max(config.num_entity_types, 1)
    kinds = config.match_kinds if config.context else 1
    shapes = {
        "A.weight": (config.vocab_size, d),  # memory and query words
        "speaker.weight": (config.speakers, d),
        "time.weight": (config.memory, d),
        "R.weight": (d, d),
        "W.weight": (config.vocab_size, d),  # candidate words
        "M": (types * kinds, d),  # a match word per kind and type
    }
    if config.context:
        shapes["said"] = (types, d)
    return shapes
