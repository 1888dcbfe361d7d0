"""What a policy is: asked for a project bot's next action, it names one or passes (None). The
processor asks the policies in order (``memchat.dialogue.policies.POLICIES``); the first that
names an action wins, and when none does the bot listens. A policy reads the turn through a
``Decision``: the processor, the turn so far, and the model's ranking over the memory window."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

from memchat.dialogue.policies.repeats import repeats
from memchat.dialogue.turn import TurnState
from memchat.nn.ranker import Ranking


@dataclass
class Decision:
    """One choice of the next action: what every policy may read."""

    dm: object  # the DialogueManager running the turn (not imported: it imports the policies)
    turn: TurnState  # the turn so far (its tracker: slots, active form, events)
    ranking: Ranking  # the model's scores of every candidate over the memory window

    @cached_property
    def again(self) -> set[str]:
        """The actions that would repeat the bot's previous turn right after it (``repeats``)."""
        return repeats(self.dm, self.turn)

    @cached_property
    def question(self) -> str | None:
        """The question the active form asks now, or None."""
        return self.dm.question(self.turn.tracker)

    @property
    def led(self) -> int:
        """1 when the turn began with a lead ("Sorry, I don't know any restaurants in dublin")."""
        return int(self.turn.lead is not None)


class Policy(Protocol):
    def next_action(self, at: Decision) -> str | None:
        """The action to take now, or None to let the next policy choose."""
