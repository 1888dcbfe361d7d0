"""Rasa's socket.io channel against a real `memchat serve`: the events rasa-webchat sends and
expects (session_request/session_confirm, user_uttered/bot_uttered), a session that goes on
after a reload, buttons as quick_replies, the token."""

import asyncio

import pytest
import socketio

from memchat.channels.socketio import rasa_message

from conftest import BOOKING, serving

GREETING = "hello what can i help you with today"


@pytest.fixture
def served(small, tmp_path):
    with serving(small, tmp_path / "s.db", "--auth-token", "s3cret") as url:
        yield url


async def _talk(url: str, session_id, messages: list[str], token="s3cret") -> tuple[str, list[list[dict]]]:
    """Connect as rasa-webchat does, ask for a session, send each message and collect the
    bot_uttered events that follow it."""
    client = socketio.AsyncClient()
    confirmed, uttered = asyncio.Queue(), asyncio.Queue()
    client.on("session_confirm", lambda sid: confirmed.put_nowait(sid))
    client.on("bot_uttered", lambda message: uttered.put_nowait(message))
    await client.connect(url, socketio_path="socket.io", auth={"token": token}, transports=["websocket"])
    try:
        await client.emit("session_request", {"session_id": session_id})
        session = await asyncio.wait_for(confirmed.get(), 10)
        turns = []
        for text in messages:
            await client.emit("user_uttered", {"message": text, "session_id": session, "customData": {"page": "/"}})
            got = [await asyncio.wait_for(uttered.get(), 30)]
            while True:  # the rest of the turn
                try:
                    got.append(await asyncio.wait_for(uttered.get(), 1.0))
                except TimeoutError:
                    break
            turns.append(got)
        return session, turns
    finally:
        await client.disconnect()


def test_rasa_webchat_events_book_and_a_reloaded_page_goes_on(served, small, tmp_path):
    session, turns = asyncio.run(_talk(served, None, ["hi", BOOKING]))
    assert len(session) == 32  # a new id, as Rasa makes
    assert turns[0] == [{"text": GREETING}]
    said = [m["text"] for m in turns[1]]
    assert said[0] == "i'm on it" and said[-1].startswith("what do you think of this option")  # no empty message sent
    assert not any(t.startswith("api_call") for t in said)
    # the page reloads and asks for its stored session: the same conversation goes on
    again, more = asyncio.run(_talk(served, session, ["thanks"]))
    assert again == session and more[0][0]["text"]
    from memchat.store.tracker_store import Store

    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    users = [e for e in store.events(session) if e.speaker == "user" and not (e.data or {}).get("implicit")]
    assert [e.text for e in users] == ["hi", BOOKING, "thanks"]
    assert users[0].data["metadata"] == {"page": "/"}  # customData, as rasa-webchat sends it
    store.close()


def test_a_socket_without_the_token_is_refused(served):
    with pytest.raises(socketio.exceptions.ConnectionError):
        asyncio.run(_talk(served, None, ["hi"], token="wrong"))


def test_buttons_images_and_custom_payloads_as_rasa_sends_them():
    buttons = {"text": "Shall I?", "buttons": [{"title": "yes", "payload": "/affirm"}]}
    assert rasa_message(buttons) == {
        "text": "Shall I?",
        "quick_replies": [{"content_type": "text", "title": "yes", "payload": "/affirm"}],
    }
    assert rasa_message({"image": "https://x/y.png"}) == {
        "attachment": {"type": "image", "payload": {"src": "https://x/y.png"}}
    }
    assert rasa_message({"custom": {"kind": "map"}}) == {"kind": "map"}
