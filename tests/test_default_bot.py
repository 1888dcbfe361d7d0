"""The default bot (dialogues/): a bot project written by this project, its knowledge base a table."""

import csv
import itertools
import re
from pathlib import Path

import pytest

from memchat.project.folder import Project

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
    from starlette.testclient import TestClient

    from memchat.channels.rest import ServerSettings, create_app

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
    assert said[0] == "Let me look for cheap italian restaurants in berlin for 4."
    assert said[1].startswith("What do you think of")
    for text in ["thnaks a lot", "zzz qqq vvv", "what?"]:  # a slip; words it has never seen
        assert default_bot.respond("s", text), text


def test_a_city_the_bot_has_no_record_of_is_named_and_the_question_comes_again(default_bot):
    ask_city = "In which city? I know restaurants in London, Paris, Madrid, Rome, Berlin, Lisbon and Oslo."
    assert default_bot.respond("u", "i'd love somewhere to eat in zurich") == [
        "Sorry, I don't know any restaurants in zurich.",  # said first, whatever the model reads
        "What kind of food would you like? I know italian, french, indian, japanese, mexican, thai, "
        "spanish and chinese places.",
    ]
    assert default_bot.respond("u", "thai") == [ask_city]
    # an unknown city beside a word the model reads as thanks: the city still comes first
    assert default_bot.respond("u", "in dublin, thanks") == ["Sorry, I don't know any restaurants in dublin.", ask_city]
    assert default_bot.respond("u", "tokyo it is") == ["Sorry, I don't know any restaurants in tokyo.", ask_city]
    assert default_bot.respond("u", "paris") == ["How many people will be at the table?"]
    assert default_bot.respond("u", "zzzz qqqq") == [  # no word it knows
        "Sorry, I didn't get that.",
        "How many people will be at the table?",
    ]


def _preferring(bot, first, then="action_listen"):
    """A manager whose model ranks ``first`` best for a user's message, and ``then`` after the bot spoke."""
    from memchat.dialogs import SILENCE, USER
    from memchat.dialogue.processor import DialogueManager
    from memchat.nn.ranker import Ranker, Ranking

    class Preferring(Ranker):
        def rank(self, turns):
            ranking = super().rank(turns)
            scores = ranking.scores.copy()
            said = turns[-1].speaker == USER and turns[-1].text != SILENCE  # not the bot going on
            scores[ranking.candidates.index(first if said else then)] = 1e9
            return Ranking(scores, ranking.attention, ranking.memory, ranking.query, ranking.candidates)

    r = bot.manager.ranker
    return DialogueManager(
        Preferring(r.config, r.weights, r.featurizer), bot.store, bot.manager.pm, spec=bot.manager.spec
    )


def test_after_an_off_topic_reply_the_form_asks_its_question_again(default_bot):
    ask_food = default_bot.respond("o", "book me a table")[-1]
    assert ask_food.startswith("What kind of food")
    manager = _preferring(default_bot, "utter_out_of_scope")  # the model would listen after it
    said = [r.message["text"] for r in manager.respond("o", "who won the football last night") if r.message]
    assert said == [default_bot.manager.spec.responses["utter_out_of_scope"][0]["text"], ask_food]


def test_no_custom_action_runs_while_a_form_waits_for_an_answer(default_bot):
    default_bot.respond("w", "book me a table in rome")
    manager = _preferring(default_bot, "action_search_restaurants")  # a search on half the slots
    replies = manager.respond("w", "hmm let me think")
    assert "action_search_restaurants" not in [r.text for r in replies]
    assert not any(e.text.startswith("slot found") for e in default_bot.history("w"))


def test_the_same_search_never_runs_again_right_after_itself(default_bot):
    said = default_bot.respond("s", "a cheap thai restaurant in rome for 2 please")
    assert said[-1].startswith("What do you think of")
    manager = _preferring(default_bot, "utter_searching")  # the model would look again, for the same
    replies = manager.respond("s", "sounds nice, go on")
    assert not {"utter_searching", "action_search_restaurants"} & {r.text for r in replies}
    replies = manager.respond("s", "make it french instead")  # a slot changed: a new search
    assert [r.text for r in replies][:2] == ["utter_searching", "action_search_restaurants"]


