"""The project's rules: an intent rule fired by a message whose intent is certain (its actions in
order, then listen), and a follow-up rule (the chain of actions the author wrote goes on).

Each function takes ``dm``, the ``DialogueManager`` running the turn (not imported here: it
imports this module)."""

from __future__ import annotations

from memchat.dialogs import BOT, SILENCE
from memchat.dialogue.policies.base import Decision
from memchat.dialogue.turn import Tracker, TurnState, last_messages
from memchat.plugins import PluginFailure
from memchat.project.rules import follow_up, holds, intent_rule
from memchat.project.spec import LISTEN


def intent_rule_of(dm, text: str, tracker: Tracker, intent: str | None = None) -> dict | None:
    """The intent rule a message fires: its intent certain (or ``intent``, given: a payload's),
    the rule's condition holding, and the bot's last actions before it those the rule names."""
    if intent is None:
        intent = dm.interpreter.matcher.certain(text) if text != SILENCE else None
    if intent is None:
        return None
    events = tracker.events
    said = last_messages(events, 2)  # events[said[0]] is this message
    start = said[1] + 1 if len(said) > 1 else 0
    before = [e.text for e in events[start : said[0]] if e.speaker == BOT and e.text != LISTEN]
    base, _, sub = intent.partition("/")
    rule = intent_rule(dm.spec.intent_rules, base, before, tracker.slots, tracker.active_loop, len(said) == 1)
    if rule is not None and sub:  # a retrieval intent: utter_faq says utter_faq/hours
        own = [f"{a}/{sub}" if f"{a}/{sub}" in dm.spec.responses else a for a in rule["actions"]]
        rule = rule | {"actions": own}
    return rule


def rule_goes_on(dm, turn: TurnState, again: set[str]) -> str | None:
    """The intent rule's next action, or listen after its last (unless it says not to wait);
    None, and the rule dropped, when its next action cannot be said now or a plugin vetoes it."""
    rule, j, tracker = turn.rule, len(turn.taken), turn.tracker
    if turn.taken != rule["actions"][:j]:
        turn.rule = None
        return None
    if j == len(rule["actions"]):  # its end: a follow-up rule goes on, else it listens
        turn.rule = None
        going_on = follow_up(dm.spec.rules, turn.taken, tracker.slots, tracker.active_loop)
        return LISTEN if rule["wait"] and going_on is None else None
    action = rule["actions"][j]
    if (
        action in again
        or dm.spec.kind(action) == "action"
        and action not in dm.spec.actions
        or not dm.spec.renderable(action, tracker.slots)
        or (j and not holds(rule["states"][j], tracker.slots, tracker.active_loop))
    ):
        turn.rule = None
        return None
    failures: list[PluginFailure] = []
    vetoed = dm.vetoed(turn.conversation_id, action, list(turn.turns), failures)
    turn.failures += failures  # a plugin that raised is named, whether or not another vetoed
    if vetoed:
        turn.rule = None
        return None
    return action


class IntentRules:
    """The intent rule the user's message fired (``TurnState.rule``) goes on, while its next
    action can be said and no plugin vetoes it."""

    def next_action(self, at: Decision) -> str | None:
        return rule_goes_on(at.dm, at.turn, at.again) if at.turn.rule is not None else None


class FollowUpRules:
    """A follow-up rule: after the actions the author chained, the next one, unless it would
    repeat the previous turn, cannot be said now, or a plugin vetoes it."""

    def next_action(self, at: Decision) -> str | None:
        dm, turn = at.dm, at.turn
        tracker = turn.tracker
        ruled = follow_up(dm.spec.rules, turn.taken, tracker.slots, tracker.active_loop)
        if ruled is None or ruled in at.again or not (ruled == LISTEN or dm.spec.renderable(ruled, tracker.slots)):
            return None
        failures: list[PluginFailure] = []
        vetoed = dm.vetoed(turn.conversation_id, ruled, list(turn.turns), failures)
        turn.failures += failures  # a plugin that raised is named, whether or not another vetoed
        return None if vetoed else ruled
