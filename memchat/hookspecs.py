"""The hooks a memchat plugin can implement. Every hook is documented in docs/plugins.md."""

from pluggy import HookimplMarker, HookspecMarker

hookspec = HookspecMarker("memchat")
hookimpl = HookimplMarker("memchat")


@hookspec
def register_commands(cli):
    """Add commands to the memchat command line (a click group)."""


@hookspec
def register_routes(app):
    """Add HTTP routes to ``memchat serve`` (a Starlette application: ``app.add_route``)."""


@hookspec
def load_knowledge_base(store, path):
    """Load the knowledge-base file at path into the store's database."""


@hookspec
def rewrite_user_turn(conversation_id, text):
    """See a user turn before it is stored and ranked: new text, or None to keep it."""


@hookspec
def veto_reply(conversation_id, reply, history):
    """See the bot's chosen reply before it is stored: True vetoes it, and the next best is tried."""


@hookspec
def validate_slot(conversation_id, slot, value, slots):
    """See a slot the user's message sets: False rejects it, another value replaces it, None keeps it."""


@hookspec(firstresult=True)
def execute_action(store, conversation_id, action, tracker):
    """Run an action (``api_call italian paris six cheap``, or a project's custom action): its result
    lines, or a dict of ``lines``, ``slots`` and ``messages``; None when the action is not yours."""
