"""What the bot says first, before the model: the turn's lead (``TurnState.lead``)."""

from __future__ import annotations

from memchat.dialogue.policies.base import Decision


class Lead:
    """ "Sorry, I don't know any restaurants in dublin" (``utter_unknown_SLOT``), or the fallback
    response to a message of words never seen, as the turn's first action."""

    def next_action(self, at: Decision) -> str | None:
        return at.turn.lead[0] if at.turn.lead is not None and at.turn.step == 0 else None
