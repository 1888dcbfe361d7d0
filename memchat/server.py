"""``memchat serve``: the bot over HTTP, with the contract of Rasa's REST channel.

Rasa clients and chat widgets post ``{"sender": id, "message": text}`` to
``/webhooks/rest/webhook`` and get ``[{"recipient_id": id, "text": reply}, ...]`` back. Around
that: the conversation's stored events (``/conversations/{id}/tracker``), ``/status``,
``/version``, an optional token (Rasa's ``?token=``, or ``Authorization: Bearer``), a request
body limit, CORS, and the OpenAPI document FastAPI writes (``/openapi.json``; no ``/docs`` pages, which
would load Swagger from a CDN).

Bad requests get a 4xx with a one-line message in Rasa's error form, and nothing is stored for
them. Several worker processes may share one SQLite store: each builds its app from the same
``ServerSettings`` (``app_from_env``), and the dialogue manager's locks work across processes.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from memchat import __version__
from memchat.errors import MemchatError
from memchat.store import database_trouble

SETTINGS_ENV = "MEMCHAT_SERVE_SETTINGS"  # how the parent hands ServerSettings to worker processes
CHAT_PAGE = Path(__file__).with_name("chat.html")
REASONS = {
    401: "NotAuthenticated",
    404: "NotFound",
    405: "MethodNotAllowed",
    408: "RequestTimeout",
    503: "ServiceUnavailable",
}
HEALTH_PATHS = frozenset({"/", "/webhooks/rest", "/webhooks/rest/"})  # open even with a token


@dataclass
class ServerSettings:
    model: str | None = None  # bundle path; None: the newest under ./models
    db: str | None = None  # store URL or SQLite file; None: $MEMCHAT_DB or ./memchat.db
    auth_token: str | None = None  # when set, every route but the health checks needs it
    cors: list[str] = field(default_factory=list)  # origins allowed to call from a browser ("*": any)
    max_body: int = 64 * 1024  # bytes of a request body; more gets 413
    read_timeout: float = 10.0  # seconds to send a request's headers, and again its body; slower: cut off


class UserMessage(BaseModel):
    """A message for the bot, as Rasa's REST channel receives it."""

    model_config = ConfigDict(extra="ignore")
    # the lengths are checked by the dialogue manager (one error form for HTTP and Python); they
    # are in the document so that clients know them. Printable characters only, which JSON
    # Schema cannot say portably: the description says it
    sender: StrictStr = Field(
        description="The conversation id: one per user; 1 to 255 printable characters.",
        examples=["alice"],
        json_schema_extra={"minLength": 1, "maxLength": 255},
    )
    message: StrictStr = Field(
        description="What the user says, at most 10,000 characters; empty lets the bot go on.",
        examples=["hi"],
        json_schema_extra={"maxLength": 10_000},
    )
    metadata: dict | None = Field(
        default=None,
        description="Rasa clients' metadata: stored with the user's message, where plugins read it; "
        "its message_id (a string) makes a retried message answered once.",
    )


class ErrorBody(BaseModel):
    """Every error, in Rasa's form."""

    version: str
    status: str = Field(examples=["failure"])
    message: str = Field(examples=["message: Field required"])
    reason: str = Field(examples=["BadRequest"])
    code: int = Field(examples=[400])


ERRORS = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        400: "A malformed or invalid request: the message names the field; nothing is stored",
        401: "No token, or the wrong one (with --auth-token)",
        404: "No such route, or no such conversation",
        408: "The body came slower than --read-timeout",
        413: "A body over --max-body",
        503: "The database is unavailable; nothing of the turn is stored: send it again",
    }.items()
}


class BotMessage(BaseModel):
    """One message of the bot's turn, as Rasa's REST channel sends it."""

    model_config = ConfigDict(extra="allow")
    recipient_id: str
    text: str | None = None
    buttons: list[dict] | None = None
    image: str | None = None
    custom: dict | list | str | None = None


def error(code: int, message: str, reason: str) -> JSONResponse:
    """Rasa's error body: ``{"version", "status": "failure", "message", "reason", "code"}``."""
    return JSONResponse(
        {"version": __version__, "status": "failure", "message": message, "reason": reason, "code": code},
        status_code=code,
    )


