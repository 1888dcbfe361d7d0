"""The ``memchat`` command line. Heavy imports (torch, numpy, SQLAlchemy) happen inside the
commands, not at start-up: ``memchat --help`` imports click and little else."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from memchat import __version__, process
from memchat.errors import MemchatError, need_torch

DB_HELP = "Store: a SQLAlchemy URL or a SQLite file  [default: $MEMCHAT_DB or ./memchat.db]"  # see store.resolve_url


class _Group(click.Group):
    """Turns memchat's own errors into one line on stderr and exit code 1, never a traceback;
    adds the plugins' commands the first time a command is looked up (not at import)."""

    _plugins_added = False

    def _add_plugin_commands(self, ctx: click.Context) -> None:
        if not _Group._plugins_added:
            _Group._plugins_added = True
            from memchat.plugins import call_all, get_plugin_manager

            pm = get_plugin_manager(ctx.find_root().params.get("plugins_dir"))
            call_all(pm, "register_commands", {"cli": self})

    def resolve_command(self, ctx: click.Context, args: list[str]):
        found = super().resolve_command(ctx, args)
        process.settle()  # the command line and the plugins are loaded: collect garbage again
        return found

    def get_command(self, ctx: click.Context, name: str):
        self._add_plugin_commands(ctx)
        return super().get_command(ctx, name)

    def list_commands(self, ctx: click.Context):
        self._add_plugin_commands(ctx)
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MemchatError as e:
            raise click.ClickException(str(e)) from None
        except Exception as e:
            database = sys.modules.get("sqlalchemy.exc")  # imported by whatever opened a store
            if database is None or not isinstance(e, database.SQLAlchemyError):
                raise
            from memchat.store import database_trouble  # a database that went away, filled up or is damaged

            raise click.ClickException(f"database: {database_trouble(e)}") from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="memchat")
@click.option(
    "--plugins-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="MEMCHAT_PLUGINS_DIR",
    is_eager=True,
    help="Load every .py file in this folder as a plugin (no folder is loaded unless named)",
)
def cli(plugins_dir: Path | None) -> None:
    """memchat: a response-selection bot built on an End-to-End Memory Network."""


@cli.command()
def plugins() -> None:
    """List the loaded plugins, where each comes from and the hooks it implements (JSON)."""
    from memchat.plugins import describe, get_plugin_manager

    click.echo(json.dumps(describe(get_plugin_manager()), indent=2))


def train_with_progress(path: Path, task: int | None = None, **kwargs):
    """``train_bot`` with what it reads and a progress bar per epoch on stderr."""
    need_torch("training")
    from memchat.progress import EpochProgress
    from memchat.train import train_bot

    progress: list[EpochProgress] = []

    def on_start(data) -> None:
        click.echo(data.summary(), err=True)
        for note in data.sources.get("notes", []):
            click.echo(f"note: {note}", err=True)
        progress.append(EpochProgress(data.train_enc.num_dialogs, data.train_cfg.epochs))

    try:
        return train_bot(
            path,
            task,
            on_start=on_start,
            on_batch=lambda done, loss: progress[0].batch(done, loss),
            on_epoch=lambda report: progress[0].epoch(report),
            **kwargs,
        )
    finally:
        if progress:
            progress[0].close()


