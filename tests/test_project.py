"""Bot projects in Rasa's format: reading and refusing, training, acting until listening, forms,
retrieval intents, slots, responses, custom actions, memchat test, init and start."""

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from memchat.cli.group import cli
from memchat.errors import MemchatError
from memchat.project.folder import Project

HERE = Path(__file__).resolve().parent
PIZZERIA = HERE / "projects" / "pizzeria"
DIALOGUES = HERE.parent / "dialogues"
STARTER = HERE.parent / "memchat" / "starter"


def test_a_project_is_read_with_everything_it_declares():
    p = Project.read(PIZZERIA)
    assert p.domain.forms == {"pizza_form": ["size", "topping"]}
    assert {"faq/opening_hours", "faq/delivery", "faq/vegan"} <= set(p.data.examples)
    assert p.data.synonyms["xl"] == "large" and "spinach" in p.data.lookups["topping"]
    ex = next(e for e in p.data.examples["inform"] if e.text == "a big one")
    assert ex.entities == [(2, 5, "size", "large")]
    assert sorted(p.entity_values()["size"]) == ["large", "medium", "small"]
    assert len(p.tests.stories) == 3 and p.tests.stories[0].steps[0].user.text == "good evening"


def test_a_form_asks_for_what_is_missing_and_the_bot_acts_until_it_listens(pizza_bot):
    assert pizza_bot.respond("a", "hello") == ["Hello! Welcome to Luigi's. What can I get you?"]
    assert pizza_bot.respond("a", "i would like to order a pizza") == [
        "What size would you like: small, medium or large?"
    ]
    assert pizza_bot.respond("a", "xl please") == ["Which topping would you like?"]  # a synonym of large
    (confirm,) = pizza_bot.messages("a", "tuna")
    assert confirm["text"] == "A large pizza with tuna. Shall I place the order?"  # slots filled
    assert [b["title"] for b in confirm["buttons"]] == ["yes", "no"]
    replies = pizza_bot.turn("a", "yes go ahead")
    assert [r.text for r in replies][0] == "action_place_order" and replies[0].is_action
    events = pizza_bot.history("a")
    stored = [(e.speaker, e.text) for e in events]
    assert ("kb", "slot size large") in stored and ("kb", "active_loop null") in stored
    assert stored[-1] == ("bot", "action_listen")
    # what people saw is kept with each response; no action name ever reached them
    shown = [e.data["message"]["text"] for e in events if e.data and "message" in e.data]
    assert "Which topping would you like?" in shown and not any("action_" in t or "utter_" in t for t in shown)


def test_retrieval_intents_pick_their_own_response(pizza_bot):
    assert pizza_bot.respond("q", "what are your opening hours") == ["We are open every day from 11 am to 11 pm."]
    assert pizza_bot.respond("q", "do you have vegan options") == ["Yes, every pizza can be made with vegan cheese."]


def test_a_custom_action_runs_through_the_plugins_with_the_tracker(pizzeria_bundle, tmp_path):
    from memchat.bot import Bot
    from memchat.plugins import new_plugin_manager

    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "orders.py").write_text(
        "from memchat.hookspecs import hookimpl\n"
        "seen = []\n"
        "@hookimpl\n"
        "def execute_action(action, tracker):\n"
        "    if action == 'action_place_order':\n"
        "        seen.append(dict(tracker.slots))\n"
        "        return {'slots': {'order_number': 'A17'}, 'lines': []}\n"
    )
    bot = Bot.load(pizzeria_bundle, db=str(tmp_path / "c.db"), plugin_manager=new_plugin_manager(folder, False))
    bot.respond("c", "can i have a small pizza with ham")
    said = bot.respond("c", "yes")
    assert said in (["Done! Your order number is A17."], ["Your pizza is on its way."])
    plugin = bot.manager.pm.get_plugin("orders")
    assert plugin.seen == [{"size": "small", "topping": "ham"}]
    # a slot that does not influence the conversation is stored, out of the model's memory
    event = next(e for e in bot.history("c") if e.text == "slot order_number A17")
    assert event.data == {"memory": False}
    bot.close()