def invalid(errors: list[dict]) -> JSONResponse:
    """A 400 naming the first field that is wrong and what was expected."""
    first = errors[0]
    if first.get("type") == "json_invalid":
        return error(
            400, f"request body: not valid JSON ({first.get('ctx', {}).get('error', 'parse error')})", "BadRequest"
        )
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request body"
    return error(400, f"{where}: {first['msg']}", "BadRequest")


class BodyLimit:
    """Refuses request bodies over ``limit`` bytes with 413, by Content-Length or while reading."""

    def __init__(self, app, limit: int, timeout: float = 10.0):
        self.app, self.limit, self.timeout = app, limit, timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await self._refuse(scope, receive, send)
        seen, deadline = 0, None

        async def counted():
            nonlocal seen, deadline
            loop = asyncio.get_running_loop()
            deadline = deadline or loop.time() + self.timeout
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0))
            except TimeoutError:
                raise _TooSlow from None
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)
        except _TooSlow:  # a client sending its body byte by byte holds a connection no longer
            response = error(408, f"request body: not received within {self.timeout:g} s", "RequestTimeout")
            response.headers["connection"] = "close"
            await response(scope, receive, send)

    async def _refuse(self, scope, receive, send):
        response = error(413, f"request body: larger than {self.limit} bytes", "PayloadTooLarge")
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


@functools.cache
def _header_timeout() -> float:
    """The read timeout of the serve settings in the environment; read at the first connection
    (after ``memchat serve`` has put them there), then kept."""
    try:
        return float(json.loads(os.environ.get(SETTINGS_ENV, "{}")).get("read_timeout", 10.0))
    except (ValueError, AttributeError):
        return 10.0


try:
    from uvicorn.protocols.http import httptools_impl
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # no httptools: uvicorn's h11 protocol, without a header deadline
    HttpToolsProtocol = None


async def _too_many_connections(scope, receive, send):
    """Over --max-connections: memchat's error form, not uvicorn's plain-text 503."""
    await error(503, "too many connections; try again", "ServiceUnavailable")(scope, receive, send)


if HttpToolsProtocol is not None:
    # what uvicorn's protocol answers over its limit_concurrency (it looks the name up in its module)
    httptools_impl.service_unavailable = _too_many_connections

