"""Per-response and per-dialogue accuracy (Bordes et al. 2017, §5): the figures batch evaluation
(``evaluate.py``, torch) and live replay (``replay.py``, no torch) both report."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Scores:
    responses: int
    dialogs: int
    responses_right: int  # bot turns whose top-ranked candidate is the gold reply
    dialogs_right: int  # dialogues with every bot turn right

    @property
    def per_response(self) -> float:
        return self.responses_right / self.responses if self.responses else 0.0

    @property
    def per_dialog(self) -> float:
        return self.dialogs_right / self.dialogs if self.dialogs else 0.0

    def __add__(self, other: Scores) -> Scores:
        return Scores(
            self.responses + other.responses,
            self.dialogs + other.dialogs,
            self.responses_right + other.responses_right,
            self.dialogs_right + other.dialogs_right,
        )

    def to_dict(self) -> dict:
        return {
            "per_response": self.per_response,
            "per_dialog": self.per_dialog,
            "responses": self.responses,
            "dialogs": self.dialogs,
        }
