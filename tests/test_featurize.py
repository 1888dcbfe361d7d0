import torch

from memchat.dialogs import Dialog, KBFact, Turn
from memchat.featurize import SPEAKERS, EntityTable, Featurizer, tokenize


def dialog(*turns):
    return Dialog([Turn(s, t, i) for i, (s, t) in enumerate(turns)])


KB_FACTS = [KBFact("resto_a", "R_cuisine", "italian"), KBFact("resto_b", "R_cuisine", "korean"),
            KBFact("resto_a", "R_location", "paris"), KBFact("resto_a", "R_phone", "resto_a_phone")]


def test_tokenize_keeps_entities_and_splits_punctuation():
    assert tokenize("Sure , resto_a_phone is it? I'm on it") == [
        "sure", ",", "resto_a_phone", "is", "it", "?", "i'm", "on", "it"]
    assert tokenize("<SILENCE>") == ["<silence>"]


def test_entity_types_come_from_kb_relations():
    table = EntityTable.from_facts(KB_FACTS)
    assert table.types == ["R_cuisine", "R_location", "R_phone"]
    assert table.entities["korean"] == 0 and table.entities["resto_a_phone"] == 2


def make_featurizer():
    train = [dialog(("user", "italian food in paris"), ("bot", "api_call italian paris"),
                    ("kb", "resto_a R_phone resto_a_phone"), ("user", "<SILENCE>"), ("bot", "ok"))]
    cands = ["api_call italian paris", "api_call korean paris", "ok", "here it is resto_a_phone"]
    return Featurizer.from_training(train, cands, KB_FACTS), train


def test_speaker_time_and_query_positions():
    feat, train = make_featurizer()
    enc = feat.encode(train)
    assert enc.slot_speaker[:-1].tolist() == [SPEAKERS.index(s) for s in ("user", "bot", "kb", "user", "bot")]
    assert enc.ex_qpos.tolist() == [0, 3]  # each reply's query is the user turn before it
    assert enc.ex_gold.tolist() == [0, 2]
    batch = feat.batch(enc, torch.tensor([0]))
    assert batch.slot_mask.tolist() == [[True] * 5]
    assert batch.qpos.tolist() == [[0, 3]]


def test_unknown_words_drop_out_and_unseen_entities_still_match_by_type():
    feat, _ = make_featurizer()
    # "korean" never occurs in training: no word id, yet the knowledge base types it as a cuisine
    assert "korean" not in feat.vocab.ids
    test = [dialog(("user", "zorblax korean food in paris"), ("bot", "api_call korean paris"))]
    enc = feat.encode(test)
    assert enc.slot_words[0].tolist()[:3] == [feat.vocab.ids["food"], feat.vocab.ids["in"], feat.vocab.ids["paris"]]
    batch = feat.batch(enc, torch.tensor([0]))
    C = len(feat.candidates)
    matches = {(int(i) % C, feat.entities.types[int(t)]) for i, t in zip(batch.match_index, batch.match_type)}
    assert (1, "R_cuisine") in matches  # api_call korean paris: its cuisine was said
    assert (1, "R_location") in matches and (0, "R_location") in matches
    assert (0, "R_cuisine") not in matches  # italian was not said
    assert enc.ex_gold.tolist() == [1]


def test_match_context_only_holds_what_was_said_before_the_reply():
    feat, train = make_featurizer()
    enc = feat.encode(train)
    batch = feat.batch(enc, torch.tensor([0]))
    C = len(feat.candidates)
    by_example = {}
    for i, t in zip(batch.match_index.tolist(), batch.match_type.tolist()):
        by_example.setdefault(i // C, set()).add((i % C, feat.entities.types[t]))
    assert (3, "R_phone") not in by_example[0]  # the phone number comes after the first reply
    assert (3, "R_phone") in by_example[1]
