import json
import logging
import re
import subprocess
import sys
from pathlib import Path

from memchat import hookspecs
from memchat.bot import Bot
from memchat.plugins import get_plugin_manager, new_plugin_manager

from conftest import BOOKING

DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
GREETING = "hello what can i help you with today"

RULES = """
from memchat.hookspecs import hookimpl

@hookimpl
def rewrite_user_turn(conversation_id, text):
    return "hi" if text == "hola" else None

@hookimpl
def veto_reply(conversation_id, reply, history):
    return reply == "{vetoed}" or None
"""

SHOUT = """
from memchat.hookspecs import hookimpl

@hookimpl
def rewrite_user_turn(conversation_id, text):
    return text.replace("bonjour", "hola")
"""

BROKEN_HOOKS = """
from memchat.hookspecs import hookimpl

@hookimpl
def rewrite_user_turn(conversation_id, text):
    raise ValueError("rewrite broke")

@hookimpl
def veto_reply(conversation_id, reply, history):
    raise KeyError("veto broke")

@hookimpl(tryfirst=True)
def execute_action(store, conversation_id, action):
    raise RuntimeError("action broke")
"""


def plugin_dir(tmp_path: Path, **files: str) -> Path:
    folder = tmp_path / "plugins"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.py").write_text(text)
    return folder


def load(small, tmp_path, folder) -> Bot:
    pm = new_plugin_manager(folder, entry_points=False)
    return Bot.load(small / "model", db=str(tmp_path / "m.db"), kb=small / "small-kb.txt", plugin_manager=pm)


def test_every_hook_is_documented():
    documented = set(re.findall(r"^### `(\w+)\(", DOCS.read_text(), re.M))
    hooks = {name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "memchat_spec")}
    assert len(hooks) >= 6 and hooks == documented


def test_the_builtin_plugins_are_loaded_and_nothing_else_under_tests():
    pm = get_plugin_manager()
    assert [name for name, _ in pm.list_name_plugin()] == ["memchat_plugins.kb"]
    assert {h.name for h in pm.get_hookcallers(pm.get_plugin("memchat_plugins.kb"))} == {
        "register_commands",
        "load_knowledge_base",
        "execute_action",
    }


def test_plugins_dir_rewrites_chain_and_the_original_is_kept(small, tmp_path):
    folder = plugin_dir(tmp_path, rules=RULES.format(vetoed="nothing"), shout=SHOUT, _private="raise SystemExit")
    bot = load(small, tmp_path, folder)
    assert bot.respond("c", "bonjour") == [GREETING]  # shout: bonjour -> hola, then rules: hola -> hi
    (user, _) = bot.history("c")
    assert (user.text, user.data) == ("hi", {"original": "bonjour"})
    bot.close()


def test_a_vetoed_reply_gives_way_to_the_next_best(small, tmp_path):
    bot = load(small, tmp_path, plugin_dir(tmp_path, rules=RULES.format(vetoed=GREETING)))
    reply = bot.turn("c", "hi")[0]
    ranked = [text for text, _ in reply.ranking.top(2)]
    assert ranked[0] == GREETING and reply.text == ranked[1]
    assert [e.text for e in bot.history("c")][:2] == ["hi", ranked[1]]
    bot.close()


def test_when_every_reply_is_vetoed_the_bot_is_silent_and_the_user_turn_kept(small, tmp_path):
    folder = plugin_dir(
        tmp_path,
        all_=(
            "from memchat.hookspecs import hookimpl\n"
            "@hookimpl\ndef veto_reply(conversation_id, reply, history):\n    return True\n"
        ),
    )
    bot = load(small, tmp_path, folder)
    assert bot.respond("c", "hi") == []
    assert [(e.speaker, e.text) for e in bot.history("c")] == [("user", "hi")]
    bot.close()


