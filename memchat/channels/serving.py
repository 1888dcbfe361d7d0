"""Running the HTTP app: uvicorn in this process or in worker processes (which rebuild the app
from the settings in the environment), a port checked free first, workers ending with their parent."""

from __future__ import annotations

import json
import os
from dataclasses import asdict

from memchat.channels.guards import SETTINGS_ENV
from memchat.channels.rest import ServerSettings, create_app
from memchat.errors import MemchatError


def serve_app(settings: ServerSettings, bot=None):
    """What ``memchat serve`` runs: the REST app (``create_app``) with Rasa's socket.io channel
    in front of it at ``/socket.io`` (``memchat.channels.socketio``)."""
    from memchat.channels.socketio import with_socketio

    app = create_app(settings, bot)
    return with_socketio(app, app.state.bot, app.state.turns, settings.auth_token, settings.cors)


def app_from_env():
    """The app of a worker process started by ``memchat serve --workers N`` (uvicorn factory).
    The worker ends when its supervisor dies, killed or not: no orphan goes on serving."""
    from memchat.process import quick_start

    end_with_parent()
    with quick_start(own_process=True):
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
        if os.name == "posix":  # as uvicorn binds (asyncio's reuse_address): the connections of a
            # server just stopped, waiting out TCP's TIME_WAIT, do not hold the port; a listener does
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise MemchatError(f"cannot listen on {host}:{port}: {e.strerror}") from None


def settings_to_env(settings: ServerSettings) -> None:
    os.environ[SETTINGS_ENV] = json.dumps(asdict(settings))
