"""Per-response and per-dialogue accuracy (Bordes et al. 2017, §5), and the mistakes behind them."""

from __future__ import annotations

import torch

from memchat.nn.batches import EncodedDialogs, make_batch
from memchat.nn.featurize import Featurizer
from memchat.nn.model import MemN2N
from memchat.nn.scores import Scores


@torch.inference_mode()
def predict(model: MemN2N, featurizer: Featurizer, enc: EncodedDialogs, batch_dialogs: int = 64) -> torch.Tensor:
    """The top-ranked candidate of every example of ``enc``: (X,)."""
    was_training = model.training
    model.eval()
    out = torch.empty(enc.num_examples, dtype=torch.long)
    order = torch.argsort(enc.start[1:] - enc.start[:-1])  # dialogues of like length: little padding
    for i in range(0, enc.num_dialogs, batch_dialogs):
        batch = make_batch(featurizer, enc, order[i : i + batch_dialogs])
        if len(batch.example_ids):
            q, _ = model.encode(batch)
            out[batch.example_ids] = model.best(q, batch.match_codes)
    model.train(was_training)
    return out


def score(predictions: torch.Tensor, enc: EncodedDialogs) -> Scores:
    """Accuracy of ``predictions`` against the gold replies of ``enc``."""
    right = predictions == enc.ex_gold  # a gold reply that is no candidate (-1) is never right
    wrong_per_dialog = torch.zeros(enc.num_dialogs, dtype=torch.long).index_add_(0, enc.ex_dialog, (~right).long())
    return Scores(
        responses=enc.num_examples,
        dialogs=enc.num_dialogs,
        responses_right=int(right.sum()),
        dialogs_right=int((wrong_per_dialog == 0).sum()),
    )
