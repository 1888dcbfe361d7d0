"""Follow-up rules: what a bot always does next after an action, applied as it talks.

A Rasa rule whose steps begin with an ``action`` (not an intent) says what follows that action
whatever the user said before it:

    - rule: a search is announced, then run
      wait_for_user_input: false
      steps:
      - action: utter_searching
      - action: action_search_restaurants

The model learns such chains from the stories, but a conversation it never saw (a change of mind
after booking, a turn of slips) can still make it stop half-way. So, as Rasa's RulePolicy does,
memchat applies these rules with certainty: when the actions the bot has just taken in this turn
end with a rule's first actions, and the rule's ``slot_was_set`` and ``active_loop`` steps there
hold (``condition`` too), the rule's next action is taken; after its last action the bot listens,
unless ``wait_for_user_input: false``. Like every rule, they are training data as well. Rules
that begin with an intent are learned by the model only: memchat has no intent classifier to
trigger them with certainty.
"""

from __future__ import annotations

from memchat.errors import MemchatError
from memchat.project.data import ANY_VALUE, Story
from memchat.project.domain import LISTEN, is_unset, slot_text


def is_follow_up(story: Story) -> bool:
    """A rule the bot applies as it talks: its steps begin with an action."""
    return story.rule and bool(story.steps) and story.steps[0].kind == "action"


def compile_rule(story: Story) -> dict:
    """A follow-up rule as a bundle keeps it: ``actions`` in order; ``states[j]``, what must hold
    when ``actions[j]`` is chosen: the slot values (None: any value) and the active form its
    ``condition`` and steps so far say, each step overriding what came before it (the condition
    holds where the rule starts: ``active_loop: null`` after the form's last answer overrides it)."""
    actions: list[str] = []
    state: dict = {"slots": {}}
    states: list[dict] = []
    for step in [*story.condition, *story.steps, None]:
        if step is None or step.kind == "action":  # None: the end, where the bot listens
            states.append({"slots": dict(state["slots"]), **{k: v for k, v in state.items() if k != "slots"}})
            if step is not None:
                actions.append(step.name)
        elif step.kind == "slot_was_set":
            state["slots"].update(
                {s: None if v is ANY_VALUE else slot_text(v) for s, v in step.slots if s != "requested_slot"}
            )
        elif step.kind == "active_loop":
            state["active_loop"] = step.name or None
        else:
            raise MemchatError(f"{step.at}: a rule that begins with an action holds actions, slot_was_set, active_loop")
    # states[j]: what holds when actions[j] is chosen, after actions[:j]; states[-1]: at the end
    return {"name": story.name, "at": story.at, "actions": actions, "states": states, "wait": story.wait_for_user_input}


def compile_rules(stories: list[Story]) -> list[dict]:
    """The project's follow-up rules; two that say different things after the same actions in the
    same state are one line naming both."""
    rules = [compile_rule(s) for s in stories if is_follow_up(s)]
    seen: dict[str, dict] = {}
    for rule in rules:
        for j in range(1, len(rule["actions"]) + 1):
            nxt = rule["actions"][j] if j < len(rule["actions"]) else (LISTEN if rule["wait"] else None)
            key = repr((rule["actions"][:j], rule["states"][j]))
            other = seen.setdefault(key, {"rule": rule, "next": nxt})
            if other["next"] != nxt and None not in (nxt, other["next"]):
                raise MemchatError(
                    f"{rule['at']}: rule {rule['name']!r} contradicts rule {other['rule']['name']!r} "
                    f"({other['rule']['at']}): after {' → '.join(rule['actions'][:j])}, "
                    f"{nxt} or {other['next']}?"
                )
    return rules


def _holds(state: dict, slots: dict[str, str], active_loop: str | None) -> bool:
    if "active_loop" in state and state["active_loop"] != active_loop:
        return False
    for slot, value in state["slots"].items():
        now = slots.get(slot)
        if is_unset(now) if value is None else now != value:
            return False
    return True


def follow_up(rules: list[dict], taken: list[str], slots: dict[str, str], active_loop: str | None) -> str | None:
    """The action a rule says comes next after ``taken`` (this turn's actions, in order), or None.
    The rule matching the most of the last actions wins; among equals, the first written."""
    best, best_len = None, 0
    for rule in rules:
        actions = rule["actions"]
        for j in range(min(len(actions), len(taken)), best_len, -1):
            if taken[-j:] != actions[:j]:
                continue
            if not _holds(rule["states"][j], slots, active_loop):
                continue
            nxt = actions[j] if j < len(actions) else (LISTEN if rule["wait"] else None)
            if nxt is not None:
                best, best_len = nxt, j
            break
    return best
