"""Rasa's own projects, as their authors ship them (``../shared/rasa-projects``, never edited, never
copied here: Sara is GPL-3.0): each trains, and its test stories score at least what Rasa 3.6
scores on them (RESULTS.md there); formbot's own actions run on rasa-sdk."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memchat.bot import Bot
from memchat.project.data import read_data
from memchat.project.folder import Project
from memchat.story_tests import run_tests
from memchat.train import train_bot

PROJECTS = Path(os.environ.get("MEMCHAT_RASA_PROJECTS", Path(__file__).resolve().parents[2] / "shared/rasa-projects"))
pytestmark = pytest.mark.skipif(not PROJECTS.is_dir(), reason=f"no Rasa projects at {PROJECTS} (../shared)")

# project, domain, test files (None: tests/), e2e, the fewest stories right (Rasa 3.6's figure)
CASES = [
    ("moodbot", None, None, True, 7),
    ("moodbot", None, None, False, 7),
    ("formbot", None, None, True, 3),
    ("formbot", None, None, False, 3),
    ("e2ebot", None, None, True, 2),
    ("e2ebot", None, None, False, 4),
    ("concertbot", None, "data/stories.yml", False, 6),
]


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    out, made = tmp_path_factory.mktemp("rasa-bundles"), {}

    def bundle(name: str, domain: str | None = None):
        if (name, domain) not in made:
            made[name, domain], _ = train_bot(PROJECTS / name, out=out, name=f"{name}-{domain}", domain=domain)
        return made[name, domain].path

    return bundle


def score(bundle: Path, name: str, domain: str | None, files: str | None, e2e: bool, db: Path):
    project = Project.read(PROJECTS / name, domain=domain)
    stories = (
        read_data([PROJECTS / name / files], PROJECTS / name, test=True).stories if files else project.tests.stories
    )
    bot = Bot.load(bundle, db=str(db))
    try:
        return run_tests(bot.manager, stories, e2e=e2e)
    finally:
        bot.close()


@pytest.mark.parametrize("name,domain,files,e2e,least", CASES)
def test_rasa_project_trains_unchanged_and_passes_its_test_stories(bundles, tmp_path, name, domain, files, e2e, least):
    report = score(bundles(name, domain), name, domain, files, e2e, tmp_path / "t.db")
    right = sum(r.right for r in report.results)
    assert right >= least, (right, report.confusions())


@pytest.mark.slow
def test_sara_trains_from_its_migrated_domain_and_passes_its_test_stories(bundles, tmp_path):
    started = time.perf_counter()
    bundle = bundles("sara", "domain_migrated.yml")
    assert time.perf_counter() - started < 300  # Rasa 3.6: 736 s with reduced epochs (figure in docs/benchmarks.md)
    e2e = score(bundle, "sara", "domain_migrated.yml", None, True, tmp_path / "e2e.db")
    assert len(e2e.results) == 25 and sum(r.right for r in e2e.results) >= 18, e2e.confusions()  # Rasa: 18
    assert e2e.action_accuracy >= 0.9


def stop(server: subprocess.Popen) -> None:
    """The action server and the workers of its session, gone."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(15)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_formbot_books_in_everyday_words_with_its_own_action_server(bundles, tmp_path, monkeypatch):
    pytest.importorskip("rasa_sdk")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "-p", str(port)],
        cwd=PROJECTS / "formbot",
        start_new_session=True,  # sanic signals its process group as it stops: not pytest's
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90  # rasa-sdk imports sanic: slow on a busy machine
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "rasa-sdk did not start"
                time.sleep(0.3)
        monkeypatch.setenv("MEMCHAT_ACTION_ENDPOINT", f"http://127.0.0.1:{port}/webhook")
        bot = Bot.load(bundles("formbot"), db=str(tmp_path / "f.db"))

        def say(text: str) -> list[str]:
            return [r.message["text"] for r in bot.manager.respond("ann", text) if r.message and r.message.get("text")]

        say("hello there")
        assert say("I would like to find a place to eat") == ["What cuisine?"]
        # its validate_restaurant_form refuses a cuisine it has not, in its own words
        assert say("klingon food") == ["Cuisine type is not in the database, please try again", "What cuisine?"]
        assert say("mexican please") == ["How many people?"]
        assert say("we'll be four") == ["Do you want to sit outside?"]
        assert say("actually make that six people") == ["Do you want to sit outside?"]  # a correction
        assert say("yes") == ["Please provide additional preferences"]
        assert say("no nuts please, one of us is allergic") == ["Please give your feedback on your experience so far"]
        done = say("it was great")
        assert done[0] == "All done!" and "num_people: 6" in done[1] and "cuisine: mexican" in done[1]
        bot.close()
        # the action server down: the fallback response, the turn stored whole
        stop(server)
        bot = Bot.load(bundles("formbot"), db=str(tmp_path / "g.db"))
        say("I would like to find a place to eat")
        assert say("klingon food") == [
            "Sorry, I didn't understand you, please try input something else",
            "What cuisine?",
        ]
        assert say("stop") == ["Do you want to continue?"]
        bot.close()
    finally:
        stop(server)


@pytest.mark.parametrize("name", ["moodbot", "formbot"])
def test_our_held_out_stories_are_held_out(name):
    """bench/heldout/: no user text of ours is an example the bot trains on (its own, or a
    wording of memchat's banks of dialogue acts): the held-out figures measure new wording."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from heldout import HERE, check_held_out

    stories = read_data(sorted((HERE / name).glob("*.yml")), HERE, test=True).stories
    assert len(stories) >= 10
    assert check_held_out(Project.read(PROJECTS / name), stories) == []


def test_formbots_stop_mid_form_is_memoized_from_its_stories():
    """Both formbot stories with `stop` while the form is on go on with utter_ask_continue: an
    intent rule while the form is active, not after its own question ("no, please stop")."""
    from memchat.project.rules import intent_rule
    from memchat.project.source import bot_spec

    rules = bot_spec(Project.read(PROJECTS / "formbot")).intent_rules
    memo = [r for r in rules if r.get("memo")]
    assert [(r["intent"], r["actions"], r["states"][0]["active_loop"]) for r in memo] == [
        ("stop", ["utter_ask_continue"], "restaurant_form")
    ]
    assert intent_rule(rules, "stop", ["restaurant_form", "utter_ask_cuisine"], {}, "restaurant_form", False)
    assert intent_rule(rules, "stop", ["utter_ask_continue"], {}, "restaurant_form", False) is None
    assert intent_rule(rules, "stop", [], {}, None, False) is None  # no form on: the model decides
