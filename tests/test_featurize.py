import torch

from memchat.dialogs import SPEAKERS, Dialog, KBFact, Turn
from memchat.nn.batches import candidate_entities, encode_dialogs, make_batch
from memchat.nn.entities import NAME_TYPE, EntityTable, tokenize
from memchat.nn.featurize import Featurizer


def dialog(*turns):
    return Dialog([Turn(s, t, i) for i, (s, t) in enumerate(turns)])


KB_FACTS = [
    KBFact("resto_a", "R_cuisine", "italian"),
    KBFact("resto_b", "R_cuisine", "korean"),
    KBFact("resto_a", "R_location", "paris"),
    KBFact("resto_a", "R_phone", "resto_a_phone"),
]


def test_tokenize_keeps_entities_and_splits_punctuation():
    assert tokenize("Sure , resto_a_phone is it? I'm on it") == [
        "sure",
        ",",
        "resto_a_phone",
        "is",
        "it",
        "?",
        "i'm",
        "on",
        "it",
    ]
    assert tokenize("<SILENCE>") == ["<silence>"]


def test_entity_types_come_from_kb_relations():
    table = EntityTable.from_facts(KB_FACTS)
    assert table.types == ["R_cuisine", "R_location", "R_phone"]
    assert table.entities["korean"] == 0 and table.entities["resto_a_phone"] == 2


def expanded_matches(feat, batch):
    """{(example, candidate, type + kind * types)}: each match code against every candidate naming its entity."""
    names = candidate_entities(feat)[0].to_dense()  # (C, entities)
    return {
        (r, c, t)
        for r, e, t in zip(*(x.tolist() for x in batch.match_codes))
        for c in names[:, e].nonzero().flatten().tolist()
    }


def make_featurizer():
    train = [
        dialog(
            ("user", "italian food in paris"),
            ("bot", "api_call italian paris"),
            ("kb", "resto_a R_phone resto_a_phone"),
            ("user", "<SILENCE>"),
            ("bot", "ok"),
        )
    ]
    cands = ["api_call italian paris", "api_call korean paris", "ok", "here it is resto_a_phone"]
    return Featurizer.from_training(train, cands, KB_FACTS), train


def test_speaker_time_and_query_positions():
    feat, train = make_featurizer()
    enc = encode_dialogs(feat, train)
    assert enc.slot_speaker[:-1].tolist() == [SPEAKERS.index(s) for s in ("user", "bot", "kb", "user", "bot")]
    assert enc.ex_qpos.tolist() == [0, 3]  # each reply's query is the user turn before it
    assert enc.ex_gold.tolist() == [0, 2]
    batch = make_batch(feat, enc, torch.tensor([0]))
    assert batch.slot_mask.tolist() == [[True] * 5]
    assert batch.qpos.tolist() == [[0, 3]]


def test_unknown_words_drop_out_and_unseen_entities_still_match_by_type():
    feat, _ = make_featurizer()
    # "korean" never occurs in training: no word id, yet the knowledge base types it as a cuisine
    assert "korean" not in feat.vocab.ids
    test = [dialog(("user", "zorblax korean food in paris"), ("bot", "api_call korean paris"))]
    enc = encode_dialogs(feat, test)
    assert enc.slot_words[0].tolist()[:3] == [feat.vocab.ids["food"], feat.vocab.ids["in"], feat.vocab.ids["paris"]]
    batch = make_batch(feat, enc, torch.tensor([0]))
    matches = {(c, feat.entities.types[t]) for _, c, t in expanded_matches(feat, batch)}
    assert (1, "R_cuisine") in matches  # api_call korean paris: its cuisine was said
    assert (1, "R_location") in matches and (0, "R_location") in matches
    assert (0, "R_cuisine") not in matches  # italian was not said
    assert enc.ex_gold.tolist() == [1]


def test_match_context_only_holds_what_was_said_before_the_reply():
    feat, train = make_featurizer()
    enc = encode_dialogs(feat, train)
    batch = make_batch(feat, enc, torch.tensor([0]))
    by_example = {}
    for r, c, t in expanded_matches(feat, batch):
        by_example.setdefault(r, set()).add((c, feat.entities.types[t]))
    assert (3, "R_phone") not in by_example[0]  # the phone number comes after the first reply
    assert (3, "R_phone") in by_example[1]


CONTEXT_FACTS = [
    KBFact(name, rel, value)
    for name, facts in {
        "resto_a": [("R_cuisine", "italian"), ("R_location", "paris"), ("R_phone", "resto_a_phone")],
        "resto_b": [("R_cuisine", "italian"), ("R_location", "rome"), ("R_phone", "resto_b_phone")],
    }.items()
    for rel, value in facts
]
CONTEXT_CANDS = [
    "api_call italian paris",
    "api_call italian rome",
    "here it is resto_a_phone",
    "here it is resto_b_phone",
    "what do you think of resto_a",
    "what do you think of resto_b",
    "where should it be",
]


