import pytest
import torch
import torch.nn.functional as F

from memchat.babi.files import read_dialogs
from memchat.dialogs import Dialog, Turn
from memchat.nn.batches import candidate_bags, candidate_entities, encode_dialogs, make_batch
from memchat.nn.featurize import Featurizer
from memchat.nn.model import MemN2N, MemN2NConfig


def dialog(n_lines):
    turns = []
    for i in range(n_lines):
        turns += [Turn("user", f"user says {i}", i), Turn("bot", f"bot says {i}", i)]
    return Dialog(turns)


def setup(memory=100, hops=2, match=True):
    dialogs = [dialog(6), dialog(3)]
    feat = Featurizer.from_training(dialogs, None, [])
    torch.manual_seed(0)
    model = MemN2N(
        MemN2NConfig(len(feat.vocab), 0, dim=16, hops=hops, memory=memory, match=match),
        candidate_bags(feat),
        candidate_entities(feat),
    )
    enc = encode_dialogs(feat, dialogs)
    return feat, model, enc, make_batch(feat, enc, torch.arange(2))


def test_shapes():
    feat, model, enc, batch = setup(hops=3)
    scores, attention = model(batch)
    assert scores.shape == (enc.num_examples, len(feat.candidates)) == (9, 6)
    assert len(attention) == 3 and all(a.shape == (2, 6, 12) for a in attention)


def test_attention_sees_only_earlier_slots_of_its_dialogue():
    _, model, _, batch = setup()
    _, attention = model(batch)
    p = attention[0]
    for d in range(2):
        for e in range((6, 3)[d]):
            q = int(batch.qpos[d, e])
            assert torch.all(p[d, e, q:] == 0)  # the query itself and everything after it
            if q > 0:
                assert torch.isclose(p[d, e, :q].sum(), torch.tensor(1.0))
            else:
                assert torch.all(p[d, e] == 0)  # the first turn has no memory at all
    assert torch.all(attention[0][1, 3:] == 0)  # padding examples of the shorter dialogue


def test_memory_window_keeps_the_most_recent_slots():
    _, model, _, batch = setup(memory=3)
    _, attention = model(batch)
    p = attention[0][0, 5]  # last reply of the first dialogue: query at slot 10
    assert torch.all(p[:7] == 0) and torch.all(p[7:10] > 0)


def test_scores_do_not_depend_on_later_turns():
    feat, model, _, _ = setup()
    a = Dialog(dialog(6).turns)
    b = Dialog(dialog(6).turns[:6] + [Turn("user", "totally different words", 0)] + dialog(6).turns[7:])
    sa, _ = model(make_batch(feat, encode_dialogs(feat, [a]), torch.tensor([0])))
    sb, _ = model(make_batch(feat, encode_dialogs(feat, [b]), torch.tensor([0])))
    assert torch.allclose(sa[:3], sb[:3])  # replies 0-2 come before the changed turn
    assert not torch.allclose(sa[3], sb[3])


def test_match_features_change_scores_only_when_enabled():
    from memchat.dialogs import KBFact

    facts = [KBFact("resto_a", "R_cuisine", "italian"), KBFact("resto_a", "R_location", "paris")]
    train = [
        Dialog(
            [
                Turn("user", "italian food in paris", 0),
                Turn("bot", "api_call italian paris", 0),
                Turn("user", "thanks", 1),
                Turn("bot", "you are welcome", 1),
            ]
        )
    ]
    cands = ["api_call italian paris", "you are welcome", "api_call french london"]
    feat = Featurizer.from_training(train, cands, facts)
    torch.manual_seed(0)
    on = MemN2N(
        MemN2NConfig(len(feat.vocab), len(feat.entities.types), dim=16, hops=2, match=True),
        candidate_bags(feat),
        candidate_entities(feat),
    )
    off = MemN2N(
        MemN2NConfig(len(feat.vocab), len(feat.entities.types), dim=16, hops=2, match=False),
        candidate_bags(feat),
        candidate_entities(feat),
    )
    off.load_state_dict(on.state_dict())  # the same weights: only the flag differs
    batch = make_batch(feat, encode_dialogs(feat, train), torch.tensor([0]))
    s_on, _ = on(batch)
    s_off, _ = off(batch)
    differs = ~torch.isclose(s_on, s_off)
    # candidate 0 names the cuisine and city the user said; the others name none of them
    assert differs[:, 0].all() and not differs[:, 1:].any()
    gold = torch.tensor([0, 1])
    assert torch.isclose(F.cross_entropy(s_on, gold), on.loss(batch))
    assert torch.isclose(F.cross_entropy(s_off, gold), off.loss(batch))


@pytest.mark.parametrize("context", [False, True])
def test_scores_equal_the_match_features_added_one_by_one(tiny, context):
    from memchat.babi.files import read_kb
    from memchat.nn.evaluate import predict

    dialogs = read_dialogs(tiny / "tiny-trn.txt")
    feat = Featurizer.from_training(dialogs, None, read_kb(tiny / "tiny-kb.txt"), context=context)
    torch.manual_seed(0)
    model = MemN2N(
        MemN2NConfig(len(feat.vocab), len(feat.entities.types), dim=8, hops=2, context=context),
        candidate_bags(feat),
        candidate_entities(feat),
    ).eval()
    enc = encode_dialogs(feat, dialogs)
    batch = make_batch(feat, enc, torch.arange(len(dialogs)))
    with torch.no_grad():
        scores, _ = model(batch)
        q, _ = model.encode(batch)
        expected = q @ model.candidate_embeddings().T  # (n, C)
        names = candidate_entities(feat)[0].to_dense()  # (C, entities)
        for r, e, t in zip(*batch.match_codes):
            expected[r] += names[:, e] * (q[r] @ model.M[t])
    assert len(batch.match_codes[0]) > 0  # there are matches to add
    assert torch.allclose(scores, expected, atol=1e-5)
    assert torch.equal(predict(model, feat, enc, batch_dialogs=1), scores.argmax(1))
    assert torch.equal(model.best(q, batch.match_codes, block=7), scores.argmax(1))  # blocks of any size


@pytest.mark.parametrize("rows", [1, 31, 32, 33, 100])
def test_argmax_rows_is_argmax_with_the_first_index_on_ties(rows):
    from memchat.nn.model import argmax_rows

    torch.manual_seed(rows)
    scores = torch.randn(rows, 50)
    scores[rows // 2, :10] = scores[rows - 1, :10] = 9.0  # ties: the first row wins, as argmax has it
    scores[:, 10] = 1.0  # a whole column tied
    assert torch.equal(argmax_rows(scores), scores.argmax(0))
    assert torch.equal(argmax_rows(scores, group=4), scores.argmax(0))
