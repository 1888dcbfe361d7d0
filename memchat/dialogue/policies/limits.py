"""A bot that never listens is made to."""

from __future__ import annotations

from memchat.dialogue.policies.base import Decision
from memchat.project.spec import LISTEN


class MaxActions:
    """After ``max_actions`` actions in one turn, listen."""

    def next_action(self, at: Decision) -> str | None:
        return LISTEN if at.turn.step >= at.dm.max_actions else None
