"""``memchat serve``: the bot over HTTP, with the contract of Rasa's REST channel.

Rasa clients and chat widgets post ``{"sender": id, "message": text}`` to
``/webhooks/rest/webhook`` and get ``[{"recipient_id": id, "text": reply}, ...]`` back. Around
that: the conversation's stored events (``/conversations/{id}/tracker``), ``/status``,
``/version``, an optional token (Rasa's ``?token=``, or ``Authorization: Bearer``), a request
body limit, CORS, and the OpenAPI document (``/openapi.json``, from ``memchat.openapi``; no
``/docs`` pages, which would load Swagger from a CDN). The app is Starlette's, without FastAPI:
FastAPI and pydantic took 0.6 s to import here, more than all the rest of start-up now.

Bad requests get a 4xx with a one-line message in Rasa's error form, and nothing is stored for
them. Several worker processes may share one SQLite store: each builds its app from the same
``ServerSettings`` (``app_from_env``), and the dialogue manager's locks work across processes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from memchat.channels.guards import REASONS, REDACT_TOKEN, BodyLimit, TokenCheck, error
from memchat.channels.openapi import BOT_MESSAGE, USER_MESSAGE, Operation, document
from memchat.dialogue.rasa_tracker import rasa_tracker
from memchat.errors import MemchatError
from memchat.project.spec import conversation_state
from memchat.store.urls import database_trouble
from memchat.version import __version__

CHAT_PAGE = Path(__file__).with_name("chat.html")


@dataclass
class ServerSettings:
    model: str | None = None  # bundle path; None: the newest under ./models
    db: str | None = None  # store URL or SQLite file; None: $MEMCHAT_DB or ./memchat.db
    auth_token: str | None = None  # when set, every route but the health checks needs it
    cors: list[str] = field(default_factory=list)  # origins allowed to call from a browser ("*": any)
    max_body: int = 64 * 1024  # bytes of a request body; more gets 413
    read_timeout: float = 10.0  # seconds to send a request's headers, and again its body; slower: cut off


class BadRequest(Exception):
    """A request the server refuses with 400; the message names the field and what was expected."""


def user_message(data) -> tuple[str, str, dict | None]:
    """(sender, message, metadata) of a webhook body, as the document's ``UserMessage`` says."""
    if not isinstance(data, dict):
        raise BadRequest(f"request body: expected a JSON object with sender and message, got {_kind(data)}")
    for name in ("sender", "message"):
        if name not in data:
            raise BadRequest(f"{name}: field required (a string)")
        if not isinstance(data[name], str):
            raise BadRequest(f"{name}: expected a string, got {_kind(data[name])}")
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadRequest(f"metadata: expected an object or null, got {_kind(metadata)}")
    return data["sender"], data["message"], metadata


def _kind(value) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _integer(name: str, given: str) -> int:
    """A path or query parameter that must be an integer (at most 18 digits: the store's range)."""
    if not re.fullmatch(r"-?[0-9]{1,18}", given):
        raise BadRequest(f"{name}: expected an integer, got '{given[:40]}'")
    return int(given)


async def hello(request: Request) -> Response:
    """Health check, as Rasa's root route."""
    return PlainTextResponse(f"Hello from memchat: {__version__}")


async def rest_health(request: Request) -> Response:
    """Health check of the REST channel."""
    return JSONResponse({"status": "ok"})


async def webhook(request: Request) -> Response:
    """Answer one user message: the user turn and every reply are stored before this returns.

    The body is read as JSON whatever its Content-Type, as Rasa does; a UTF-8 byte-order mark
    and lone surrogates (``"\\ud800"``) are cleaned as the Python API cleans them."""
    body = await request.body()
    try:
        data = json.loads(body.decode("utf-8-sig", errors="replace"))
    except (json.JSONDecodeError, RecursionError) as e:
        raise BadRequest(f"request body: not valid JSON ({getattr(e, 'msg', 'too deeply nested')})") from None
    sender, text, metadata = user_message(data)
    message_id = (metadata or {}).get("message_id", request.headers.get("idempotency-key"))
    if message_id is not None and not isinstance(message_id, str):
        raise BadRequest("metadata.message_id: expected a string")
    bot = request.app.state.bot
    try:
        replies = await asyncio.get_running_loop().run_in_executor(
            request.app.state.turns, bot.messages, sender, text, message_id, metadata
        )
    except MemchatError as e:
        raise BadRequest(str(e)) from None
    return JSONResponse([{"recipient_id": sender, **reply} for reply in replies])


def why(request: Request) -> Response:
    """What the model looked at for the bot's event ``seq``: its attention over the memory,
    hop by hop (the REPL's /why), and the best candidates with their probabilities."""
    conversation_id = request.path_params["conversation_id"]
    seq = _integer("seq", request.path_params["seq"])
    top = _integer("top", request.query_params.get("top", "5"))
    ranking = request.app.state.bot.manager.why(conversation_id, seq)
    if ranking is None:
        raise HTTPException(404, f"conversation '{conversation_id}': no bot event {seq}")
    memory = [{"speaker": t.speaker, "text": t.text} for t in ranking.memory]
    return JSONResponse(
        {
            "query": {"speaker": ranking.query.speaker, "text": ranking.query.text},
            "memory": memory,
            "hops": [[round(float(w), 4) for w in hop[: len(memory)]] for hop in ranking.attention],
            "top": [{"candidate": c, "probability": round(p, 4)} for c, p in ranking.top(max(1, min(top, 20)))],
        }
    )


