"""The hooks a memchat plugin can implement. Every hook is documented in docs/plugins.md."""

from pluggy import HookimplMarker, HookspecMarker

hookspec = HookspecMarker("memchat")
hookimpl = HookimplMarker("memchat")


@hookspec
def register_commands(cli):
    """Add commands to the memchat command line (a click group)."""


@hookspec
def load_knowledge_base(store, path):
    """Load the knowledge-base file at path into the store's database."""


@hookspec(firstresult=True)
def execute_action(store, conversation_id, action):
    """Run an action reply such as ``api_call italian paris six cheap``: its result lines, or None."""
