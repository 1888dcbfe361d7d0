"""A person who said something gets an answer: a stall is the worst reply there is."""

from __future__ import annotations

from memchat.dialogs import SILENCE
from memchat.dialogue.policies.base import Decision
from memchat.dialogue.policies.memory_network import sayable


class NoStall:
    """About to listen with no word said this turn: the best-ranked response that can be said
    (not after a custom or default action: what it says, or not, is its own)."""

    def next_action(self, at: Decision) -> str | None:
        turn, ranking, spec = at.turn, at.ranking, at.dm.spec
        if turn.tracker.latest_message == SILENCE or any(r.message for r in turn.replies):
            return None
        if any(spec.kind(a) in ("action", "default") for a in turn.taken):  # it answered in its own way
            return None
        responses = (c for i in ranking.order() if spec.kind(c := ranking.candidates[i]) == "response")
        return next((c for c in responses if sayable(at, c)), None)
