"""Forms: the active form goes on when the user answered its question, and resumes, where it was,
after an off-topic message was answered."""

from __future__ import annotations

from memchat.dialogue.policies.base import Decision


class FormAnswered:
    """The user's message filled a slot of the active form (or a lead was said first): the form
    goes on, right after the lead if any."""

    def next_action(self, at: Decision) -> str | None:
        turn, led = at.turn, at.led
        if turn.step == led and turn.tracker.active_loop and (turn.form_goes_on or led):
            return turn.tracker.active_loop
        return None


class FormResumes:
    """Asked once the model passed: after an action the project lists in ``form_resumes`` (an
    off-topic question answered), the active form asks its question again."""

    def next_action(self, at: Decision) -> str | None:
        turn, question = at.turn, at.question
        if question is not None and turn.previous in at.dm.spec.form_resumes and question not in turn.taken:
            return turn.tracker.active_loop
        return None