def test_a_plugin_that_raises_is_named_and_the_turn_still_answered(small, tmp_path, caplog):
    bot = load(small, tmp_path, plugin_dir(tmp_path, broken=BROKEN_HOOKS))
    with caplog.at_level(logging.ERROR, logger="memchat.plugins"):
        assert bot.respond("c", "hi") == [GREETING]
        replies = bot.turn("c", BOOKING)
    assert [r.text for r in replies] == [
        "i'm on it",
        "api_call italian paris six cheap",
        "what do you think of this option: resto_a",
    ]
    assert "plugin broken failed in execute_action: RuntimeError: action broke" in map(str, replies[1].plugin_failures)
    logged = caplog.text
    for hook, error in [
        ("rewrite_user_turn", "ValueError"),
        ("veto_reply", "KeyError"),
        ("execute_action", "RuntimeError"),
    ]:
        assert f"plugin broken failed in {hook}: {error}" in logged
    user, bot_reply = bot.history("c")[:2]
    assert user.data["plugin_errors"] == ["plugin broken failed in rewrite_user_turn: ValueError: rewrite broke"]
    assert bot_reply.data["plugin_errors"] == ["plugin broken failed in veto_reply: KeyError: 'veto broke'"]
    bot.close()


def test_a_plugin_file_that_fails_to_import_is_named_and_skipped(tmp_path, caplog):
    folder = plugin_dir(tmp_path, bad="import no_such_module_here", good=RULES.format(vetoed="x"))
    with caplog.at_level(logging.ERROR, logger="memchat.plugins"):
        pm = new_plugin_manager(folder, entry_points=False)
    assert "plugin bad" in caplog.text and "No module named 'no_such_module_here'" in caplog.text
    assert pm.get_plugin("good") is not None and pm.get_plugin("bad") is None


def test_memchat_plugins_lists_plugins_and_their_hooks(tmp_path):
    folder = plugin_dir(tmp_path, rules=RULES.format(vetoed="x"))
    run = subprocess.run(
        [sys.executable, "-m", "memchat", "--plugins-dir", str(folder), "plugins"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    listed = {p["name"]: p for p in json.loads(run.stdout)}
    assert listed["rules"]["hooks"] == ["rewrite_user_turn", "veto_reply"]
    assert listed["rules"]["source"] == str(folder / "rules.py")
    assert listed["memchat_plugins.kb"]["source"] == "built-in"


def test_a_missing_plugins_dir_is_one_line(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "memchat", "--plugins-dir", str(tmp_path / "nope"), "plugins"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert run.returncode != 0 and "Traceback" not in run.stderr and "nope" in run.stderr


def test_a_plugin_that_raises_while_an_intent_rule_is_vetoed_is_still_named(pizzeria_bundle, tmp_path):
    """A flaky plugin fails the first time it is asked (about the greet rule's action), then
    another vetoes that action (pluggy calls the last registered first): the rule gives way to
    the model, and the failure is on the turn's first reply, not lost with the rule."""
    folder = plugin_dir(
        tmp_path,
        z_flaky="from memchat.hookspecs import hookimpl\n\nasked = []\n\n@hookimpl\n"
        "def veto_reply(conversation_id, reply, history):\n    asked.append(reply)\n"
        "    if len(asked) == 1:\n        raise TimeoutError(f'{reply} timed out')\n",
        a_vetoes="from memchat.hookspecs import hookimpl\n\n@hookimpl\n"
        "def veto_reply(conversation_id, reply, history):\n    return reply == 'utter_greet' or None\n",
    )
    pm = new_plugin_manager(folder, entry_points=False)
    bot = Bot.load(pizzeria_bundle, db=str(tmp_path / "p.db"), plugin_manager=pm)
    replies = bot.turn("c", "hello")
    assert "utter_greet" not in [r.text for r in replies]
    failures = [str(f) for r in replies for f in r.plugin_failures]
    assert failures == ["plugin z_flaky failed in veto_reply: TimeoutError: utter_greet timed out"]
    bot.close()
