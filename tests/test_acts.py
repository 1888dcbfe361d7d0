"""memchat's banks of dialogue acts (memchat/project/acts.py) and its word classes
(memchat/nn/word_classes.py): how people say the common things, past a project's examples."""

from __future__ import annotations

import pytest

from memchat.errors import MemchatError
from memchat.nn.entities import tokenize
from memchat.nn.word_classes import classes
from memchat.project.acts import banks, extend, match, said
from memchat.project.data import Example


def test_every_act_has_names_and_wordings():
    acts = banks()
    assert {"affirm", "deny", "greet", "goodbye", "thankyou", "bot_challenge", "mood_great", "mood_unhappy"} <= set(
        acts
    )
    for act, (names, words) in acts.items():
        assert act in names and len(words) >= 8, act


def test_intents_are_acts_by_name_or_by_examples():
    found = match(
        {
            "affirm": ["yes", "indeed"],
            "say_no": ["no", "nope", "no way", "never", "something else"],
            "order_pizza": ["I want a pizza", "pizza please"],
        }
    )
    assert found["affirm"][0] == "affirm" and "name" in found["affirm"][1]
    assert found["say_no"][0] == "deny" and "examples" in found["say_no"][1]
    assert "order_pizza" not in found


def test_the_authors_examples_win_and_overrides_turn_an_act_off():
    examples = {"affirm": [Example("yes")], "deny": [Example("nope")], "greet": [Example("hi")]}
    notes = extend(examples, {"greet": ""})
    texts = {name: [ex.text for ex in exs] for name, exs in examples.items()}
    assert "nope" not in texts["affirm"] and texts["deny"].count("nope") == 1  # the author gave it to deny
    assert "yeah" in texts["affirm"] and all(ex.banked for ex in examples["affirm"][1:])
    assert texts["greet"] == ["hi"]  # turned off in config.toml
    assert any("intent 'affirm' is memchat's act 'affirm'" in n for n in notes)


def test_a_domain_intent_without_examples_gets_the_bank_by_name():
    examples: dict = {}
    extend(examples, {}, intents=["bot_challenge"])
    assert len(examples["bot_challenge"]) >= 8


@pytest.mark.parametrize("overrides", [{"affirm": "yes_please"}, {"affirm": 3}, ["affirm"]])
def test_a_bad_acts_table_is_one_line_naming_the_file(overrides):
    with pytest.raises(MemchatError, match=r"^bot/config.toml: \[acts\]"):
        extend({"affirm": [Example("yes")]}, overrides, where="bot/config.toml")


def test_wordings_compare_without_case_punctuation_or_emoji():
    assert said("Yes, please!! 👍") == "yes please"
    assert said("👍") == "👍"  # only an emoji: itself


@pytest.mark.parametrize(
    "text, expected",
    [
        ("feeling pretty gloomy", ["<c:neg>"]),
        ("not doing well", ["<c:neg>"]),  # a negation flips the polarity after it
        ("not bad at all", ["<c:pos>"]),
        ("no, still sad", ["<c:no>", "<c:neg>"]),  # ... up to a punctuation mark
        ("I didn't feel great", ["<c:neg>"]),
        ("salutations", ["<c:greet>"]),
        ("a recipe for soup", []),
    ],
)
def test_word_classes_carry_meaning_past_spelling(text, expected):
    assert classes(tokenize(text)) == expected