def test_after_an_off_topic_reply_with_no_booking_under_way_the_bot_waits(default_bot):
    said = default_bot.respond("t", "a cheap thai restaurant in rome for 2 please")
    said += default_bot.respond("t", "yes please")
    assert said[-1].startswith("Done: a table for 2")
    manager = _preferring(default_bot, "utter_out_of_scope", then="utter_searching")  # the model would search again
    replies = manager.respond("t", "do you like football")
    assert [r.text for r in replies] == ["utter_out_of_scope"]  # the follow-up rule: then it listens


def test_the_same_suggestion_never_comes_again_right_after_itself(default_bot):
    said = default_bot.respond("g", "a cheap thai restaurant in rome for 2 please")
    assert said[-1].startswith("What do you think of")
    manager = _preferring(default_bot, "utter_suggest")  # the model would propose the same again
    replies = manager.respond("g", "hmm let me think")
    assert said[-1] not in [r.message["text"] for r in replies if r.message]
    # a new restaurant picked: its suggestion is no repeat
    assert default_bot.respond("g", "show me another one")[-1] not in (said[-1], None)


def test_a_search_is_not_run_again_for_a_message_naming_no_value(default_bot):
    said = default_bot.respond("n", "a cheap thai restaurant in rome for 2 please")
    said += default_bot.respond("n", "yes please")
    assert said[-1].startswith("Done: a table for 2")
    manager = _preferring(default_bot, "utter_searching")  # the model would look again, for the same
    replies = manager.respond("n", "hmm, what now")
    assert not {"utter_searching", "action_search_restaurants"} & {r.text for r in replies}
    # the same values said again: the user restates the request, and it is searched again
    replies = manager.respond("n", "a cheap thai restaurant in rome for 2 again please")
    assert [r.text for r in replies][:2] == ["utter_searching", "action_search_restaurants"]


def test_a_message_whose_intent_is_certain_gets_its_rule_whatever_the_model_ranks(default_bot):
    default_bot.respond("i", "a cheap thai restaurant in rome for 2 please")
    manager = _preferring(default_bot, "utter_goodbye")  # the model would say goodbye
    # an NLU example of ask_address: certain; the rule "the address when asked", then it listens
    assert [r.text for r in manager.respond("i", "where is the restaurant")] == ["utter_address"]
    assert default_bot.history("i")[-1].text == "action_listen"
    # near affirm, and near inform too: not certain, so the model decides
    assert [r.text for r in manager.respond("i", "sounds nice, go on")] == ["utter_goodbye"]
    # a form waiting for its answer is not interrupted by a rule that does not say so
    assert default_bot.respond("j", "book me a table")[-1].startswith("What kind of food")
    assert [r.text for r in manager.respond("j", "thanks a lot")][0] == "utter_goodbye"


def test_another_one_after_a_new_search_that_found_the_same_restaurant_is_another(default_bot):
    first = default_bot.respond("k", "a cheap thai restaurant in rome for 2 please")[-1]
    again = default_bot.respond("k", "for 3 people then")  # a new search: the same restaurant is the best
    assert again[0].startswith("Let me look for cheap thai restaurants in rome for 3") and again[-1] == first
    # its slot set to the value it had (no slot event): still a suggestion since the search
    other = default_bot.respond("k", "another one please")[-1]
    assert other.startswith("What do you think of") and other != first


def test_a_response_telling_an_action_s_result_is_said_only_right_after_it(default_bot):
    spec = default_bot.manager.spec
    assert spec.action_results == {
        "utter_no_more": "action_suggest_restaurant",
        "utter_no_results": "action_search_restaurants",
    }
    default_bot.respond("r", "a cheap thai restaurant in rome for 2 please")
    manager = _preferring(default_bot, "utter_no_more")  # the model would say none is left
    replies = manager.respond("r", "hmm let me think")
    assert "utter_no_more" not in [r.text for r in replies]


