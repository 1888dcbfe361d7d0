"""A turn is whole or absent, a retried message is answered once, several nodes share one
database: on SQLite and on PostgreSQL (a real server; skipped, saying why, where none runs)."""

import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from starlette.testclient import TestClient

from memchat.errors import MemchatError
from memchat.store.tracker_store import Store

from conftest import BOOKING


@pytest.fixture
def any_bot(small, db_url):
    from memchat.bot import Bot

    b = Bot.load(small / "model", db=db_url, kb=small / "small-kb.txt")
    yield b
    b.close()


def test_a_retried_message_is_stored_once_and_answered_the_same(any_bot):
    first = any_bot.messages("r", BOOKING, message_id="m-1")
    stored = any_bot.history("r")
    again = any_bot.messages("r", BOOKING, message_id="m-1")  # the client lost the answer and retries
    assert again == first and first
    assert [(e.seq, e.text) for e in any_bot.history("r")] == [(e.seq, e.text) for e in stored]
    assert any_bot.messages("r", "thanks", message_id="m-2")  # a new id is a new turn
    users = [e for e in any_bot.history("r") if e.speaker == "user" and not (e.data or {}).get("implicit")]
    assert [e.data["message_id"] for e in users] == ["m-1", "m-2"]
    with pytest.raises(MemchatError, match="message id"):
        any_bot.messages("r", "hi", message_id="")


CRASH_PLUGIN = """
import os
from memchat.hookspecs import hookimpl

@hookimpl
def execute_action(store, conversation_id, action, tracker):
    os._exit(3)  # the process dies in the middle of the turn, as under SIGKILL
"""

CRASH = """
import sys
from memchat.bot import Bot
from memchat.plugins import new_plugin_manager
bot = Bot.load(sys.argv[1], db=sys.argv[2], plugin_manager=new_plugin_manager(sys.argv[3], False))
bot.respond("c", "hi")  # a whole turn, stored
bot.respond("c", sys.argv[4])  # says "i'm on it", then dies running its api call
"""


