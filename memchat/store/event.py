"""One stored event of a conversation: a user turn, a bot action or a knowledge-base line."""

from __future__ import annotations

from dataclasses import dataclass

from memchat.dialogs import Turn


@dataclass(frozen=True, slots=True)
class Event:
    """One stored row of a conversation, read-only (the store shares the events it keeps). The
    model reads ``Turn``s (``Event.turn``): the store
    and the model meet there, and nowhere else."""

    speaker: str  # user, bot or kb
    text: str
    data: dict | None = None
    seq: int = 0  # set by the store
    timestamp: float = 0.0  # set by the store
    conversation_id: str = ""

    def turn(self) -> Turn:
        """What the model reads of this event: speaker and text (its seq in the turn's ``line``)."""
        return Turn(self.speaker, self.text, self.seq)

    def to_dict(self) -> dict:
        return {
            "seq": self.seq,
            "speaker": self.speaker,
            "text": self.text,
            "timestamp": self.timestamp,
            "data": self.data,
        }