def test_the_suggestion_that_found_none_left_does_not_run_again_with_nothing_changed(default_bot):
    rows = [
        r
        for r in default_bot.manager.spec.kb["rows"]
        if (r["cuisine"], r["location"], r["price"]) == ("italian", "rome", "moderate")
    ]
    assert len(rows) == 1  # one restaurant: after it, none is left
    default_bot.respond("l", "a moderate italian restaurant in rome for 2 please")
    assert default_bot.respond("l", "another one please")[-1].startswith("That was the last one")
    manager = _preferring(default_bot, "action_suggest_restaurant")  # the model would look once more
    replies = manager.respond("l", "hmm let me think")
    assert "action_suggest_restaurant" not in [r.text for r in replies]


def test_numbers_in_context_and_the_fallback_when_unsure(default_bot):
    """Issue 31's misreadings: a party size of any size, a score that is no party size, and a
    question the bot has no words for answered with utter_default, not a booking."""
    said = default_bot.respond("n12", "book a table for 12 people, thai in paris, moderate")
    assert said[0] == "Let me look for moderate thai restaurants in paris for 12."
    assert default_bot.respond("n12", "do they take credit cards?") == ["Sorry, I didn't get that."]
    said = default_bot.respond("n12", "10/10, nice. yes please")
    assert said[-1].startswith("Done: a table for 12 at")  # the 10 of 10/10 is no party size


def test_no_preference_searches_any_price(default_bot):
    default_bot.respond("np", "thai in paris for 4")
    said = default_bot.respond("np", "don't care really")
    assert said[0] == "Let me look for any thai restaurants in paris for 4."  # the price left out of the search
    assert said[1].startswith("What do you think of")


def test_no_suggestion_before_a_search(default_bot):
    manager = _preferring(default_bot, "action_suggest_restaurant")  # the model would suggest at once
    replies = manager.respond("ns", "i want to go out for a meal")
    assert "action_suggest_restaurant" not in [r.text for r in replies]
    assert not any(e.text.startswith("slot restaurant") for e in default_bot.history("ns"))


def test_the_issues_misreadings_get_fitting_replies_over_rest(default_bot):
    """Issue 31's list, in everyday words, over Rasa's REST channel (seed 0's bundle)."""
    from starlette.testclient import TestClient

    from memchat.channels.rest import ServerSettings, create_app

    http = TestClient(create_app(ServerSettings(), default_bot))

    def say(sender, text):
        r = http.post("/webhooks/rest/webhook", json={"sender": sender, "message": text})
        assert r.status_code == 200
        return [m["text"] for m in r.json()]

    say("i1", "hi, italian food in rome please, cheap")
    assert say("i1", "twelve")[0] == "Let me look for cheap italian restaurants in rome for 12."  # over 10
    first = say("i2", "book a table for 2, chinese in berlin, expensive")[-1]
    second = say("i2", "nah not keen")  # unsure is not goodbye: the next one
    assert second[-1].startswith("What do you think of") and second[-1] != first
    name = re.match(r"What do you think of (.+)\? It is", first).group(1)
    assert say("i2", "No, the first one was better. Please book it.") == [
        f"Done: a table for 2 at {name}. Anything else I can do for you?"
    ]  # the first, not the latest
    say("i3", "thai in paris for 4")
    assert say("i3", "don't care really")[0] == "Let me look for any thai restaurants in paris for 4."
    say("i4", "i want indian in london for 2, moderate")
    assert say("i4", "do they take credit cards?") == ["Sorry, I didn't get that."]
    assert say("i4", "can they do a birthday cake?") == ["Sorry, I didn't get that."]
    assert say("i4", "please cancel the booking")[0].startswith("I have cancelled the table at")
    say("i5", "we are 5, spanish in berlin, cheap")
    moved = say("i5", "Oh dear, I have just realised we will be in Lisbon that week, not Berlin.")
    assert moved[0] == "Let me look for cheap spanish restaurants in lisbon for 5."
    suggested = say("i6", "mexican in madrid for 3, moderate")[-1]
    rated = re.match(r"What do you think of (.+)\? It is rated (\d+)", suggested)
    assert say("i6", "surprise me")[0].startswith(f"Done: a table for 3 at {rated.group(1)}")  # the best rated
    assert say("i6", "what's the rating of the first one again?") == [
        f"{rated.group(1)} is rated {rated.group(2)} out of 10."
    ]
