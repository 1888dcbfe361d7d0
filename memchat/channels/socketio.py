"""Rasa's socket.io channel, so that the widgets people use (rasa-webchat) talk to memchat unchanged.

The contract of Rasa's ``SocketIOInput`` with ``session_persistence: true``, at ``/socket.io``:

- the client emits ``session_request`` ``{"session_id": id or null}``; the server answers
  ``session_confirm`` with the id (a new one when none was given) and puts the connection in the
  room of that id, so a page reloaded with its stored id goes on with its conversation;
- the client emits ``user_uttered`` ``{"message": text, "session_id": id, "metadata"|"customData": {...}}``;
  the conversation id is the session id, and each message of the bot's turn comes back as one
  ``bot_uttered`` event to the room: ``{"text": ...}``, buttons as Rasa's ``quick_replies``, an
  image as an ``attachment``, a ``custom`` payload as it is.

With ``--auth-token``, a connection must pass the token (``auth={"token": T}`` or ``?token=T``).

python-socketio is imported by the first request to ``/socket.io``, not at start-up: a server
only ever asked over REST never pays for it (a third of a second here).
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from urllib.parse import parse_qs

from memchat.errors import MemchatError

PATH = "socket.io"


def rasa_message(message: dict) -> dict:
    """One of the bot's messages as Rasa's socket.io channel sends it."""
    out: dict = {}
    if "text" in message:
        out["text"] = message["text"]
    if message.get("buttons"):
        out["quick_replies"] = [
            {"content_type": "text", "title": b.get("title", ""), "payload": b.get("payload", b.get("title", ""))}
            for b in message["buttons"]
        ]
    if message.get("image"):
        out["attachment"] = {"type": "image", "payload": {"src": message["image"]}}
    if "custom" in message:
        custom = message["custom"]
        return custom if isinstance(custom, dict) and not out else {**out, "custom": custom}
    return out


class SocketIOFront:
    """An ASGI app: requests under ``/socket.io`` go to the channel, made on the first of them
    by ``make_channel``; the rest go to ``app``."""

    def __init__(self, app, make_channel):
        self.app, self.make_channel, self.channel = app, make_channel, None

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and scope.get("path", "").startswith(f"/{PATH}"):
            if self.channel is None:
                self.channel = self.make_channel()
            return await self.channel(scope, receive, send)
        return await self.app(scope, receive, send)


def with_socketio(app, bot, turns, token: str | None = None, cors: list[str] | None = None):
    """``app`` (the Starlette app) with Rasa's socket.io channel in front of it at ``/socket.io``;
    ``turns``: the executor the turns run in (one at a time per process, as over REST)."""
    return SocketIOFront(app, lambda: socketio_channel(app, bot, turns, token, cors))


def socketio_channel(app, bot, turns, token: str | None, cors: list[str] | None):
    """The socket.io server (python-socketio) and ``app`` behind it."""
    import socketio

    origins = "*" if cors and "*" in cors else list(cors or [])
    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins=origins, logger=False, engineio_logger=False)

    @sio.event
    async def connect(sid, environ, auth=None):
        if token is None:
            return True
        given = (auth or {}).get("token") if isinstance(auth, dict) else None
        given = given or parse_qs(environ.get("QUERY_STRING", "")).get("token", [""])[-1]
        if not secrets.compare_digest(str(given).encode(), token.encode()):
            raise socketio.exceptions.ConnectionRefusedError("missing or wrong token")
        return True

    @sio.on("session_request")
    async def session_request(sid, data):
        data = data if isinstance(data, dict) else {}
        session_id = data.get("session_id") or uuid.uuid4().hex
        if not isinstance(session_id, str) or len(session_id) > 255:
            return
        await sio.enter_room(sid, session_id)
        await sio.save_session(sid, {"session_id": session_id})
        await sio.emit("session_confirm", session_id, room=sid)

    @sio.on("user_uttered")
    async def user_uttered(sid, data):
        if not isinstance(data, dict) or not isinstance(data.get("message"), str):
            return
        session_id = data.get("session_id") or (await sio.get_session(sid)).get("session_id") or sid
        metadata = data.get("metadata") or data.get("customData")
        metadata = metadata if isinstance(metadata, dict) else None
        try:
            replies = await asyncio.get_running_loop().run_in_executor(
                turns, lambda: bot.messages(str(session_id), data["message"], None, metadata)
            )
        except MemchatError as e:
            await sio.emit("error", {"message": str(e)}, room=sid)
            return
        if session_id not in sio.rooms(sid):  # a client that never asked for a session
            await sio.enter_room(sid, session_id)
        for message in replies:
            await sio.emit("bot_uttered", rasa_message(message), room=session_id)

    return socketio.ASGIApp(sio, other_asgi_app=app, socketio_path=PATH)
