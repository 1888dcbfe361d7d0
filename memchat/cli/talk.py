"""The commands that talk: ``memchat repl`` (a terminal chat) and ``memchat serve`` (HTTP)."""

from __future__ import annotations

from pathlib import Path

import click

from memchat import process
from memchat.cli.group import DB_HELP, cli


@cli.command()
@click.option("--model", type=click.Path(path_type=Path), help="A bundle  [default: the newest under ./models]")
@click.option("--db", help=DB_HELP)
@click.option("--kb", type=click.Path(path_type=Path), help="Load this knowledge-base file into the store first.")
@click.option("--conversation", "conversation_id", help="Go on with this conversation  [default: a new one]")
@click.option(
    "--history-file",
    type=click.Path(path_type=Path),
    default=Path.home() / ".memchat_history",
    show_default=True,
    help="Where the input history is kept.",
)
def repl(model: Path | None, db: str | None, kb: Path | None, conversation_id: str | None, history_file: Path) -> None:
    """Chat with a model. /help lists the commands; empty input lets the bot go on (<SILENCE>)."""
    with process.quick_start():
        from memchat.bot import Bot
        from memchat.channels.repl import Repl

        bot = Bot.load(model, db=db, kb=kb)
    try:
        Repl(bot, conversation_id, history_file).run()
    finally:
        bot.close()


@cli.command()
@click.option("--model", type=click.Path(path_type=Path), help="A bundle  [default: the newest under ./models]")
@click.option("--db", help=DB_HELP)
@click.option("--kb", type=click.Path(path_type=Path), help="Load this knowledge-base file into the store first.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=5005, show_default=True)
@click.option(
    "--workers", type=click.IntRange(1), default=1, show_default=True, help="Worker processes; they share the store."
)
@click.option(
    "--auth-token",
    envvar="MEMCHAT_AUTH_TOKEN",
    help="Every route but the health checks needs ?token=TOKEN (or a Bearer header)  [env: MEMCHAT_AUTH_TOKEN]",
)
@click.option("--cors", multiple=True, metavar="ORIGIN", help="Allow browsers on ORIGIN ('*': any); repeatable.")
@click.option(
    "--max-body", type=click.IntRange(1), default=64 * 1024, show_default=True, help="Largest request body, in bytes."
)
@click.option(
    "--read-timeout",
    type=click.FloatRange(0.1),
    default=10.0,
    show_default=True,
    help="Seconds a client has to send a request's headers, and again its body; slower ones are cut off.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="Open connections per worker; more get 503 at once.",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
def serve(
    model: Path | None,
    db: str | None,
    kb: Path | None,
    host: str,
    port: int,
    workers: int,
    auth_token: str | None,
    cors: tuple[str, ...],
    max_body: int,
    read_timeout: float,
    max_connections: int,
    log_level: str,
) -> None:
    """Serve the bot over HTTP with Rasa's REST channel contract (POST /webhooks/rest/webhook).

    The OpenAPI document is at /openapi.json."""
    import os

    with process.quick_start():
        import uvicorn

        from memchat.bot import Bot, newest_bundle
        from memchat.channels.guards import uvicorn_options
        from memchat.channels.rest import ServerSettings
        from memchat.channels.serving import check_port_free, serve_app, settings_to_env
        from memchat.store.urls import resolve_url

        settings = ServerSettings(
            model=str((model or newest_bundle()).resolve()),
            db=resolve_url(db),
            auth_token=auth_token,
            cors=list(cors),
            max_body=max_body,
            read_timeout=read_timeout,
        )
        check_port_free(host, port)  # a busy port is one line, before the model loads
        bot = Bot.load(settings.model, db=settings.db, kb=kb)  # fails here, in one line, if anything is wrong
    click.echo(f"memchat serve: model {settings.model}, store {bot.store.shown}, http://{host}:{port}", err=True)
    settings_to_env(settings)  # the header deadline (and the workers) read them there
    limits = uvicorn_options(max_connections)
    if workers == 1:
        uvicorn.run(serve_app(settings, bot), host=host, port=port, log_level=log_level, **limits)
    else:
        bot.close()
        root = click.get_current_context().find_root().params.get("plugins_dir")
        if root:
            os.environ["MEMCHAT_PLUGINS_DIR"] = str(Path(root).resolve())
        uvicorn.run(
            "memchat.channels.serving:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            **limits,
        )
