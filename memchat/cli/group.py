"""The ``memchat`` command group: its options, plugin commands, and ``memchat plugins``. Heavy
imports (torch, numpy, SQLAlchemy) happen inside the commands, not at start-up: ``memchat --help``
imports click and little else."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from memchat import process
from memchat.errors import MemchatError
from memchat.version import __version__

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
            from memchat.store.urls import database_trouble  # a database that went away, filled up or is damaged

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
