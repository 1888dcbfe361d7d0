"""The default bot (dialogues/): a bot project written by this project, its knowledge base a table."""

import csv
import itertools
import re
from pathlib import Path

import pytest

from memchat.project import Project

DIALOGUES = Path(__file__).resolve().parents[1] / "dialogues"


def test_every_cuisine_city_and_price_has_a_restaurant():
    p = Project.read(DIALOGUES)
    rows = list(csv.DictReader((DIALOGUES / "restaurants.csv").open()))
    values = p.entity_values()
    for cuisine, city, price in itertools.product(values["cuisine"], values["location"], values["price"]):
        assert any((r["cuisine"], r["location"], r["price"]) == (cuisine, city, price) for r in rows), (cuisine, city)
    phones = [r["phone"] for r in rows]
    assert len(set(phones)) == len(phones) and all(re.fullmatch(r"\+\d+ \d+ \d{3} \d{4}", x) for x in phones)


def test_the_test_stories_say_nothing_the_training_examples_say():
    p = Project.read(DIALOGUES)
    trained = {ex.text.lower() for examples in p.data.examples.values() for ex in examples}
    tested = {s.user.text.lower() for story in p.tests.stories for s in story.steps if s.user}
    assert len(tested) >= 20 and not tested & trained


@pytest.fixture(scope="module")
def default_bot(tmp_path_factory):
    from memchat.bot import Bot
    from memchat.train import train_bot

    out = tmp_path_factory.mktemp("default")
    bundle, _ = train_bot(DIALOGUES, out=out, name="b", seed=0)
    bot = Bot.load(bundle.path, db=str(out / "d.db"))
    yield bot
    bot.close()


def test_a_booking_over_rest_needs_no_empty_message_and_never_shows_an_action(default_bot):
    from fastapi.testclient import TestClient

    from memchat.server import ServerSettings, create_app

    http = TestClient(create_app(ServerSettings(), default_bot))

    def say(text):
        r = http.post("/webhooks/rest/webhook", json={"sender": "rest", "message": text})
        assert r.status_code == 200
        return [m["text"] for m in r.json()]

    said = say("hello")
    said += say("i want to book a cheap italian restaurant in rome for 2 people")
    assert any(t.startswith("What do you think of") for t in said), said
    said += say("yes please")
    assert any(t.startswith("Done: a table for 2 at") for t in said), said
    said += say("what is the phone number of the restaurant")  # a training example: this tests the plumbing
    assert any(re.search(r"\+39 06 \d{3} \d{4}", t) for t in said), said
    for text in said:
        assert not re.search(r"\b(utter_|action_|api_call|booking_form)", text), text
        assert "{" not in text and "None" not in text


def test_the_search_carries_only_what_the_user_said(default_bot):
    default_bot.respond("m", "i'd like a table in paris")
    slots = [e.text for e in default_bot.history("m") if e.text.startswith("slot ")]
    assert slots == ["slot location paris"]  # nothing guessed: the form asks for the rest
    assert default_bot.respond("m", "thai please") == ["How many people will be at the table?"]


def test_slips_are_read_as_the_words_they_stand_for_and_the_bot_is_never_silent(default_bot):
    said = default_bot.respond("s", "i want a tabel for 4 in berlin, itallian, cheep")
    assert said[0] == "Let me look for a cheap italian restaurant in berlin for 4."
    assert said[1].startswith("What do you think of")
    for text in ["thnaks a lot", "zzz qqq vvv", "what?"]:  # a slip; words it has never seen
        assert default_bot.respond("s", text), text