@cli.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--task", type=click.IntRange(1), help="Use the files of task N in PATH, and its defaults.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("models"),
    show_default=True,
    help="Folder the bundle is written into.",
)
@click.option("--name", help="Bundle name  [default: task<N>-<date>-<time>]")
@click.option("--epochs", type=click.IntRange(1), help="Most epochs to train (early stopping may end sooner).")
@click.option("--hops", type=click.IntRange(1, 10), help="Memory hops.")
@click.option("--dim", type=click.IntRange(2, 4096), help="Embedding size.")
@click.option("--memory", type=click.IntRange(1), help="Memory window: the most recent utterances attended over.")
@click.option(
    "--dropout", type=click.FloatRange(0, 1, max_open=True), help="Dropout on utterance embeddings while training."
)
@click.option("--lr", type=click.FloatRange(0, 1, min_open=True), help="Adam learning rate.")
@click.option("--batch", "batch_dialogs", type=click.IntRange(1), help="Dialogues per batch.")
@click.option("--patience", type=click.IntRange(1), help="Stop after this many epochs without a better dev score.")
@click.option(
    "--subwords",
    type=click.IntRange(0),
    help="Hashed character n-gram buckets beside the words (0: none)  [default: 4096 for projects, else 0]",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed: the same seed repeats a run.")
@click.option("--no-match", is_flag=True, help="Leave out the match-type features (paper §4.4).")
@click.option(
    "--paper",
    is_flag=True,
    help="Only the paper's features: no entity-type words, said types, restaurant names as entities, "
    "latest, focus or next matches.",
)
def train(
    path: Path, task: int | None, out: Path, name: str | None, seed: int, no_match: bool, paper: bool, **given
) -> None:
    """Train a model on the dialogues in PATH (a folder or a -trn.txt file) and write a bundle.

    In a folder, *-trn.txt files train, *-dev.txt files pick the best epoch, *candidates*.txt
    holds the replies to choose from, *kb*.txt the knowledge base, and config.toml's [train]
    table the settings (flags win). The last line printed is the bundle's path.
    """
    bundle, result = train_with_progress(
        path,
        task,
        out=out,
        name=name,
        seed=seed,
        match=False if no_match else None,
        context=False if paper else None,
        **given,
    )
    if result.best_dev:
        click.echo(
            f"best epoch {result.best_epoch}: dev per-response {result.best_dev.per_response:.4f}, "
            f"per-dialog {result.best_dev.per_dialog:.4f}; {result.seconds:.1f} s",
            err=True,
        )
    click.echo(str(bundle.path))


@cli.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option(
    "--errors", "show_errors", type=click.IntRange(0), default=0, help="Show N mispredicted replies with their context."
)
def evaluate(model: Path, files: tuple[Path, ...], as_json: bool, show_errors: int) -> None:
    """Score MODEL (a bundle) on dialogue FILES: per-response and per-dialogue accuracy."""
    need_torch("memchat evaluate (batch scoring; memchat replay scores live, without it)")
    import torch

    from memchat.babi import read_dialogs
    from memchat.bundle import load_bundle
    from memchat.evaluate import predict, score
    from memchat.scores import Scores

    bundle = load_bundle(model)
    feat = bundle.featurizer
    per_file, mistakes, total = [], [], Scores(0, 0, 0, 0)
    for path in files:
        dialogs = read_dialogs(path)
        enc = feat.encode(dialogs)
        pred = predict(bundle.model, feat, enc)
        s = score(pred, enc)
        per_file.append({"file": str(path), **s.to_dict()})
        total = total + s
        wrong = torch.nonzero(pred != enc.ex_gold).squeeze(1).tolist()
        for x in wrong[: max(show_errors - len(mistakes), 0)]:
            d = dialogs[int(enc.ex_dialog[x])]
            q = int(enc.ex_qpos[x])
            mistakes.append((path, d, q, int(pred[x])))
    totals = {**total.to_dict(), "files": per_file}
    if as_json:
        click.echo(json.dumps(totals))
    else:
        for f in per_file if len(per_file) > 1 else []:
            click.echo(f"{f['file']}: per-response {f['per_response']:.4f}, per-dialog {f['per_dialog']:.4f}")
        click.echo(
            f"per-response accuracy {total.per_response:.4f} ({total.responses} replies), "
            f"per-dialog accuracy {total.per_dialog:.4f} ({total.dialogs} dialogues)"
        )
    out = sys.stderr if as_json else sys.stdout
    for path, d, q, p in mistakes:
        gold = d.turns[q + 1]
        click.echo(f"\n{path}:{gold.line}", file=out)
        for t in d.turns[max(0, q - 5) : q + 1]:
            click.echo(f"  {t.speaker:>4}: {t.text}", file=out)
        click.echo(f"  gold      {gold.text}", file=out)
        click.echo(f"  predicted {feat.candidates[p]}", file=out)


@cli.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--kb",
    type=click.Path(path_type=Path),
    help="Knowledge-base file for the api calls  [default: the *kb*.txt beside each FILE]",
)
@click.option("--db", help="Store the conversations here  [default: a temporary SQLite file]")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option(
    "--errors",
    "show_errors",
    type=click.IntRange(0),
    default=0,
    help="Show N replies that differ from the recorded ones.",
)
@click.option(
    "--cut-in/--no-cut-in",
    default=True,
    show_default=True,
    help="Where the recorded user changed the request right after an api call (no results "
    "recorded), do not run that call either.",
)
def replay(
    model: Path, files: tuple[Path, ...], kb: Path | None, db: str | None, as_json: bool, show_errors: int, cut_in: bool
) -> None:
    """Play the user side of the dialogues in FILES live through MODEL: the share of bot turns and
    of dialogues identical to the recorded ones, with the knowledge-base plugin answering api calls."""
    import tempfile

    from memchat.babi import read_dialogs
    from memchat.bot import Bot
    from memchat.replay import replay as run_replay
    from memchat.scores import Scores
    from memchat.taskfiles import find_task_files

    total, mistakes = Scores(0, 0, 0, 0), []
    with tempfile.TemporaryDirectory(prefix="memchat-replay-") as tmp:
        bot = Bot.load(model, db=db or str(Path(tmp) / "replay.db"))
        loaded = None
        for path in files:
            dialogs = read_dialogs(path)
            kbs = [kb] if kb else find_task_files(path).kb
            if kbs != loaded:  # files of one task share their knowledge base: load it once
                for k in kbs:
                    bot.manager.pm.hook.load_knowledge_base(store=bot.store, path=k)
                loaded = kbs
            result = run_replay(bot.manager, dialogs, prefix=path.stem, cut_in=cut_in)
            total = total + result.scores
            mistakes += result.mistakes
        bot.close()
    if as_json:
        click.echo(json.dumps(total.to_dict()))
    else:
        click.echo(
            f"live per-response {total.per_response:.4f} ({total.responses} replies), "
            f"per-dialog {total.per_dialog:.4f} ({total.dialogs} dialogues)"
        )
    out = sys.stderr if as_json else sys.stdout
    for m in mistakes[:show_errors]:
        click.echo(f"\n{m.conversation_id}\n  user: {m.user}\n  gold: {m.gold}\n  said: {m.said}", file=out)


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
        from memchat.repl import Repl

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
        from memchat.server import ServerSettings, check_port_free, serve_app, settings_to_env, uvicorn_options
        from memchat.store import resolve_url

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
            "memchat.server:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            **limits,
        )


def main() -> None:
    process.begin()  # no garbage collection until a command is chosen (_Group.resolve_command)
    cli(prog_name="memchat")


from memchat import cli_bots  # noqa: E402, F401  (init, start, test: the commands on bot folders)