def test_a_turn_cut_by_a_crash_leaves_nothing_half_stored(small, db_url, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "crash.py").write_text(CRASH_PLUGIN)
    done = subprocess.run(
        [sys.executable, "-c", CRASH, str(small / "model"), db_url, str(plugins), BOOKING],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr
    store = Store(db_url)
    events = store.events("c")
    store.close()
    assert events and events[-1].speaker == "bot"  # the first turn, whole
    assert BOOKING not in [e.text for e in events]  # the cut turn: absent, user event included
    assert "i'm on it" not in [e.text for e in events]


def test_database_trouble_is_a_503_in_rasa_form_and_the_turn_is_not_half_stored(any_bot, monkeypatch):
    from memchat.channels.rest import ServerSettings, create_app

    client = TestClient(create_app(ServerSettings(), any_bot))
    real = any_bot.store.append

    def full(*args, **kwargs):
        raise OperationalError("INSERT ...", {}, Exception("database or disk is full"))

    monkeypatch.setattr(any_bot.store, "append", full)
    r = client.post("/webhooks/rest/webhook", json={"sender": "d", "message": "hi"})
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "failure" and body["reason"] == "ServiceUnavailable"
    assert "database or disk is full" in body["message"] and "INSERT" not in body["message"]
    assert any_bot.history("d") == []
    monkeypatch.setattr(any_bot.store, "append", real)  # the database is back: the conversation goes on
    r = client.post("/webhooks/rest/webhook", json={"sender": "d", "message": "hi"})
    assert r.status_code == 200 and r.json()[0]["text"]


def test_a_retried_message_over_rest_by_its_metadata_message_id(any_bot):
    from memchat.channels.rest import ServerSettings, create_app

    client = TestClient(create_app(ServerSettings(), any_bot))
    body = {"sender": "m", "message": BOOKING, "metadata": {"message_id": "abc"}}
    first = client.post("/webhooks/rest/webhook", json=body).json()
    assert client.post("/webhooks/rest/webhook", json=body).json() == first
    assert len([e for e in any_bot.history("m") if e.text == BOOKING]) == 1
    bad = client.post("/webhooks/rest/webhook", json={**body, "metadata": {"message_id": 7}})
    assert bad.status_code == 400 and "metadata.message_id" in bad.json()["message"]


def test_a_missing_driver_names_the_extra_and_never_the_password(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if memchat[postgres] were not installed
    with pytest.raises(MemchatError) as caught:
        Store("postgresql://bob:s3cret@localhost:5432/bot")
    message = str(caught.value)
    assert "memchat[postgres]" in message and "s3cret" not in message and "\n" not in message


def test_an_unreachable_database_is_one_line_without_the_password():
    with pytest.raises(MemchatError) as caught:
        Store("postgresql://bob:s3cret@127.0.0.1:1/bot")
    message = str(caught.value)
    assert message.startswith("database postgresql://bob:***@127.0.0.1:1/bot: ") and "refused" in message
    assert "s3cret" not in message and "\n" not in message


def test_advisory_locks_hold_a_conversation_across_engines(pg_url):
    from memchat.store.locks import AdvisoryLocks

    a, b = create_engine(pg_url), create_engine(pg_url)  # two nodes: nothing shared but the server
    locks_a, locks_b = AdvisoryLocks(a), AdvisoryLocks(b)
    held, order = threading.Event(), []

    def first():
        with locks_a.hold("shared"):
            held.set()
            time.sleep(0.5)
            order.append("a done")

    t = threading.Thread(target=first)
    t.start()
    held.wait(10)
    start = time.perf_counter()
    with locks_b.hold("other"):  # another conversation: no wait
        assert time.perf_counter() - start < 0.3
    with locks_b.hold("shared"):
        order.append("b in")
    t.join()
    assert order == ["a done", "b in"]
    for lock, engine in ((locks_a, a), (locks_b, b)):
        lock.close()
        engine.dispose()


def test_a_dropped_connection_is_taken_up_again(small, pg_url):
    from memchat.bot import Bot

    bot = Bot.load(small / "model", db=pg_url, kb=small / "small-kb.txt")
    assert bot.respond("p", "hi")
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # the server drops every other connection, as on a restart
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    admin.dispose()
    assert bot.respond("p", "thanks")  # the pool checks its connections before use
    assert len([e for e in bot.history("p") if e.speaker == "user"]) == 2
    bot.close()


@pytest.mark.slow
def test_nodes_share_nothing_but_the_database_and_survive_a_kill(db_url, tmp_path):
    """bench/nodes.py, small: two `memchat serve` nodes in folders of their own, shared and own
    conversations, node 0 SIGKILLed half-way; it exits non-zero on any error, any turn stored
    twice, lost, interleaved or half-stored."""
    from pathlib import Path

    from memchat.train import train_bot

    root = Path(__file__).resolve().parents[1]
    bundle, _ = train_bot(root / "tests" / "projects" / "pizzeria", out=tmp_path / "models", name="p", seed=0)
    db = db_url if "://" in db_url and not db_url.startswith("sqlite") else str(tmp_path / "nodes.db")
    done = subprocess.run(
        [sys.executable, str(root / "bench" / "nodes.py"), str(bundle.path), "--db", db]
        + ["--nodes", "2", "--conversations", "8", "--turns", "10", "--kill"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "node 0 killed half-way" in done.stdout
    assert (
        "errors: 0; stored twice: 0; answered but not stored: 0; interleaved, gapped or half-stored: 0" in done.stdout
    )


def test_rest_metadata_is_stored_with_the_user_message_for_the_plugins(any_bot):
    from memchat.channels.rest import ServerSettings, create_app

    client = TestClient(create_app(ServerSettings(), any_bot))
    meta = {"channel": "web", "page": "/menu", "message_id": "w-1"}
    r = client.post("/webhooks/rest/webhook", json={"sender": "meta", "message": "hi", "metadata": meta})
    assert r.status_code == 200
    (user,) = [e for e in any_bot.history("meta") if e.speaker == "user"]
    assert user.data["metadata"] == meta and user.data["message_id"] == "w-1"
    tracker = client.get("/conversations/meta/tracker").json()
    assert tracker["events"][0]["metadata"]["page"] == "/menu"  # Rasa's user event carries it
