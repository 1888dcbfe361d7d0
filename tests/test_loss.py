import pytest
import torch
import torch.nn.functional as F

from memchat.babi.files import read_dialogs, read_kb
from memchat.nn.batches import candidate_bags, candidate_entities, encode_dialogs, make_batch
from memchat.nn.featurize import Featurizer
from memchat.nn.model import MemN2N, MemN2NConfig


@pytest.mark.parametrize("training", [False, True], ids=["all-entities", "batch-entities"])
@pytest.mark.parametrize("context", [False, True])
def test_chunked_loss_and_gradients_equal_plain_cross_entropy(tiny, context, training):
    dialogs = read_dialogs(tiny / "tiny-trn.txt") * 20  # more rows than one chunk
    feat = Featurizer.from_training(dialogs, None, read_kb(tiny / "tiny-kb.txt"), context=context)
    torch.manual_seed(0)
    model = MemN2N(
        MemN2NConfig(len(feat.vocab), len(feat.entities.types), dim=8, hops=2, context=context),
        candidate_bags(feat),
        candidate_entities(feat),
    )
    enc = encode_dialogs(feat, dialogs)
    enc.ex_gold[3] = -1  # a gold reply that is no candidate is left out of the loss
    batch = make_batch(feat, enc, torch.arange(len(dialogs)), training=training)
    assert len(batch.match_codes[0]) > 0 and len(batch.gold) > 40
    if training:  # the loss reads the matches among the batch's own entities
        assert batch.local_match[1][0].shape[1] < len(feat.entities)

    scores, _ = model(batch)
    plain = F.cross_entropy(scores, batch.gold, ignore_index=-1)
    plain.backward()
    expected = {k: p.grad.clone() for k, p in model.named_parameters()}
    model.zero_grad()
    fused = model.loss(batch)
    fused.backward()
    assert torch.allclose(fused, plain, atol=1e-6)
    for k, p in model.named_parameters():
        assert torch.allclose(p.grad, expected[k], atol=1e-6), k