def test_memchat_test_reports_per_action_and_per_story_and_writes_failed_stories(pizzeria_bundle, tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        cli, ["test", str(PIZZERIA), "--model", str(pizzeria_bundle), "--out", str(tmp_path / "r"), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["stories"] == 3 and report["actions"] == 19
    assert report["action_accuracy"] == report["actions_right"] / 19
    failed = (tmp_path / "r" / "failed_test_stories.yml").read_text()
    assert failed.startswith('version: "3.1"\nstories:')
    # a story the bot cannot pass: its wrong action is marked as Rasa marks it
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "stories:\n- story: wrong on purpose\n  steps:\n  - user: |\n      hello\n    intent: greet\n"
        "  - action: utter_goodbye\n"
    )
    result = runner.invoke(
        cli,
        [
            "test",
            str(PIZZERIA),
            str(bad),
            "--model",
            str(pizzeria_bundle),
            "--out",
            str(tmp_path / "r2"),
            "--fail-under",
            "0.99",
        ],
    )
    assert result.exit_code == 1 and "below --fail-under 0.99" in result.output
    failed = (tmp_path / "r2" / "failed_test_stories.yml").read_text()
    assert "- action: utter_goodbye  # predicted: utter_greet" in failed


def test_init_writes_a_small_project_that_trains_and_passes_its_tests(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["init", "mybot"])
    assert result.exit_code == 0, result.output
    lines = sum(len(p.read_text().splitlines()) for p in Path("mybot").rglob("*") if p.is_file())
    assert 100 < lines < 600
    from memchat.project.source import bundle_name

    (Path("models") / f"{bundle_name(Path('mybot'))}.old").mkdir(parents=True)  # left by a crash mid-swap
    result = runner.invoke(cli, ["test", "mybot", "--json"])
    assert result.exit_code == 0, result.output
    assert not (Path("models") / f"{bundle_name(Path('mybot'))}.old").exists()
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["stories"] == 6 and report["story_accuracy"] == 1.0  # seed 0; 100% at seeds 1 and 2 too
    assert "training mybot into models/mybot-" in result.stderr
    # trained once: the next run finds its bundle current; a changed file trains it again
    again = runner.invoke(cli, ["test", "mybot", "--json"])
    assert "training" not in again.stderr
    folder = runner.invoke(cli, ["test", "mybot", "mybot/tests", "--json"])  # a folder, as Rasa's --stories
    assert folder.exit_code == 0 and json.loads(folder.stdout.strip().splitlines()[-1])["stories"] == 6
    with Path("mybot/data/nlu.yml").open("a") as f:
        f.write("\n- intent: greet\n  examples: |\n    - yo\n")
    third = runner.invoke(cli, ["test", "mybot", "--json"])
    assert "files changed since it was trained" in third.stderr
    assert runner.invoke(cli, ["init", "mybot"]).exit_code != 0  # not over a bot that is there


def test_two_projects_named_alike_get_their_own_bundles(tmp_path):
    from memchat.project.source import bundle_name

    assert bundle_name(tmp_path / "a" / "bot") != bundle_name(tmp_path / "b" / "bot")
    assert bundle_name(tmp_path / "a" / "bot").startswith("bot-")


BROKEN = [
    ("domain.yml", "intents: [greet\n", "domain.yml:2: not valid YAML"),
    ("domain.yml", "+foo: 1\n", "domain.yml:30: 'foo': not supported in a domain"),
    (
        "data/stories.yml",
        "stories:\n- story: s\n  steps:\n  - intent: shout\n  - action: utter_greet\n",
        "data/stories.yml:4: intent 'shout' is not declared in the domain",
    ),
    (
        "data/stories.yml",
        "stories:\n- story: s\n  steps:\n  - intent: greet\n  - action: utter_nothing\n",
        "data/stories.yml:5: response 'utter_nothing' is used but not declared in the domain",
    ),
    (
        "data/stories.yml",
        "stories:\n- story: s\n  steps:\n  - intent: greet\n  - slot_was_set:\n    - colour: red\n",
        "data/stories.yml:5: slot 'colour' is not declared in the domain",
    ),
    (
        "data/stories.yml",
        "stories:\n- story: s\n  steps:\n  - intent: greet\n    entities:\n    - colour: red\n",
        "data/stories.yml:4: entity 'colour' is not declared in the domain",
    ),
    (
        "data/stories.yml",
        "stories:\n- story: s\n  steps:\n  - intent: greet\n  - action: utter_greet\n    wait: 1\n",
        "data/stories.yml:5: a step has one key",
    ),
    (
        "data/nlu.yml",
        "nlu:\n- regex: zip\n  examples: |\n    - [0-9\n",
        "data/nlu.yml:4: regex 'zip': not a regular expression",
    ),
    (
        "data/nlu.yml",
        "nlu:\n- intent: greet\n  examples: |\n    - hi [there](colour)\n",
        "data/nlu.yml:2: intent 'greet': entity 'colour' is not declared in the domain",
    ),
    (
        "data/more.yml",
        "responses:\n  utter_x:\n  - txt: x\n",
        "data/more.yml:3: response 'utter_x': a variation needs a 'text'",
    ),
    (
        "data/stories.yml",
        "stories:\n- story: s\n  steps:\n  - bot: 1\n",
        "data/stories.yml:4: expected '- bot: text' alone in its step",
    ),
    (
        "domain.yml",
        "+forms:\n  f:\n    required_slots: [name]\n    mode: strict\n",
        "'mode' is not supported (required_slots, ignored_intents)",
    ),
]


@pytest.mark.parametrize("name,text,message", BROKEN)
def test_a_bad_project_is_one_line_naming_file_and_line(tmp_path, name, text, message):
    folder = tmp_path / "bot"
    shutil.copytree(STARTER, folder)
    if text.startswith("+"):  # appended to the starter's file
        text = (folder / name).read_text() + text[1:]
    (folder / name).write_text(text)
    runner = CliRunner()
    result = runner.invoke(cli, ["train", str(folder), "--out", str(tmp_path / "m")])
    assert result.exit_code == 1, result.output
    (line,) = [x for x in result.output.splitlines() if x.strip()]
    assert message in line and "Traceback" not in result.output, line


def test_a_story_intent_without_examples_is_noted_and_left_out(tmp_path):
    folder = tmp_path / "bot"
    shutil.copytree(STARTER, folder)
    domain = (folder / "domain.yml").read_text().replace("  - bot_challenge\n", "  - bot_challenge\n  - shout\n")
    (folder / "domain.yml").write_text(domain)
    (folder / "data" / "rules.yml").write_text(
        "rules:\n- rule: r\n  steps:\n  - intent: shout\n  - action: utter_greet\n"
    )
    project = Project.read(folder)  # Rasa warns and goes on: so does memchat
    assert any(n.startswith("data/rules.yml:4: intent 'shout' has no NLU examples") for n in project.notes)
    assert project.unsaid == {"shout"}


def test_rasa_config_is_not_read_and_says_so(tmp_path):
    folder = tmp_path / "bot"
    shutil.copytree(STARTER, folder)
    (folder / "config.yml").write_text("pipeline: []\npolicies: []\n")
    notes = [n for n in Project.read(folder).notes if " is memchat's act " not in n]  # the banks' notes aside
    assert notes == ["config.yml: Rasa's pipeline and policies are not read; memchat's settings are in config.toml"]


def test_yaml_11_booleans_stay_words(tmp_path):
    from memchat.project.yamlfile import load_yaml

    (tmp_path / "x.yml").write_text("nlu:\n- intent: affirm\n  examples:\n  - yes\n  - on\n")
    assert load_yaml(tmp_path / "x.yml")["nlu"][0]["examples"] == ["yes", "on"]


def test_a_slip_in_an_entity_word_still_finds_it_and_known_words_are_never_bent():
    from memchat.nn.entities import EntityTable, tokenize

    table = EntityTable.from_values(
        {"cuisine": ["italian", "thai"], "price": ["cheap", "moderate", "expensive"], "people": ["three"]},
        {"budget": "cheap", "mid range": "moderate"},
    )
    table.fuzzy(["that", "cheer", "the", "mid", "range", "rage", "there"])
    found = {
        text: [table.words_of[i] for i in table.find(tokenize(text))]
        for text in ["itallian please", "cheep", "somethin expnsive", "budgett", "that one", "cheer up", "thia"]
        + ["mid rnage", "mid arnge", "mid rage", "rnage", "thre", "threee"]
    }
    assert found == {
        "itallian please": ["italian"],
        "cheep": ["cheap"],
        "somethin expnsive": ["expensive"],
        "budgett": ["cheap"],
        "that one": [],
        "cheer up": [],
        "thia": ["thai"],  # two letters swapped
        "mid rnage": ["moderate"],  # a slip in a word of a several-word value
        "mid arnge": ["moderate"],
        "mid rage": [],  # a word the bot knows is never bent
        "rnage": [],  # a word of a several-word value alone is no value
        "thre": [],  # a letter left out of three, and of there: neither
        "threee": ["three"],
    }


def test_a_project_bot_understands_a_slip_in_a_value(pizza_bot):
    pizza_bot.respond("s", "i'd like to order a pizza")
    assert pizza_bot.respond("s", "a mediun one") == ["Which topping would you like?"]
    assert ("kb", "slot size medium") in [(e.speaker, e.text) for e in pizza_bot.history("s")]


def test_the_slip_indexes_are_made_at_the_first_slip_not_at_load(pizzeria_bundle, tmp_path):
    """A start does not pay for the slip indexes (SlipIndex): messages of known words leave them
    unmade; the first slip makes them, and is read as the word it stands for."""
    from memchat.bot import Bot

    bot = Bot.load(pizzeria_bundle, db=str(tmp_path / "s.db"))
    featurizer = bot.manager.ranker.featurizer
    indexes = [featurizer.spelling, featurizer.entities._near, featurizer.entities._known_near]

    def made() -> list[bool]:
        return ["index" in vars(i) for i in indexes]

    assert made() == [False, False, False]
    bot.respond("s", "i'd like to order a pizza")
    assert made() == [False, False, False]
    assert bot.respond("s", "a mediun one") == ["Which topping would you like?"]
    assert made() == [True, True, True]
    assert ("kb", "slot size medium") in [(e.speaker, e.text) for e in bot.history("s")]


TERRACE = HERE / "projects" / "terrace"


def test_mappings_real_projects_use_from_intent_from_text_conditions_and_numbers(tmp_path):
    from memchat.bot import Bot
    from memchat.train import train_bot

    p = Project.read(TERRACE)
    assert any("request_table': use_entities accepted" in n for n in p.notes)
    bundle, _ = train_bot(TERRACE, out=tmp_path, name="t", seed=0)
    bot = Bot.load(bundle.path, db=str(tmp_path / "t.db"))
    assert bot.respond("c", "can you find me a table") == ["Which cuisine?"]
    assert bot.respond("c", "greek please") == ["For how many?"]
    assert bot.respond("c", "we will be six") == ["Would you like to sit outside?"]  # a number no example has
    assert bot.respond("c", "no thanks") == ["Anything else we should know?"]  # from_intent: deny is false
    assert bot.respond("c", "a table away from the kitchen") == [  # from_text, while the form asks for it
        "All set: greek for 6, outside: false, notes: a table away from the kitchen."
    ]
    bot.close()


FOLLOW_UPS = """
- rule: a greeting, then the size asked at once
  steps:
  - action: utter_greet
  - action: utter_ask_size
- rule: an order placed with a number, then say it
  steps:
  - action: action_place_order
  - slot_was_set:
    - order_number
  - action: utter_ordered
- rule: the toppings asked, then wait
  steps:
  - action: utter_ask_topping
"""


def _with_follow_ups(tmp_path, text=FOLLOW_UPS):
    project = tmp_path / "pizzeria"
    shutil.copytree(PIZZERIA, project)
    rules = project / "data" / "rules.yml"
    rules.write_text(rules.read_text() + text)
    return project


def test_follow_up_rules_are_applied_as_the_bot_talks(pizza_bot, tmp_path):
    from memchat.project.source import bot_spec

    assert pizza_bot.respond("before", "hello") == ["Hello! Welcome to Luigi's. What can I get you?"]
    project = Project.read(_with_follow_ups(tmp_path))
    spec = bot_spec(project)
    assert [r["actions"] for r in spec.rules] == [
        ["utter_greet", "utter_ask_size"],
        ["action_place_order", "utter_ordered"],
        ["utter_ask_topping"],
    ]
    pizza_bot.manager.spec.rules = spec.rules  # the same model, with the rules its bundle would keep
    assert pizza_bot.respond("after", "hello") == [
        "Hello! Welcome to Luigi's. What can I get you?",
        "What size would you like: small, medium or large?",
    ]
    assert [e.text for e in pizza_bot.history("after")][-1] == "action_listen"  # the rule's end: it listens
    # the slot_was_set step must hold: no order number, no utter_ordered by the rule
    from memchat.project.rules import follow_up

    assert follow_up(spec.rules, ["action_place_order"], {}, None) is None
    assert follow_up(spec.rules, ["action_place_order"], {"order_number": "A1"}, None) == "utter_ordered"
    assert follow_up(spec.rules, ["utter_greet", "utter_ask_size"], {}, None) == "action_listen"
    assert follow_up(spec.rules, ["booking", "utter_ask_topping"], {}, None) == "action_listen"
    # a rule of one action is no training dialogue (it would teach the bot to speak unbidden);
    # longer ones are, like every rule
    from memchat.project.generate import Generator
    from memchat.project.interpreter import Interpreter

    gen = Generator(project, Interpreter(pizza_bot.manager.ranker.featurizer.entities, {}), seed=0)
    lines = {d.line for d in gen.dialogs(1) if d.source.endswith("rules.yml")}
    one_action = next(s for s in project.data.stories if s.name == "the toppings asked, then wait")
    two_actions = next(s for s in project.data.stories if s.name == "a greeting, then the size asked at once")
    assert int(one_action.at.split(":")[-1]) not in lines and int(two_actions.at.split(":")[-1]) in lines


def test_contradicting_follow_up_rules_are_one_line(tmp_path):
    from memchat.project.source import bot_spec

    clash = FOLLOW_UPS + "- rule: a greeting, then bye\n  steps:\n  - action: utter_greet\n  - action: utter_goodbye\n"
    with pytest.raises(MemchatError, match=r"rules\.yml:\d+: rule 'a greeting, then bye' contradicts"):
        bot_spec(Project.read(_with_follow_ups(tmp_path, clash)))


def test_conditional_response_variations_are_said_only_when_their_slots_hold(tmp_path):
    from memchat.project.source import bot_spec

    project = tmp_path / "pizzeria"
    shutil.copytree(PIZZERIA, project)
    domain = project / "domain.yml"
    domain.write_text(
        domain.read_text().replace(
            '  utter_greet:\n    - text: "Hello! Welcome to Luigi\'s. What can I get you?"\n',
            "  utter_greet:\n"
            "    - condition:\n        - type: slot\n          name: size\n          value: large\n"
            '      text: "Hello again, big eater!"\n'
            '    - text: "Hello! Welcome to Luigi\'s. What can I get you?"\n'
            "  utter_only_with_order:\n"
            "    - condition:\n        - type: slot\n          name: order_number\n          value: null\n"
            '      text: "No order yet."\n',
        )
    )
    spec = bot_spec(Project.read(project))
    assert spec.render("utter_greet", {})["text"] == "Hello! Welcome to Luigi's. What can I get you?"
    assert spec.render("utter_greet", {"size": "large"}) == {"text": "Hello again, big eater!"}  # no 'condition'
    assert spec.renderable("utter_only_with_order", {}) and spec.renderable("utter_only_with_order", {"x": "1"})
    assert not spec.renderable("utter_only_with_order", {"order_number": "A17"})  # the only variation: never said
    domain.write_text(domain.read_text().replace("name: order_number", "name: nothing_such"))
    with pytest.raises(MemchatError, match=r"domain.yml:\d+: response 'utter_only_with_order': its condition names"):
        Project.read(project)


def test_a_question_asked_again_comes_after_the_fallback_response(tmp_path):
    """A form whose answer was not understood asks again, after Rasa's fallback response
    (utter_default) when the domain has one: never the same question twice in a row alone."""
    from memchat.bot import Bot
    from memchat.train import train_bot

    project = tmp_path / "pizzeria"
    shutil.copytree(PIZZERIA, project)
    domain = project / "domain.yml"
    domain.write_text(
        domain.read_text().replace(
            "responses:\n", 'responses:\n  utter_default:\n    - text: "Sorry, I didn\'t get that."\n', 1
        )
    )
    bundle, _ = train_bot(project, out=tmp_path, name="b", seed=0)
    bot = Bot.load(bundle.path, db=str(tmp_path / "f.db"))
    try:
        said = bot.respond("f", "i would like to order a pizza")
        question = said[-1]
        assert question.startswith("What size would you like")
        last, fallbacks = question, 0
        for text in ("zzzz qqqq", "blorp", "qqqq zzzz"):
            said = bot.respond("f", text)
            assert said != [last]  # never the bare question again
            assert "Which topping would you like?" not in said  # nor another slot's question
            fallbacks += said == ["Sorry, I didn't get that.", question]  # the form goes on where it was
            last = said[-1]
        assert fallbacks
    finally:
        bot.close()


def test_value_cues_are_the_words_an_entity_stands_beside():
    from memchat.project.source import value_cues

    cues = value_cues(Project.read(DIALOGUES))
    assert "in" in cues["location"]["before"] and "food" in cues["cuisine"]["after"]
    assert not any("please" in c["after"] or "a" in c["before"] for c in cues.values())  # beside everything


def test_a_word_never_seen_where_a_value_goes_is_a_value_the_bot_lacks():
    from memchat.nn.entities import EntityTable
    from memchat.project.interpreter import Interpreter

    table = EntityTable.from_values({"location": ["paris"], "cuisine": ["thai"]})
    known = {"a", "table", "in", "it", "is", "who", "wrote", "the", "food", "please", "s", "winning", "thanks"}
    cues = {"location": {"before": ["in"], "after": []}, "cuisine": {"before": [], "after": ["food"]}}
    interpreter = Interpreter(table, {}, value_cues=cues, knows=known.__contains__)
    found = {
        text: interpreter.unknown_values(text, asked="location")
        for text in ["a table in dublin", "korean food please", "tokyo it is", "in paris", "who wrote hamlet"]
        + ["who's winning the football", "in dublin, thanks", "a table in the dublin area"]
    }
    assert found == {
        "a table in dublin": [("location", "dublin")],
        "korean food please": [("cuisine", "korean")],
        "tokyo it is": [("location", "tokyo")],  # a short answer to the question
        "in paris": [],  # a value it has
        "who wrote hamlet": [],  # words it knows
        "who's winning the football": [],  # a question is no answer
        "in dublin, thanks": [("location", "dublin")],
        "a table in the dublin area": [],  # nothing beside it says where
    }
    assert interpreter.unheard("zzzz qqqq") and not interpreter.unheard("zzzz paris") and not interpreter.unheard("?")


def test_a_slip_nearer_another_word_is_no_entity():
    from memchat.nn.entities import EntityTable, tokenize

    table = EntityTable.from_values({"cuisine": ["thai"], "price": ["cheap"]})
    table.fuzzy(["thank", "cheer"])
    find = {t: [table.words_of[i] for i in table.find(tokenize(t))] for t in ["thak you", "thia", "cheep"]}
    # thank with a letter left out, sooner than thai with one changed; cheap and cheer one letter changed each
    assert find == {"thak you": [], "thia": ["thai"], "cheep": ["cheap"]}


def test_every_nlu_example_is_used_before_any_is_used_again():
    from memchat.nn.entities import EntityTable
    from memchat.project.generate import Generator
    from memchat.project.interpreter import Interpreter
    from memchat.project.source import bot_spec

    project = Project.read(DIALOGUES)
    table = EntityTable.from_values(project.entity_values(), project.synonyms())
    spec = bot_spec(project)
    dialogs = Generator(project, Interpreter(table, spec.slot_mappings), seed=0).dialogs(40)
    said = {t.text for d in dialogs for t in d.turns if t.speaker == "user"}
    off_topic = [ex.text for ex in project.data.examples["out_of_scope"]]
    assert len(off_topic) > 40 and set(off_topic) <= said  # drawn at random, 80 draws leave ~7 out


INTENT_RULES = """
- rule: a yes to the order's confirmation places it
  steps:
  - action: utter_confirm
  - intent: affirm
  - action: action_place_order
- rule: a greeting in the middle
  condition:
  - active_loop: pizza_form
  steps:
  - intent: greet
  - action: utter_greet
  - action: pizza_form
  - active_loop: pizza_form
"""


def test_intent_rules_apply_after_their_actions_and_in_their_state(tmp_path):
    from memchat.project.rules import intent_rule
    from memchat.project.source import bot_spec

    spec = bot_spec(Project.read(_with_follow_ups(tmp_path, INTENT_RULES)))
    rules = {r["name"]: r for r in spec.intent_rules}
    assert set(rules) >= {"a yes to the order's confirmation places it", "answer questions at any time"}
    assert not any(r["actions"][0].startswith("utter_confirm") for r in spec.rules)  # no follow-up rule
    yes = rules["a yes to the order's confirmation places it"]
    assert (yes["intent"], yes["before"], yes["actions"]) == ("affirm", ["utter_confirm"], ["action_place_order"])
    assert intent_rule(spec.intent_rules, "affirm", ["utter_ask_size", "utter_confirm"], {}, None, False) is yes
    assert intent_rule(spec.intent_rules, "affirm", ["utter_greet"], {}, None, False) is None  # not after it
    greet = rules["a greeting in the middle"]
    assert intent_rule(spec.intent_rules, "greet", [], {}, "pizza_form", False) is greet
    start = intent_rule(spec.intent_rules, "greet", [], {}, None, True)
    assert start["name"] == "greet at the start"
    assert intent_rule(spec.intent_rules, "greet", [], {}, None, False) is None  # not at the start
    # a rule with no active_loop condition does not interrupt a form
    assert intent_rule(spec.intent_rules, "goodbye", [], {}, "pizza_form", False) is None
    assert intent_rule(spec.intent_rules, "goodbye", [], {}, None, False)["actions"] == ["utter_goodbye"]


def test_an_intent_is_certain_only_near_one_intent_and_far_from_the_others():
    from memchat.project.intents import IntentMatcher

    m = IntentMatcher(
        {"thank": ["thanks a lot", "thank you"], "deny": ["no thanks", "no"], "faq/hours": ["when are you open"]}
    )
    assert m.certain("thanks a lot!") == "thank"
    assert m.certain("no thanks a lot") is None  # near both: thank and deny
    assert m.certain("a table for two") is None  # near nothing
    assert m.certain("when are you open today") == "faq/hours"  # a retrieval intent, whole
    assert m.intent("no thanks a lot") in ("thank", "deny")


def test_the_nearest_example_of_each_intent_is_the_cosine_of_their_3_gram_counts():
    """IntentMatcher's sparse table gives what the cosines say, computed here one by one: the
    nearest example of each intent sharing a 3-gram, nearest first, entities read as their type."""
    from collections import Counter

    from memchat.nn.entities import EntityTable
    from memchat.project.intents import IntentMatcher

    examples = {
        "inform": ["i want thai food", "dim sum please", "thai"],
        "greet": ["hello there", "hi"],
        "empty": [""],  # no 3-gram: no example
        "thank": ["thanks a lot", "thank you so much"],
    }
    m = IntentMatcher(examples, EntityTable.from_values({"cuisine": ["thai", "dim sum"]}, {}))

    def grams(text):  # texts of words and spaces only: their tokens are their words
        marked = f" {text.replace('dim sum', '<cuisine>').replace('thai', '<cuisine>')} "
        return Counter(marked[i : i + 3] for i in range(len(marked) - 2))

    def cosine(a, b):
        dot = sum(n * b[g] for g, n in a.items())
        return dot / (sum(v * v for v in a.values()) ** 0.5 * sum(v * v for v in b.values()) ** 0.5)

    for text in ["some dim sum food please", "hello thanks", "thank u", "i want food there", "thai thai"]:
        said, expected = grams(text), {}
        for intent, texts in examples.items():
            for example in (grams(t) for t in texts if t):
                if said.keys() & example.keys():
                    expected[intent] = max(expected.get(intent, 0.0), cosine(said, example))
        got = m.nearest(text)
        assert [i for _, i in got] == sorted(expected, key=lambda i: -expected[i]) and got, text
        assert all(abs(c - expected[i]) < 1e-12 for c, i in got), text
    assert len(m.nearest("hello thanks")) == 2 and m.nearest("xyz") == [] and m.certain("thanks a lot") == "thank"


def test_a_bundle_keeps_the_intent_matcher_s_table_and_a_start_reads_it(pizzeria_bundle, tmp_path):
    """The table of the NLU examples' 3-grams is made as the bot is built and kept in the bundle
    (``bot.intent_index``): a start reads it, equal to the table the examples give; a bundle
    without it makes it from the examples; a damaged one is one line naming the field."""
    import json

    import numpy as np

    from memchat.bot import Bot
    from memchat.errors import MemchatError
    from memchat.nn.bundle import load_bundle
    from memchat.project.intents import IntentMatcher

    meta = json.loads((pizzeria_bundle / "metadata.json").read_text())
    assert meta["bot"]["intent_index"]["grams"]
    bot = Bot.load(pizzeria_bundle, db=str(tmp_path / "a.db"))
    kept = bot.manager.interpreter.matcher
    made = IntentMatcher(meta["bot"]["intent_examples"], load_bundle(pizzeria_bundle).featurizer.entities)
    assert kept.gram_ids == made.gram_ids and (kept.names, kept.starts) == (made.names, made.starts)
    for name in ("example", "count", "at", "norms"):
        assert np.array_equal(getattr(kept, name), getattr(made, name)), name
    said = ["two large pizzas please", "thanks a lot", "what time do you open", "hello there", "no"]
    assert [kept.nearest(t) for t in said] == [made.nearest(t) for t in said]
    bot.close()

    def copy_with(index):
        folder = tmp_path / f"b{len(list(tmp_path.iterdir()))}"
        shutil.copytree(pizzeria_bundle, folder)
        edited = json.loads(json.dumps(meta))
        edited["bot"]["intent_index"] = index
        if index is None:
            del edited["bot"]["intent_index"]
        (folder / "metadata.json").write_text(json.dumps(edited))
        return folder

    older = Bot.load(copy_with(None), db=str(tmp_path / "b.db"))  # made before bundles kept it
    assert [older.manager.interpreter.matcher.nearest(t) for t in said] == [made.nearest(t) for t in said]
    older.close()
    index = meta["bot"]["intent_index"]
    for damage, said_wrong in [
        ({**index, "example": [len(index["norms"])] + index["example"][1:]}, "'example' must hold examples 0 to"),
        ({**index, "names": ["no_such_intent"] + index["names"][1:]}, "'names' must be distinct intents"),
        ({**index, "at": index["at"][:-1]}, "'at' must rise from 0 to"),
        ({**index, "count": ["x"] * len(index["count"])}, "must be whole numbers"),
        ({k: v for k, v in index.items() if k != "norms"}, "expected a table of lists"),
    ]:
        folder = copy_with(damage)
        with pytest.raises(MemchatError) as e:
            Bot.load(folder, db=str(tmp_path / "damaged.db"))
        assert str(e.value).startswith(f"{folder}/metadata.json: field 'bot.intent_index': ")
        assert said_wrong in str(e.value) and "\n" not in str(e.value)
        assert not (tmp_path / "damaged.db").exists()  # refused before the store is opened


@pytest.mark.parametrize(
    "damage, field, expected",
    [
        (lambda b: b.update(responses="x"), "bot.responses", "expected a table (a JSON object)"),
        (lambda b: b["forms"].update(pizza_form="size"), "bot.forms.pizza_form", "expected a list"),
        (lambda b: b["actions"].append(3), "bot.actions[", "expected a string"),
        (lambda b: b["intent_examples"].update(greet="hi"), "bot.intent_examples.greet", "expected a list"),
        (lambda b: b["intent_sure"].update(sure="high"), "bot.intent_sure.sure", "expected a number"),
        (lambda b: b["intent_rules"][0]["states"].pop(), "bot.intent_rules[0].states", "than its actions"),
        (lambda b: b["intent_rules"][0].pop("wait"), "bot.intent_rules[0]", "expected a key 'wait'"),
        (lambda b: b.update(kb="table"), "bot.kb", "expected null or a table (a JSON object)"),
        (lambda b: b.update(quiet_slots=[None]), "bot.quiet_slots[0]", "expected a string"),
    ],
)
def test_a_damaged_bot_in_a_bundle_is_one_line_naming_the_field(pizzeria_bundle, tmp_path, damage, field, expected):
    """A bundle's ``bot`` (the project's runtime) is checked as it loads: an edited or damaged
    field is one line naming the file and the field, before a store is opened, never a traceback
    in the middle of a conversation."""
    import json

    from memchat.bot import Bot
    from memchat.errors import MemchatError

    folder = tmp_path / "b"
    shutil.copytree(pizzeria_bundle, folder)
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["bot"]["intent_rules"] and meta["bot"]["forms"] and meta["bot"]["actions"]  # what the damages edit
    meta["bot"].setdefault("intent_sure", {"sure": 0.5})
    damage(meta["bot"])
    (folder / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(MemchatError) as e:
        Bot.load(folder, db=str(tmp_path / "d.db"))
    said = str(e.value)
    assert said.startswith(f"{folder}/metadata.json: field '{field}") and said.endswith(expected) and "\n" not in said
    assert not (tmp_path / "d.db").exists()


def test_how_sure_of_an_intent_a_rule_needs_is_a_project_setting(tmp_path):
    from memchat.project.intents import IntentMatcher
    from memchat.project.source import bot_spec

    project = tmp_path / "pizzeria"
    shutil.copytree(PIZZERIA, project)
    settings = project / "config.toml"
    before = settings.read_text() if settings.is_file() else ""
    settings.write_text(before + "\n[rules]\nsure = 0.9\nmargin = 0.3\n")
    spec = bot_spec(Project.read(project))
    assert spec.intent_sure == {"sure": 0.9, "margin": 0.3}
    examples = {"thank": ["thanks a lot", "thank you"], "deny": ["no"]}
    assert IntentMatcher(examples).certain("thanks a lot mate") == "thank"  # cosine 0.84
    assert IntentMatcher(examples, **spec.intent_sure).certain("thanks a lot mate") is None  # not 0.9
    from memchat.nn.entities import EntityTable
    from memchat.project.interpreter import Interpreter

    reads = Interpreter(EntityTable.from_values({}, {}), {}, examples, intent_sure=spec.intent_sure)
    assert reads.matcher.certain("thanks a lot mate") is None  # what the dialogue manager builds
    for bad, said in [
        ("sure = 2", "[rules] sure: expected a number from 0 to 1, got 2"),
        ("sure = 'high'", "[rules] sure: expected a number from 0 to 1, got 'high'"),
        ("certainty = 0.5", "[rules] certainty: unknown setting (sure, margin, fallback)"),
    ]:
        settings.write_text(before + f"\n[rules]\n{bad}\n")
        with pytest.raises(MemchatError, match=re.escape(f"{settings}: {said}")):
            Project.read(project)
