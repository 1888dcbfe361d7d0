"""The framework adapters of plugins/adapters, each run in its real framework (the optional extras
memchat[rasa], memchat[errbot], memchat[botframework]; skipped where one is not installed)."""

import asyncio
import logging
import subprocess
import sys
import time

import pytest

from conftest import BOOKING, free_port, wait_until_serving

GREETING = "hello what can i help you with today"
BOOKED = ["i'm on it", "what do you think of this option: resto_a"]  # the api call runs, and is never sent


@pytest.fixture
def memchat_env(small, tmp_path, monkeypatch):
    """The environment the adapters load their bot from, and a fresh shared bot around the test."""
    import memchat_plugins.adapters as adapters

    db = tmp_path / "adapter.db"
    monkeypatch.setenv("MEMCHAT_MODEL", str(small / "model"))
    monkeypatch.setenv("MEMCHAT_DB", str(db))
    monkeypatch.setenv("MEMCHAT_KB", str(small / "small-kb.txt"))
    monkeypatch.setattr(adapters, "_bot", None)
    yield db
    if adapters._bot is not None:
        adapters._bot.close()


def history(small, db, conversation_id):
    from memchat.bot import Bot

    bot = Bot.load(small / "model", db=str(db))
    try:
        return [(e.speaker, e.text) for e in bot.history(conversation_id)]
    finally:
        bot.close()


# ---- Rasa: a real rasa-sdk action server, posted the JSON Rasa sends ---------------------
def rasa_call(sender: str, text: str, version: str) -> dict:
    """The body Rasa posts to an action server's /webhook to run ``action_memchat``."""
    latest = {"text": text, "intent": {"name": "nlu_fallback", "confidence": 1.0}, "entities": [], "intent_ranking": []}
    return {
        "next_action": "action_memchat",
        "sender_id": sender,
        "version": version,
        "domain": {
            "version": "3.1",
            "actions": ["action_memchat"],
            "intents": ["nlu_fallback"],
            "slots": {},
            "responses": {},
            "forms": {},
            "entities": [],
        },
        "tracker": {
            "sender_id": sender,
            "conversation_id": sender,
            "slots": {},
            "latest_message": latest,
            "latest_event_time": time.time(),
            "followup_action": None,
            "paused": False,
            "latest_input_channel": "rest",
            "latest_action_name": "action_listen",
            "active_loop": {},
            "events": [
                {"event": "action", "name": "action_listen", "timestamp": time.time()},
                {"event": "user", "text": text, "parse_data": latest, "timestamp": time.time()},
            ],
        },
    }


def test_rasa_custom_action_on_a_real_action_server(small, memchat_env, tmp_path):
    rasa_sdk = pytest.importorskip("rasa_sdk", reason="the Rasa adapter needs memchat[rasa]")
    httpx = pytest.importorskip("httpx2", reason="the tests talk HTTP through httpx2 (memchat[dev])")
    port = free_port()
    # the action server as `python -m rasa_sdk` runs it, with torch made unimportable: the adapter
    # answers inside someone else's process on memchat's live path alone (numpy)
    no_torch = "import runpy, sys; sys.modules['torch'] = None; runpy.run_module('rasa_sdk', run_name='__main__')"
    server = subprocess.Popen(
        [sys.executable, "-c", no_torch, "--actions", "memchat_plugins.adapters.rasa_action", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(server, url + "/health")
        assert {"name": "action_memchat"} in httpx.get(url + "/actions").json()

        def run(text):
            r = httpx.post(url + "/webhook", json=rasa_call("ann", text, rasa_sdk.__version__), timeout=30)
            assert r.status_code == 200, r.text
            return [m["text"] for m in r.json()["responses"]]

        assert run("hi") == [GREETING]
        assert run(BOOKING) == BOOKED
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert history(small, memchat_env, "ann")[:2] == [("user", "hi"), ("bot", GREETING)]


# ---- Errbot: the plugin folder, loaded by errbot's own test backend ---------------------
def test_errbot_plugin_answers_every_message_but_commands(small, memchat_env):
    pytest.importorskip("errbot", reason="the Errbot adapter needs memchat[errbot]")
    from errbot.backends.test import TestBot

    from memchat_plugins.adapters import ERRBOT_PLUGIN_DIR

    bot = TestBot(extra_plugin_dir=ERRBOT_PLUGIN_DIR, loglevel=logging.WARNING)
    bot.start(timeout=60)
    try:
        assert "Memchat" in bot.bot.plugin_manager.get_all_active_plugin_names()
        bot.push_message("hi")
        assert bot.pop_message(timeout=30) == GREETING
        bot.push_message(BOOKING)
        assert [bot.pop_message(timeout=30) for _ in BOOKED] == BOOKED
        bot.push_message("!echo ping")  # a command: errbot answers it, memchat stays out
        assert bot.pop_message(timeout=30) == "ping"
    finally:
        bot.stop()
    (sender,) = _conversations(small, memchat_env)  # one conversation: the test user's
    assert history(small, memchat_env, sender)[:2] == [("user", "hi"), ("bot", GREETING)]


def _conversations(small, db):
    from memchat.bot import Bot

    bot = Bot.load(small / "model", db=str(db))
    try:
        return [cid for cid, _, _ in bot.store.conversations()]
    finally:
        bot.close()


# ---- Microsoft Bot Framework: the handler under botbuilder's TestAdapter -----------------
def test_botframework_activity_handler_with_the_test_adapter(bot):
    pytest.importorskip("botbuilder.core", reason="the Bot Framework adapter needs memchat[botframework]")
    from botbuilder.core.adapters import TestAdapter

    from memchat_plugins.adapters.botframework import MemchatActivityHandler

    handler = MemchatActivityHandler(bot)
    adapter = TestAdapter(handler.on_turn)

    async def conversation():
        flow = await adapter.test("hi", GREETING)
        flow = await flow.send(BOOKING)
        for reply in BOOKED:
            flow = await flow.assert_reply(reply)
        flow = await flow.send("x" * 20_000)
        await flow.assert_reply("message too long", is_substring=True)

    asyncio.run(conversation())
    ((conversation_id, _, _),) = bot.store.conversations()
    assert [(e.speaker, e.text) for e in bot.history(conversation_id)][:2] == [("user", "hi"), ("bot", GREETING)]


# ---- without torch: the Errbot plugin and the Bot Framework handler in a process without it ----
WITHOUT_TORCH = """
import asyncio, logging, sys
sys.modules["torch"] = None  # unimportable: the adapters answer on memchat's live path (numpy)
from botbuilder.core.adapters import TestAdapter
from errbot.backends.test import TestBot
from memchat_plugins.adapters import ERRBOT_PLUGIN_DIR, shared_bot
from memchat_plugins.adapters.botframework import MemchatActivityHandler

async def bot_framework():  # test() checks the reply
    await TestAdapter(MemchatActivityHandler(shared_bot()).on_turn).test("hi", GREETING)

asyncio.run(bot_framework())
errbot = TestBot(extra_plugin_dir=ERRBOT_PLUGIN_DIR, loglevel=logging.WARNING)
errbot.start(timeout=60)
try:
    errbot.push_message("hi")
    print(errbot.pop_message(timeout=30))
finally:
    errbot.stop()
"""


def test_the_errbot_and_bot_framework_adapters_answer_without_torch(memchat_env):
    pytest.importorskip("errbot", reason="the Errbot adapter needs memchat[errbot]")
    pytest.importorskip("botbuilder.core", reason="the Bot Framework adapter needs memchat[botframework]")
    script = WITHOUT_TORCH.replace("GREETING", repr(GREETING))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == GREETING
