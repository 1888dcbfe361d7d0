"""What memchat talks about, whatever it came from: turns, dialogues, knowledge-base facts, and
the speakers' names. Every layer reads these; they import nothing of memchat.

A knowledge-base result line is ``resto_x R_cuisine italian`` (``parse_kb_result``);
``<SILENCE>`` stands for a missing user utterance when the bot speaks twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SILENCE = "<SILENCE>"
USER, BOT, KB = "user", "bot", "kb"
SPEAKERS = (USER, BOT, KB)  # also the order of the model's speaker embeddings


@dataclass(frozen=True, slots=True)
class Turn:
    speaker: str  # USER, BOT or KB
    text: str
    line: int  # where it is from: its 1-based line in a file, its seq in the store, or 0 (made in memory)


@dataclass(slots=True)
class Dialog:
    turns: list[Turn] = field(default_factory=list)
    source: str = ""  # file the dialogue was read from
    line: int = 0  # line of its first turn

    @property
    def bot_turns(self) -> list[int]:
        """Indices in ``turns`` of the bot replies: the examples a model is trained and scored on."""
        return [i for i, t in enumerate(self.turns) if t.speaker == BOT]


@dataclass(frozen=True, slots=True)
class KBFact:
    subject: str  # restaurant name
    relation: str  # R_cuisine, R_location, ...
    value: str


def parse_kb_result(text: str) -> KBFact | None:
    """The fact a knowledge-base result line states, or None (``api_call no result``)."""
    parts = text.split(None, 2)
    if len(parts) == 3 and parts[1].startswith("R_"):
        return KBFact(*parts)
    return None
