import torch

from memchat.babi import BOT, USER, Dialog, KBFact, Turn
from memchat.featurize import Featurizer
from memchat.model import MemN2N, MemN2NConfig
from memchat.ranker import Ranker

FACTS = [
    KBFact("resto_a", "R_cuisine", "italian"),
    KBFact("resto_a", "R_location", "paris"),
    KBFact("resto_b", "R_cuisine", "french"),
    KBFact("resto_b", "R_location", "rome"),
    KBFact("resto_a", "R_rating", "5"),
    KBFact("resto_b", "R_rating", "7"),
]


def turns(*pairs):
    return [Turn(s, t, i) for i, (s, t) in enumerate(pairs)]


TRAIN = [
    Dialog(
        turns(
            (USER, "hi"),
            (BOT, "hello"),
            (USER, "italian food in paris please"),
            (BOT, "api_call italian paris"),
            ("kb", "resto_a R_cuisine italian"),
            ("kb", "resto_a R_location paris"),
            ("kb", "resto_a R_rating 5"),
            ("kb", "resto_b R_rating 7"),
            (USER, "<SILENCE>"),
            (BOT, "how about resto_a"),
            (USER, "no , french in rome"),
            (BOT, "api_call french rome"),
            (USER, "thanks"),
            (BOT, "you are welcome"),
        )
    )
]


def setup(memory, match=True, context=False):
    feat = Featurizer.from_training(TRAIN, None, FACTS, context=context)
    torch.manual_seed(1)
    model = MemN2N(
        MemN2NConfig(
            len(feat.vocab), len(feat.entities.types), dim=12, hops=3, memory=memory, match=match, context=context
        ),
        feat.cand_bow,
        feat.cand_ent,
    )
    return feat, model.eval()


def test_one_query_scores_equal_the_batched_forward():
    for memory in (100, 4):  # the whole dialogue, and a window smaller than it
        for match, context in ((True, False), (False, False), (True, True)):
            feat, model = setup(memory, match, context)
            with torch.inference_mode():
                batched, attention = model(feat.batch(feat.encode(TRAIN), torch.tensor([0])))
            ranker = Ranker(model, feat)
            t = TRAIN[0].turns
            bot_turns = [k for k, x in enumerate(t) if x.speaker == BOT]
            for e, k in enumerate(bot_turns):
                # the window the dialogue manager reads: at most `memory` turns before the query
                ranking = ranker.rank(t[max(0, k - 1 - memory) : k])
                if memory >= len(t):  # match context is the whole dialogue only when it fits
                    assert torch.allclose(ranking.scores, batched[e], atol=1e-5)
                q = k - 1
                expected = attention[0][0, e, max(0, q - memory) : q]
                if memory >= len(t) or not context:  # said types too come from the window read
                    assert torch.allclose(ranking.attention[0], expected, atol=1e-6)
                assert ranking.query is t[q] and ranking.memory == list(t[max(0, q - memory) : q])


def test_top_and_best_agree_and_probabilities_sum_to_one():
    feat, model = setup(100)
    ranking = Ranker(model, feat).rank(TRAIN[0].turns[:3])
    top = ranking.top(len(feat.candidates))
    assert top[0][0] == ranking.best
    assert abs(sum(p for _, p in top) - 1) < 1e-5
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)


def test_unknown_words_and_a_first_turn_without_memory():
    feat, model = setup(100)
    ranking = Ranker(model, feat).rank([Turn(USER, "zzz qqq \x00 ünïcode", 0)])
    assert ranking.memory == [] and all(len(a) == 0 for a in ranking.attention)
    assert torch.isfinite(ranking.scores).all()
