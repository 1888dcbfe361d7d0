import pytest

from memchat.bot import Bot
from memchat.dialogue.processor import DialogueManager
from memchat.dialogue.text import MAX_TEXT, clean_text
from memchat.errors import MemchatError
from memchat.nn.ranker import Ranker, Ranking

from conftest import BOOKING


def test_a_booking_goes_on_without_an_empty_message_and_the_api_call_is_never_said(bot):
    assert bot.respond("c1", "hi") == ["hello what can i help you with today"]
    # the bot goes on by itself after "i'm on it": the api call runs, people see the proposal
    assert bot.respond("c1", BOOKING) == ["i'm on it", "what do you think of this option: resto_a"]
    events = bot.history("c1")
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [(e.speaker, e.text) for e in events[3:7]] == [
        ("bot", "i'm on it"),
        ("user", "<SILENCE>"),
        ("bot", "api_call italian paris six cheap"),
        ("kb", "resto_a R_phone resto_a_phone"),
    ]
    assert events[4].data == {"implicit": True}
    assert [e.speaker for e in events[6:13]] == ["kb"] * 7
    assert (events[13].speaker, events[13].text, events[13].data) == ("user", "<SILENCE>", {"implicit": True})
    assert events[14].text == "what do you think of this option: resto_a" and len(events) == 15


def test_every_action_of_a_turn_is_returned_with_its_results(bot):
    bot.respond("c1", "hi")
    replies = bot.turn("c1", BOOKING)
    assert [(r.text, r.is_action) for r in replies] == [
        ("i'm on it", False),
        ("api_call italian paris six cheap", True),
        ("what do you think of this option: resto_a", False),
    ]
    assert replies[1].action_results[0] == "resto_a R_phone resto_a_phone"


def test_conversations_are_remembered_across_bots(small, tmp_path):
    db = str(tmp_path / "m.db")
    first = Bot.load(small / "model", db=db, kb=small / "small-kb.txt")
    first.respond("c", "hi")
    first.close()
    again = Bot.load(small / "model", db=db)  # the knowledge base is still in the database
    assert again.respond("c", BOOKING)[-1] == "what do you think of this option: resto_a"
    assert again.respond("other", "hi") == ["hello what can i help you with today"]
    again.close()


def test_an_action_no_plugin_runs_is_said_and_stored_once(small, tmp_path):
    import pluggy

    from memchat import hookspecs

    pm = pluggy.PluginManager("memchat")
    pm.add_hookspecs(hookspecs)  # no plugin at all
    bot = Bot.load(small / "model", db=str(tmp_path / "m.db"), plugin_manager=pm)
    bot.respond("c", "hi")
    assert [r.text for r in bot.turn("c", BOOKING)] == ["i'm on it", "api_call italian paris six cheap"]
    assert [e.speaker for e in bot.history("c")] == ["user", "bot"] * 3
    bot.close()


class AlwaysCalls(Ranker):
    """A model that answers every query with an api call: the loop must still end."""

    def rank(self, turns):
        ranking = super().rank(turns)
        scores = ranking.scores.copy()
        scores[ranking.candidates.index("api_call italian paris six cheap")] = 1e9
        return Ranking(scores, ranking.attention, ranking.memory, ranking.query, ranking.candidates)


def test_chained_actions_are_bounded_and_never_repeat_in_a_row(bot):
    manager = DialogueManager(
        AlwaysCalls(bot.manager.ranker.config, bot.manager.ranker.weights, bot.manager.ranker.featurizer),
        bot.store,
        bot.manager.pm,
        max_actions=3,
        continue_after=bot.manager.continue_after,
    )
    replies = manager.respond("loop", "hi")
    assert 1 <= len(replies) <= 3 and replies[0].text == "api_call italian paris six cheap"
    assert all(a.text != b.text for a, b in zip(replies, replies[1:]))  # the same action twice in a row is a loop
    assert sum(e.speaker == "bot" for e in bot.history("loop")) == len(replies)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "zzz unknown words qqq",
        "a\x00b\x1b[31mc\x7f",
        "x" * 2000,
        b"caf\xe9 \xff\xfe bytes",
        "\ud800 lone surrogate",
    ],
)
def test_odd_input_gets_an_answer_and_is_stored_clean(bot, text):
    replies = bot.respond("odd", text)
    assert len(replies) >= 1
    stored = bot.history("odd")[0].text
    assert stored and "\x00" not in stored and "\x1b" not in stored
    stored.encode("utf-8")  # valid UTF-8


def test_too_long_input_is_refused_and_nothing_is_stored(bot):
    with pytest.raises(MemchatError, match=f"message too long: 100000 characters, at most {MAX_TEXT}"):
        bot.respond("long", "x" * 100_000)
    assert bot.history("long") == []


def test_bad_conversation_ids_are_refused(bot):
    for cid in ["", "   ", "x" * 300, "a\nb"]:
        with pytest.raises(MemchatError, match="conversation id"):
            bot.respond(cid, "hi")


def test_clean_text():
    assert clean_text("  hello \t there\n") == "hello there"
    assert clean_text("") == clean_text("   ") == "<SILENCE>"
    assert clean_text(b"caf\xc3\xa9") == "café"


def test_an_action_can_be_stored_without_running_it(bot):
    bot.respond("cut", "hi")
    replies = bot.manager.respond("cut", BOOKING, run_actions=False)
    assert [r.text for r in replies] == ["i'm on it", "api_call italian paris six cheap"]
    assert replies[1].action_results is None
    assert [e.speaker for e in bot.history("cut")] == ["user", "bot"] * 3