def chat(request: Request) -> Response:
    """A chat page: no CDN, works offline; the conversation is kept across reloads."""
    return HTMLResponse(CHAT_PAGE.read_text(encoding="utf-8"))


def tracker(request: Request) -> Response:
    """The conversation as Rasa's tracker: Rasa's events (each with memchat's ``seq``), slots,
    ``latest_message`` and ``active_loop``; memchat's implicit ``<SILENCE>`` turns are no events."""
    conversation_id = request.path_params["conversation_id"]
    bot = request.app.state.bot
    events = bot.store.events(conversation_id)  # a conversation has events from its first turn
    if not events:
        raise HTTPException(404, f"conversation '{conversation_id}': not found")
    manager = bot.manager
    spec = manager.spec
    slots, active = (
        conversation_state(((e.speaker, e.text) for e in events), spec.initial_slots) if spec else ({}, None)
    )
    parse_of = manager.interpreter.parse if manager.interpreter is not None else None
    return JSONResponse(rasa_tracker(conversation_id, events, spec, slots, active, parse_of))


def status(request: Request) -> Response:
    """The model this server answers with, its store and its plugins."""
    bot = request.app.state.bot
    return JSONResponse(
        {
            "model_file": str(bot.model_path),
            "store": bot.store.shown,
            "memchat_version": __version__,
            "plugins": [name for name, _ in bot.manager.pm.list_name_plugin()],
        }
    )


async def version(request: Request) -> Response:
    """The version of memchat, as Rasa's ``/version``."""
    return JSONResponse({"version": __version__, "minimum_compatible_version": __version__})


async def openapi(request: Request) -> Response:
    """This document."""
    return JSONResponse(request.app.state.openapi)


OPERATIONS = [  # every route memchat serves but /webhooks/rest without its slash (a health check)
    Operation("get", "/", hello, "health", answer={"type": "string"}, media="text/plain"),
    Operation("get", "/webhooks/rest/", rest_health, "rest channel"),
    Operation(
        "post",
        "/webhooks/rest/webhook",
        webhook,
        "rest channel",
        answer={"type": "array", "items": BOT_MESSAGE},
        body=USER_MESSAGE,
    ),
    Operation(
        "get",
        "/conversations/{conversation_id}/why/{seq}",
        why,
        "conversations",
        query={"top": {"type": "integer", "default": 5}},
        path_types={"seq": {"type": "integer"}},
    ),
    Operation("get", "/conversations/{conversation_id}/tracker", tracker, "conversations"),
    Operation("get", "/chat", chat, "chat", answer={"type": "string"}, media="text/html"),
    Operation("get", "/status", status, "server"),
    Operation("get", "/version", version, "server"),
    Operation("get", "/openapi.json", openapi, "server"),
]


async def _bad_request(request: Request, exc: BadRequest) -> Response:
    return error(400, str(exc), "BadRequest")


async def _database_down(request: Request, exc: SQLAlchemyError) -> Response:
    """The database is down, full or damaged: nothing half-stored."""
    logging.getLogger("memchat.server").error("database trouble: %s", database_trouble(exc))
    return error(503, f"database unavailable: {database_trouble(exc)}; try again", "ServiceUnavailable")


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """Ours, and the router's (an unknown route or method), in Rasa's error form."""
    message = str(exc.detail)
    if message in ("Not Found", "Method Not Allowed"):  # the router's words
        message = {
            404: f"{request.url.path}: no such route",
            405: f"{request.method} {request.url.path}: method not allowed",
        }.get(exc.status_code, message)
    return error(exc.status_code, message, REASONS.get(exc.status_code, "BadRequest"))


def create_app(settings: ServerSettings, bot=None) -> Starlette:
    """The ASGI application (Starlette); ``bot`` defaults to ``Bot.load(settings.model, settings.db)``."""
    from memchat.bot import Bot
    from memchat.plugins import call_all

    if bot is None:
        bot = Bot.load(settings.model, db=settings.db)
    # the first is the outermost: CORS answers a browser's preflight (which carries no token) and
    # puts its headers on every response, a 401 included; then the token; then the body limit
    middleware = []
    if settings.cors:
        cors = {"allow_origins": settings.cors, "allow_methods": ["GET", "POST", "OPTIONS"], "allow_headers": ["*"]}
        middleware.append(Middleware(CORSMiddleware, **cors))
    if settings.auth_token:
        middleware.append(Middleware(TokenCheck, token=settings.auth_token))
        logging.getLogger("uvicorn.access").addFilter(REDACT_TOKEN)
    middleware.append(Middleware(BodyLimit, limit=settings.max_body, timeout=settings.read_timeout))
    routes = [Route(op.path, op.endpoint, methods=[op.method.upper()]) for op in OPERATIONS]
    routes.append(Route("/webhooks/rest", rest_health, methods=["GET"]))
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={BadRequest: _bad_request, SQLAlchemyError: _database_down, HTTPException: _http_error},
    )
    app.state.bot = bot
    app.state.turns = ThreadPoolExecutor(1, thread_name_prefix="memchat-turn")  # the socket.io channel's too
    app.state.openapi = document(__version__, OPERATIONS)  # memchat's routes; a plugin documents its own
    call_all(bot.manager.pm, "register_routes", {"app": app})
    return app
