"""Understanding people past the examples (issue 31): numbers read in context, and a message the
bot is unsure of answered with the project's fallback, not a booking or a goodbye."""

from __future__ import annotations

from pathlib import Path

import pytest

from memchat.nn.entities import EntityTable
from memchat.project.folder import Project
from memchat.project.interpreter import Interpreter
from memchat.project.numbers import find, is_number
from memchat.project.source import bot_spec

DIALOGUES = Path(__file__).resolve().parents[1] / "dialogues"


@pytest.mark.parametrize(
    "text, found",
    [
        ("a table for 12 people", [("number", "12", True)]),
        ("there are twelve of us", [("number", "12", True)]),
        ("a table for two", [("number", "2", True)]),  # text2num leaves two as a word
        ("10/10, nice. yes please", []),  # a score
        ("2 out of 10 for expensive? no way", []),
        ("only a 6? got anything better", [("number", "6", False)]),  # no cue beside it
        ("I'll take that one", []),  # "one" is no number
    ],
)
def test_numbers_are_read_in_words_and_digits_with_their_cue(text, found):
    assert find(text, ("number",), {"for", "of", "people"}) == found


def test_number_words_are_numbers():
    assert all(map(is_number, ["4", "two", "twelve", "one"])) and not any(map(is_number, ["four seasons", "x"]))


@pytest.fixture(scope="module")
def default_reader():
    project = Project.read(DIALOGUES)
    spec = bot_spec(project)
    table = EntityTable.from_values(project.entity_values(), project.synonyms())
    return Interpreter(
        table,
        spec.slot_mappings,
        spec.intent_examples,
        knows=lambda t: t in {w for exs in spec.intent_examples.values() for x in exs for w in x.lower().split()},
        intent_sure=spec.intent_sure,
        number_entities=spec.number_entities,
    )


@pytest.mark.parametrize(
    "text, requested, people",
    [
        ("book a table for 12 people, thai in paris", None, "12"),  # any size
        ("there are twelve of us", None, "12"),
        ("we are 4 poeple", None, "4"),  # a slip of the cue
        ("twelve", "people", "12"),  # the answer to "How many people?"
        ("only a 6? got anything better", None, None),  # not asked, no cue
        ("10/10, nice. yes please", None, None),
        ("2 out of 10 for expensive? no way", None, None),
    ],
)
def test_a_party_size_is_read_in_context(default_reader, text, requested, people):
    slots = default_reader.slots_from_text(text, "booking_form" if requested else None, requested)
    assert slots.get("people") == people


def test_the_default_bot_is_unsure_of_what_it_has_no_words_for(default_reader):
    assert default_reader.fallback > 0  # dialogues/config.toml [rules] fallback
    assert default_reader.unsure("do they take credit cards?")
    assert not default_reader.unsure("a table for 12 people")  # names a party size
    assert not default_reader.unsure("italian food in rome")  # names values


def _kb_history(*names):
    """A conversation where the bot suggested ``names`` in turn (Event-likes, as the store gives)."""
    from memchat.dialogs import BOT, KB
    from memchat.store.event import Event

    out = []
    for n in names:
        out += [Event(BOT, "action_suggest_restaurant"), Event(KB, f"slot restaurant {n}"), Event(BOT, "utter_suggest")]
    return out


KB_TABLE = {
    "rows": [
        {"restaurant": n, "rating": str(r)}
        for n, r in [("Lucky Dumpling House", 9), ("Silver Cafe", 7), ("Wild Tandoor", 5), ("Quiet Dumpling House", 3)]
    ],
    "name": "restaurant",
    "suggest": "action_suggest_restaurant",
    "search": "action_search_restaurants",
}


@pytest.mark.parametrize(
    "text, row",
    [
        ("go back to the first one, book it", "Lucky Dumpling House"),
        ("the second one please", "Silver Cafe"),
        ("the one before sounds better", "Silver Cafe"),
        ("meh. go back to silver cafe then, book it", "Silver Cafe"),
        ("ok then I'll take the lucky dumpling one", "Lucky Dumpling House"),  # a word only its name has
        ("please book Wild Tandoor", "Wild Tandoor"),  # suggested or not, named in full
        ("the dumpling one", None),  # two suggested names have it: which one?
        ("yes please", None),
    ],
)
def test_a_mention_points_at_a_suggestion_or_a_row_named_in_full(text, row):
    from memchat.dialogue.references import referenced

    history = _kb_history("Lucky Dumpling House", "Silver Cafe", "Quiet Dumpling House")
    found = referenced(text, history, KB_TABLE)
    assert (found or {}).get("restaurant") == row


def test_a_payload_says_the_entities_its_template_lacks():
    from memchat.project.spec import BotSpec

    spec = BotSpec(intent_templates={"trigger": {"": "trigger it"}})
    assert spec.payload('/trigger{"retrieval_intent": "chitchat/ask_name"}')[2] == "trigger it chitchat/ask_name"


@pytest.mark.parametrize(
    "text, cuisine",
    [
        ("actually make that chinese not mexican", "chinese"),
        ("chinese instead of mexican", "chinese"),
        ("not mexican, chinese", "chinese"),
        ("change it from mexican to chinese", "chinese"),
        ("no mexican please", None),
    ],
)
def test_a_value_said_in_a_negation_is_not_taken(default_reader, text, cuisine):
    assert default_reader.slots_from_text(text).get("cuisine") == cuisine


def test_parse_data_has_the_intents_confidence_ranking_and_entities(default_reader):
    parse = default_reader.parse("a table for 12 people, thai please")
    assert parse["intent"]["name"] == parse["intent_ranking"][0]["name"]
    assert 0 < parse["intent"]["confidence"] <= 1  # the nearest example's cosine, not a made-up 1.0
    confidences = [r["confidence"] for r in parse["intent_ranking"]]
    assert confidences == sorted(confidences, reverse=True) and len(confidences) > 1
    assert {"entity": "people", "value": "12"} in parse["entities"]
    assert {"entity": "cuisine", "value": "thai"} in parse["entities"]
    assert default_reader.parse("rated 6 out of 10")["entities"] == []
