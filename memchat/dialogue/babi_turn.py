"""A dialog bAbI bot's turn: the model's best reply no plugin vetoes, api calls run through the
plugins' ``execute_action`` hook, and going on by itself after the replies its training users let
it go on from.

Each function takes ``dm``, the ``DialogueManager`` running the turn (not imported here: it
imports this module)."""

from __future__ import annotations

from memchat.dialogs import BOT, KB
from memchat.dialogue.turn import Reply, TurnState
from memchat.plugins import call_each, failures_data
from memchat.store.event import Event


def speak(dm, turn: TurnState, run_actions: bool, most: int | None = None) -> None:
    """A dialog bAbI bot's turn: replies, api calls run through the plugins, and going on by
    itself after the replies its training users let it go on from."""
    failures, replies = [], turn.replies
    for _ in range(dm.max_actions):
        dm.let_go_on(turn)
        ranking = dm.ranker.rank(turn.turns)
        previous = replies[-1].text if replies else None
        text = dm.choose(turn.conversation_id, ranking, list(turn.turns), failures, not_again=previous)
        if text is None:  # every candidate vetoed: the bot says nothing
            break
        reply = Reply(
            text, ranking, plugin_failures=failures, message=None if text.startswith("api_call") else {"text": text}
        )
        dm.add_events(turn, [Event(BOT, reply.text, failures_data(failures) or None)])
        replies.append(reply)
        failures = []
        if most is not None and len(replies) >= most:
            break
        if reply.is_action:
            if not run_actions:
                break
            args = {
                "store": dm.store,
                "conversation_id": turn.conversation_id,
                "action": reply.text,
                "tracker": None,
            }
            results = next((r for _, r in call_each(dm.pm, "execute_action", failures, args)), None)
            reply.plugin_failures += failures
            failures = []
            if results is None:  # no plugin runs this action: the reply stands as said
                break
            reply.action_results = list(results)
            dm.add_events(turn, [Event(KB, line) for line in results])
        elif text not in dm.continue_after:
            break
