"""What guards the HTTP server below the routes: the token check, the request body limit and
deadlines, uvicorn's protocols with a header deadline, the connection limit's answer, and the
token kept out of the logs. Plain ASGI and uvicorn pieces, each costing microseconds a request."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import re
import secrets
from urllib.parse import parse_qs

from starlette.responses import JSONResponse

from memchat.version import __version__

SETTINGS_ENV = "MEMCHAT_SERVE_SETTINGS"  # how the parent hands ServerSettings to worker processes
REASONS = {
    401: "NotAuthenticated",
    404: "NotFound",
    405: "MethodNotAllowed",
    408: "RequestTimeout",
    503: "ServiceUnavailable",
}
HEALTH_PATHS = frozenset({"/", "/webhooks/rest", "/webhooks/rest/"})  # open even with a token


def error(code: int, message: str, reason: str) -> JSONResponse:
    """Rasa's error body: ``{"version", "status": "failure", "message", "reason", "code"}``."""
    return JSONResponse(
        {"version": __version__, "status": "failure", "message": message, "reason": reason, "code": code},
        status_code=code,
    )


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
                async with asyncio.timeout_at(deadline):  # no task per read, as wait_for made
                    message = await receive()
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


def websocket_protocol(**connection):
    """uvicorn's WebSocket protocol (``ws=`` of ``uvicorn.run``; websockets' sans-I/O one, as
    uvicorn's "auto" picks), imported as the first WebSocket opens rather than at start: the
    socket.io channel needs it, a first REST reply does not (uvicorn's start took 13-18 ms with
    websockets' import, 4-6 ms without). uvicorn calls it as it would the class."""
    from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol

    return AutoWebSocketsProtocol(**connection)


def uvicorn_options(max_connections: int) -> dict:
    """What ``memchat serve`` gives uvicorn beside the app, host, port and log level: the HTTP
    protocol with the header deadline, the WebSocket protocol imported as the first opens, and
    the connection limit."""
    return {"http": HeaderDeadline or "auto", "ws": websocket_protocol, "limit_concurrency": max_connections}


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


class RedactToken(logging.Filter):
    """Never writes a token to a log: ``?token=...`` in an access-log line becomes ``token=***``."""

    PATTERN = re.compile(r"(token=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self.PATTERN.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        record.msg = self.PATTERN.sub(r"\1***", str(record.msg))
        return True


REDACT_TOKEN = RedactToken()
