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
    """Asked once the model passed: after a response mid-form (an off-topic question answered),
    the active form asks its question again, as Rasa's RulePolicy returns to the active loop --
    unless the stories wait for the user after that response while a form is on ("Do you want
    to continue?": ``form_waits``)."""

    def next_action(self, at: Decision) -> str | None:
        turn, question, spec = at.turn, at.question, at.dm.spec
        if question is None or question in turn.taken or turn.previous is None:
            return None
        resumes = turn.previous in spec.form_resumes or (
            spec.kind(turn.previous) == "response" and turn.previous not in spec.form_waits
        )
        return turn.tracker.active_loop if resumes else None
