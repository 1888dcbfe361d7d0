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
