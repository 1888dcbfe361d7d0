"""Per-response and per-dialogue accuracy (Bordes et al. 2017, §5), and the mistakes behind them."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from memchat.featurize import EncodedDialogs, Featurizer
from memchat.model import MemN2N


@dataclass
class Scores:
    per_response: float  # share of bot turns whose top-ranked candidate is the gold reply
    per_dialog: float  # share of dialogues with every bot turn right
    responses: int
    dialogs: int

    def to_dict(self) -> dict:
        return {
            "per_response": self.per_response,
            "per_dialog": self.per_dialog,
            "responses": self.responses,
            "dialogs": self.dialogs,
        }


@torch.inference_mode()
def predict(
    model: MemN2N, featurizer: Featurizer, enc: EncodedDialogs, batch_dialogs: int = 64
) -> torch.Tensor:
    """The top-ranked candidate of every example of ``enc``: (X,)."""
    was_training = model.training
    model.eval()
    out = torch.empty(enc.num_examples, dtype=torch.long)
    order = torch.arange(enc.num_dialogs)
    for i in range(0, enc.num_dialogs, batch_dialogs):
        batch = featurizer.batch(enc, order[i : i + batch_dialogs])
        if len(batch.example_ids) == 0:
            continue
        scores, _ = model(batch)
        out[batch.example_ids] = scores.argmax(1)
    model.train(was_training)
    return out


def score(predictions: torch.Tensor, enc: EncodedDialogs) -> Scores:
    """Accuracy of ``predictions`` against the gold replies of ``enc``."""
    right = predictions == enc.ex_gold  # a gold reply that is no candidate (-1) is never right
    wrong_per_dialog = torch.zeros(enc.num_dialogs, dtype=torch.long).index_add_(
        0, enc.ex_dialog, (~right).long()
    )
    n = enc.num_examples
    return Scores(
        per_response=float(right.float().mean()) if n else 0.0,
        per_dialog=float((wrong_per_dialog == 0).float().mean()) if enc.num_dialogs else 0.0,
        responses=n,
        dialogs=enc.num_dialogs,
    )
