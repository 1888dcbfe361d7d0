import numpy as np
import torch

from memchat.dialogs import BOT, USER, Dialog, KBFact, Turn
from memchat.nn.batches import candidate_bags, candidate_entities, encode_dialogs, make_batch
from memchat.nn.featurize import Featurizer
from memchat.nn.model import MemN2N, MemN2NConfig
from memchat.nn.ranker import Ranker

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
        candidate_bags(feat),
        candidate_entities(feat),
    )
    return feat, model.eval()


def test_one_query_scores_equal_the_batched_forward():
    for memory in (100, 4):  # the whole dialogue, and a window smaller than it
        for match, context in ((True, False), (False, False), (True, True)):
            feat, model = setup(memory, match, context)
            with torch.inference_mode():
                batched, attention = model(make_batch(feat, encode_dialogs(feat, TRAIN), torch.tensor([0])))
            ranker = Ranker.from_model(model, feat)
            t = TRAIN[0].turns
            bot_turns = [k for k, x in enumerate(t) if x.speaker == BOT]
            for e, k in enumerate(bot_turns):
                # the window the dialogue manager reads: at most `memory` turns before the query
                ranking = ranker.rank(t[max(0, k - 1 - memory) : k])
                if memory >= len(t):  # match context is the whole dialogue only when it fits
                    assert np.allclose(ranking.scores, batched[e].numpy(), atol=1e-5)
                q = k - 1
                expected = attention[0][0, e, max(0, q - memory) : q]
                if memory >= len(t) or not context:  # said types too come from the window read
                    assert np.allclose(ranking.attention[0], expected.numpy(), atol=1e-6)
                assert ranking.query is t[q] and ranking.memory == list(t[max(0, q - memory) : q])


def test_top_and_best_agree_and_probabilities_sum_to_one():
    feat, model = setup(100)
    ranking = Ranker.from_model(model, feat).rank(TRAIN[0].turns[:3])
    top = ranking.top(len(feat.candidates))
    assert top[0][0] == ranking.best
    assert abs(sum(p for _, p in top) - 1) < 1e-5
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)


def test_unknown_words_and_a_first_turn_without_memory():
    feat, model = setup(100)
    ranking = Ranker.from_model(model, feat).rank([Turn(USER, "zzz qqq \x00 ünïcode", 0)])
    assert ranking.memory == [] and all(len(a) == 0 for a in ranking.attention)
    assert np.isfinite(ranking.scores).all()


def live_equals_batched(bot, conversation: str) -> int:
    """Every bot turn of a stored conversation ranked live (numpy) and by the batched torch forward
    of its bundle: the same scores and attention. Returns how many turns were compared."""
    from memchat.dialogs import Dialog
    from memchat.nn.bundle import load_bundle

    bundle = load_bundle(bot.model_path)
    turns = [Turn(e.speaker, e.text, i) for i, e in enumerate(bot.history(conversation))]
    N = bundle.config.memory
    assert len(turns) < N, "the match context is the whole dialogue only when it fits the window"
    with torch.inference_mode():
        batched, attention = bundle.model(
            make_batch(bundle.featurizer, encode_dialogs(bundle.featurizer, [Dialog(turns)]), torch.tensor([0]))
        )
    ranker = bot.manager.ranker
    bot_turns = [k for k, t in enumerate(turns) if t.speaker == BOT and k > 0]
    for e, k in enumerate(bot_turns):
        ranking = ranker.rank(turns[:k])
        q = max(i for i in range(k) if turns[i].speaker == USER)
        assert np.allclose(ranking.scores, batched[e].numpy(), rtol=1e-4, atol=1e-4), turns[k].text
        for hop, p in enumerate(ranking.attention):
            assert np.allclose(p, attention[hop][0, e, :q].numpy(), atol=1e-5)
    return len(bot_turns)


def test_live_ranking_equals_the_batched_forward_on_a_project_bundle(pizza_bot):
    """Context, the four match kinds and subword features on (a project's defaults)."""
    cfg = pizza_bot.manager.ranker.config
    assert cfg.context and cfg.match and cfg.match_kinds == 4 and cfg.subwords > 0
    for text in ("hello", "i would like to order a pizza", "a mediun one", "tuna", "do you deliver", "yes go ahead"):
        pizza_bot.respond("eq", text)
    assert live_equals_batched(pizza_bot, "eq") >= 6


def test_live_ranking_equals_the_batched_forward_on_a_babi_bundle(bot):
    """The paper's features (match, no context) on a dialog bAbI-format bundle, with a search."""
    from conftest import BOOKING

    for text in ("hello", BOOKING, "<SILENCE>", "no i don't like that", "thanks"):
        bot.respond("eq", text)
    assert live_equals_batched(bot, "eq") >= 5