if HttpToolsProtocol is not None:

    class HeaderDeadline(HttpToolsProtocol):
        """uvicorn's HTTP protocol with a deadline for each request's headers: a connection that
        sends nothing, or its headers byte by byte, is closed after the read timeout (uvicorn
        times out idle keep-alive connections only). Module-level, so workers can import it; the
        timeout comes from the serve settings in the environment."""

        _deadline = None

        def _start(self) -> None:
            if self._deadline is None:
                self._deadline = self.loop.call_later(_header_timeout(), self._too_slow)

        def _stop(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._start()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._start()

        def on_headers_complete(self) -> None:
            self._stop()
            super().on_headers_complete()

        def connection_lost(self, exc) -> None:
            self._stop()
            super().connection_lost(exc)
else:
    HeaderDeadline = None


class TokenCheck:
    """Refuses every request but the health checks without the token (Rasa's ``?token=``, or an
    ``Authorization: Bearer`` header) with 401. A plain ASGI middleware: it costs microseconds."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token.encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] not in HEALTH_PATHS:
            given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[-1].encode()
            if not given:
                given = dict(scope["headers"]).get(b"authorization", b"").removeprefix(b"Bearer ")
            if not secrets.compare_digest(given, self.token):
                response = error(
                    401,
                    "missing or wrong token: pass ?token=TOKEN or an Authorization: Bearer header",
                    "NotAuthenticated",
                )
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


def create_app(settings: ServerSettings, bot=None) -> FastAPI:
    """The ASGI application; ``bot`` defaults to ``Bot.load(settings.model, settings.db)``."""
    from memchat.bot import Bot
    from memchat.plugins import call_all

    if bot is None:
        bot = Bot.load(settings.model, db=settings.db)
    app = FastAPI(
        title="memchat",
        version=__version__,
        description="A response-selection bot (MemN2N) with the Rasa REST channel contract.",
        # no /docs or /redoc: their pages load Swagger from a CDN (blank offline) and fetch
        # /openapi.json without the token; the document itself is served, behind the token
        docs_url=None,
        redoc_url=None,
        responses=ERRORS,  # every route may answer these, in Rasa's error form
    )
    app.state.bot = bot
    turns = ThreadPoolExecutor(1, thread_name_prefix="memchat-turn")
    app.state.turns = turns  # the socket.io channel runs its turns here too

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        return invalid(exc.errors())

    @app.exception_handler(SQLAlchemyError)  # the database is down, full or damaged: nothing half-stored
    async def database_down(request: Request, exc: SQLAlchemyError):
        logging.getLogger("memchat.server").error("database trouble: %s", database_trouble(exc))
        return error(503, f"database unavailable: {database_trouble(exc)}; try again", "ServiceUnavailable")

    @app.exception_handler(StarletteHTTPException)  # FastAPI's own and the router's (unknown route, method)
    async def http_error(request: Request, exc: StarletteHTTPException):
        message = (
            {
                404: f"{request.url.path}: no such route",
                405: f"{request.method} {request.url.path}: method not allowed",
            }.get(exc.status_code)
            if exc.detail in ("Not Found", "Method Not Allowed")
            else None
        )
        return error(exc.status_code, message or str(exc.detail), REASONS.get(exc.status_code, "BadRequest"))

    @app.head("/", include_in_schema=False)  # load balancers check health with HEAD
    @app.get("/", response_class=PlainTextResponse, tags=["health"])
    async def hello() -> str:
        """Health check, as Rasa's root route."""
        return f"Hello from memchat: {__version__}"

    @app.head("/webhooks/rest/", include_in_schema=False)
    @app.head("/webhooks/rest", include_in_schema=False)
    @app.get("/webhooks/rest/", tags=["rest channel"])
    @app.get("/webhooks/rest", include_in_schema=False)
    async def rest_health() -> dict:
        """Health check of the REST channel."""
        return {"status": "ok"}

    @app.post(
        "/webhooks/rest/webhook",
        response_model=list[BotMessage],
        response_model_exclude_none=True,
        tags=["rest channel"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": UserMessage.model_json_schema()}},
            }
        },
    )
    async def webhook(request: Request) -> list[dict]:
        """Answer one user message: the user turn and every reply are stored before this returns.

        The body is read as JSON whatever its Content-Type, as Rasa does; a UTF-8 byte-order mark
        and lone surrogates (``"\\ud800"``) are cleaned as the Python API cleans them."""
        body = await request.body()
        try:
            data = json.loads(body.decode("utf-8-sig", errors="replace"))
        except (json.JSONDecodeError, RecursionError) as e:
            return error(400, f"request body: not valid JSON ({getattr(e, 'msg', 'too deeply nested')})", "BadRequest")
        try:
            message = UserMessage.model_validate(data)
        except ValidationError as e:
            return invalid(e.errors())
        message_id = (message.metadata or {}).get("message_id", request.headers.get("idempotency-key"))
        if message_id is not None and not isinstance(message_id, str):
            return error(400, "metadata.message_id: expected a string", "BadRequest")
        try:
            replies = await asyncio.get_running_loop().run_in_executor(
                turns, bot.messages, message.sender, message.message, message_id, message.metadata
            )
        except MemchatError as e:
            return error(400, str(e), "BadRequest")
        return [{"recipient_id": message.sender, **reply} for reply in replies]

    @app.get("/conversations/{conversation_id}/why/{seq}", tags=["conversations"])
    def why(conversation_id: str, seq: int, top: int = 5) -> dict:
        """What the model looked at for the bot's event ``seq``: its attention over the memory,
        hop by hop (the REPL's /why), and the best candidates with their probabilities."""
        ranking = bot.manager.why(conversation_id, seq)
        if ranking is None:
            raise HTTPException(404, f"conversation '{conversation_id}': no bot event {seq}")
        memory = [{"speaker": t.speaker, "text": t.text} for t in ranking.memory]
        return {
            "query": {"speaker": ranking.query.speaker, "text": ranking.query.text},
            "memory": memory,
            "hops": [[round(float(w), 4) for w in hop[: len(memory)]] for hop in ranking.attention],
            "top": [{"candidate": c, "probability": round(p, 4)} for c, p in ranking.top(max(1, min(top, 20)))],
        }

    @app.get("/chat", response_class=HTMLResponse, tags=["chat"])
    def chat() -> str:
        """A chat page: no CDN, works offline; the conversation is kept across reloads."""
        return CHAT_PAGE.read_text(encoding="utf-8")

    @app.get("/conversations/{conversation_id}/tracker", tags=["conversations"])
    def tracker(conversation_id: str) -> dict:
        """The conversation's stored events, oldest first."""
        events = bot.store.events(conversation_id)  # a conversation has events from its first turn on
        if not events:
            raise HTTPException(404, f"conversation '{conversation_id}': not found")
        latest_user = next((e for e in reversed(events) if e.speaker == "user"), None)
        return {
            "sender_id": conversation_id,
            "latest_message": {"text": latest_user.text} if latest_user else None,
            "latest_event_time": events[-1].timestamp,
            "events": [{"event": e.speaker, **e.to_dict()} for e in events],
        }

    @app.get("/status", tags=["server"])
    def status() -> dict:
        """The model this server answers with, its store and its plugins."""
        return {
            "model_file": str(bot.model_path),
            "store": bot.store.shown,
            "memchat_version": __version__,
            "plugins": [name for name, _ in bot.manager.pm.list_name_plugin()],
        }

    @app.get("/version", tags=["server"])
    async def version() -> dict:
        return {"version": __version__, "minimum_compatible_version": __version__}

    call_all(bot.manager.pm, "register_routes", {"app": app})

    # the last added is the outermost: CORS answers a browser's preflight (which carries no token)
    # and puts its headers on every response, a 401 included; then the token; then the body limit
    app.add_middleware(BodyLimit, limit=settings.max_body, timeout=settings.read_timeout)
    if settings.auth_token:
        app.add_middleware(TokenCheck, token=settings.auth_token)
        logging.getLogger("uvicorn.access").addFilter(_REDACT_TOKEN)
    if settings.cors:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors, allow_methods=["GET", "POST", "OPTIONS"], allow_headers=["*"]
        )
    return app