def context_matches(feat, dialogue):
    """{example: {(candidate, kind, type)}} of one dialogue."""
    batch = make_batch(feat, encode_dialogs(feat, [dialogue]), torch.tensor([0]))
    T = len(feat.entities.types)
    found = {}
    for r, c, t in expanded_matches(feat, batch):
        found.setdefault(r, set()).add((feat.candidates[c], t // T, feat.entities.types[t % T]))
    return found, batch


def test_context_latest_of_type_follows_the_update():
    d = dialog(
        ("user", "italian in paris"),
        ("bot", "where should it be"),
        ("user", "actually make it rome instead"),
        ("bot", "api_call italian rome"),
    )
    feat = Featurizer.from_training([d], CONTEXT_CANDS, CONTEXT_FACTS, context=True)
    found, _ = context_matches(feat, d)
    last = found[1]
    # both cities were said (the paper's kind 0), only rome is the latest location (kind 1)
    assert ("api_call italian paris", 0, "R_location") in last and ("api_call italian rome", 0, "R_location") in last
    assert ("api_call italian rome", 1, "R_location") in last
    assert ("api_call italian paris", 1, "R_location") not in last
    assert ("api_call italian paris", 1, "R_location") in found[0]  # before the update paris was the latest


def test_context_focus_is_the_subject_named_last():
    d = dialog(
        ("user", "<SILENCE>"),
        ("bot", "api_call italian paris"),
        ("kb", "resto_a R_phone resto_a_phone"),
        ("kb", "resto_b R_phone resto_b_phone"),
        ("user", "<SILENCE>"),
        ("bot", "what do you think of resto_a"),
        ("user", "the phone please"),
        ("bot", "here it is resto_a_phone"),
    )
    feat = Featurizer.from_training([d], CONTEXT_CANDS, CONTEXT_FACTS, context=True)
    found, _ = context_matches(feat, d)
    # before the proposal the focus is resto_b, named by the last result line
    assert ("here it is resto_b_phone", 2, "R_phone") in found[1]
    # after "what do you think of resto_a" it is resto_a: its phone matches, resto_b's does not
    assert ("here it is resto_a_phone", 2, "R_phone") in found[2]
    assert ("here it is resto_b_phone", 2, "R_phone") not in found[2]
    # without context only the paper's kind exists
    plain = Featurizer.from_training([d], CONTEXT_CANDS, CONTEXT_FACTS)
    assert {k for matches in context_matches(plain, d)[0].values() for _, k, _ in matches} == {0}


def test_context_type_words_and_said_types():
    d = dialog(
        ("user", "hi"),
        ("bot", "where should it be"),
        ("user", "an italian place"),
        ("bot", "where should it be"),
        ("user", "in seoul"),
        ("bot", "api_call italian paris"),
    )
    feat = Featurizer.from_training([d], CONTEXT_CANDS, CONTEXT_FACTS, context=True)
    cuisine = feat.vocab.ids["<R_cuisine>"]
    enc = encode_dialogs(feat, [d])
    assert cuisine in enc.slot_words[2].tolist()  # "an italian place" carries the cuisine's type word
    assert cuisine in feat.cand_words[0]
    _, batch = context_matches(feat, d)
    types = feat.entities.types
    said = batch.said_types[0]  # (E, T)
    assert said[0].tolist() == [0.0] * len(types)  # nothing said before the first reply
    assert said[1, types.index("R_cuisine")] == 1 and said[1, types.index("R_location")] == 0
    # "seoul" is in no knowledge base here: neither a word nor a location
    assert said[2, types.index("R_location")] == 0
    assert "<R_cuisine>" not in Featurizer.from_training([d], CONTEXT_CANDS, CONTEXT_FACTS).vocab.ids


RATED_FACTS = CONTEXT_FACTS + [KBFact("resto_a", "R_rating", "3"), KBFact("resto_b", "R_rating", "8")]


def test_context_next_is_the_best_rated_result_the_bot_has_not_named():
    d = dialog(
        ("user", "<SILENCE>"),
        ("bot", "api_call italian paris"),
        ("kb", "resto_a R_rating 3"),
        ("kb", "resto_c R_rating 6"),
        ("kb", "resto_b R_rating 8"),
        ("user", "<SILENCE>"),
        ("bot", "what do you think of resto_b"),
        ("user", "something else"),
        ("bot", "what do you think of resto_c"),
        ("user", "something else"),
        ("bot", "what do you think of resto_a"),
        ("user", "something else"),
        ("bot", "where should it be"),
    )
    cands = CONTEXT_CANDS + ["what do you think of resto_c"]
    # resto_c is in no knowledge base: its rating comes from the dialogue's result line
    feat = Featurizer.from_training([d], cands, RATED_FACTS + [KBFact("resto_c", "R_location", "rome")], context=True)
    assert feat.entities.types[feat.entities.name_type] == NAME_TYPE
    assert feat.entities.types[feat.entities.rank_type] == "R_rating"
    found, _ = context_matches(feat, d)
    name = feat.entities.types.index(NAME_TYPE)

    def proposed_next(example):
        return {c for c, kind, t in found.get(example, ()) if kind == 3 and t == NAME_TYPE}

    assert proposed_next(0) == set()  # no results yet
    assert proposed_next(1) == {"what do you think of resto_b"}  # the best rated first
    assert proposed_next(2) == {"what do you think of resto_c"}  # resto_b was named: the next best
    assert proposed_next(3) == {"what do you think of resto_a"}
    assert proposed_next(4) == set()  # all named
    assert name >= 0
    # without context, restaurant names are no entities and only the paper's kind exists
    plain = Featurizer.from_training([d], cands, RATED_FACTS)
    assert NAME_TYPE not in plain.entities.types and plain.kinds == 1


def test_next_keeps_the_first_listed_of_equal_ratings():
    d = dialog(
        ("user", "<SILENCE>"),
        ("kb", "resto_b R_rating 8"),
        ("kb", "resto_a R_rating 8"),
        ("user", "<SILENCE>"),
        ("bot", "what do you think of resto_a"),
    )
    feat = Featurizer.from_training([d], CONTEXT_CANDS, RATED_FACTS, context=True)
    found, _ = context_matches(feat, d)
    assert {c for c, kind, _ in found[0] if kind == 3} == {"what do you think of resto_b"}
