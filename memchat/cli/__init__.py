"""The command line, a thin layer over the library: each module adds its commands to the group
(``group.py``): models (train, evaluate, replay), talk (repl, serve), bots (init, start, test).
Nothing here is imported by the layers below."""

from memchat import process
from memchat.cli import bots, models, talk  # noqa: F401  (each adds its commands to the group)
from memchat.cli.group import cli


def main() -> None:
    process.begin()  # no garbage collection until a command is chosen (group._Group.resolve_command)
    cli(prog_name="memchat")