class RedactToken(logging.Filter):
    """Never writes a token to a log: ``?token=...`` in an access-log line becomes ``token=***``."""

    PATTERN = re.compile(r"(token=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self.PATTERN.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        record.msg = self.PATTERN.sub(r"\1***", str(record.msg))
        return True


_REDACT_TOKEN = RedactToken()


def serve_app(settings: ServerSettings, bot=None):
    """What ``memchat serve`` runs: the REST app (``create_app``) with Rasa's socket.io channel
    in front of it at ``/socket.io`` (``memchat.socketio_channel``)."""
    from memchat.socketio_channel import with_socketio

    app = create_app(settings, bot)
    return with_socketio(app, app.state.bot, app.state.turns, settings.auth_token, settings.cors)


def app_from_env():
    """The app of a worker process started by ``memchat serve --workers N`` (uvicorn factory).
    The worker ends when its supervisor dies, killed or not: no orphan goes on serving."""
    end_with_parent()
    return serve_app(ServerSettings(**json.loads(os.environ[SETTINGS_ENV])))


def end_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when its parent dies (prctl PR_SET_PDEATHSIG);
    elsewhere nothing is done."""
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
        except OSError:
            pass
        if os.getppid() == 1:  # the parent died before the request reached the kernel
            os.kill(os.getpid(), signal.SIGTERM)


def check_port_free(host: str, port: int) -> None:
    """One line before anything loads when the port is taken (uvicorn would say it in many, later)."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        try:
            s.bind((host, port))
        except OSError as e:
            raise MemchatError(f"cannot listen on {host}:{port}: {e.strerror}") from None


def settings_to_env(settings: ServerSettings) -> None:
    os.environ[SETTINGS_ENV] = json.dumps(asdict(settings))
