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
unless ``wait_for_user_input: false``. Like every rule, they are training data as well.

A rule with one user step (an intent), after the actions the bot must have just taken, if any:

    - rule: the address when asked
      steps:
      - intent: ask_address
      - action: utter_address

is an intent rule: when the bot is certain of the message's intent (``IntentMatcher.certain``:
the nearest NLU example by character 3-grams is close, and far closer than any other intent's),
the message sets no slot, and the rule's condition holds, its actions are taken, then the bot
listens (as RulePolicy does after a rule's intent). A rule with no ``active_loop`` condition does
not interrupt a form that waits for an answer. Otherwise -- an intent the bot is not sure of,
entities in the user step -- the model alone decides, from what it learned of the rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from memchat.errors import MemchatError
from memchat.project.spec import LISTEN, is_unset, slot_text

if TYPE_CHECKING:  # compiling rules reads stories (training); applying them (serving) does not
    from memchat.project.data import Story


def is_follow_up(story: Story) -> bool:
    """A rule the bot applies as it talks: its steps begin with an action, and it has no intent."""
    return story.rule and bool(story.steps) and story.steps[0].kind == "action" and not any(_intents(story.steps))


def _intents(steps) -> list:
    """The user steps: intents, and ``or`` steps of them."""
    return [s for s in steps if s.kind == "intent" or (s.kind == "or" and s.options[0][0].kind == "intent")]


def is_intent_rule(story: Story) -> bool:
    """A rule applied when its intent is certain: one intent (no entities), the actions the bot
    took just before it, and after it actions (slot_was_set and active_loop between them)."""
    intents = _intents(story.steps)
    if not story.rule or len(intents) != 1 or intents[0].entities or intents[0].kind == "or":
        return False
    at = story.steps.index(intents[0])
    after = story.steps[at + 1 :]
    return (
        bool(after)
        and after[0].kind == "action"
        and all(s.kind == "action" for s in story.steps[:at])
        and all(s.kind in ("action", "slot_was_set", "active_loop") for s in after)
    )


def compile_intent_rule(story: Story) -> dict:
    """An intent rule as a bundle keeps it: ``intent``; ``before``, the bot's last actions before
    the message; ``actions`` and ``states`` as a follow-up rule's (``compile_rule``), the
    condition holding at the first; ``start``: only as a conversation's first message."""
    from memchat.project.data import Story

    at = story.steps.index(_intents(story.steps)[0])
    after = Story(
        story.name,
        story.steps[at + 1 :],
        rule=True,
        condition=story.condition,
        wait_for_user_input=story.wait_for_user_input,
        at=story.at,
    )
    return compile_rule(after) | {
        "intent": story.steps[at].name,
        "before": [s.name for s in story.steps[:at]],
        "start": story.conversation_start,
    }


def compile_intent_rules(stories: list[Story]) -> list[dict]:
    return [compile_intent_rule(s) for s in stories if is_intent_rule(s)]


def intent_rule(
    rules: list[dict], intent: str, before: list[str], slots: dict[str, str], active_loop: str | None, first: bool
) -> dict | None:
    """The intent rule that applies to a message of ``intent``: the bot's last actions before it
    were ``before``; ``first``, whether it is the conversation's first message. Of those that
    apply, the one with the most actions before the intent, then the first written."""
    best = None
    for rule in rules:
        state = rule["states"][0]
        if rule["intent"] != intent or (rule["start"] and not first):
            continue
        if rule["before"] and before[-len(rule["before"]) :] != rule["before"]:
            continue
        if rule.get("memo") and before and before[-1] in rule["actions"]:
            continue  # a story memoized: not again as the answer to its own question
        if "active_loop" not in state and active_loop is not None:
            continue  # a form waits for its answer: only a rule that says so interrupts it
        if not holds(state, slots, active_loop):
            continue
        if best is None or len(rule["before"]) > len(best["before"]):
            best = rule
    return best


def compile_rule(story: Story) -> dict:
    """A follow-up rule as a bundle keeps it: ``actions`` in order; ``states[j]``, what must hold
    when ``actions[j]`` is chosen: the slot values (None: any value) and the active form its
    ``condition`` and steps so far say, each step overriding what came before it (the condition
    holds where the rule starts: ``active_loop: null`` after the form's last answer overrides it)."""
    from memchat.project.data import ANY_VALUE

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


def holds(state: dict, slots: dict[str, str], active_loop: str | None) -> bool:
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
            if not holds(rule["states"][j], slots, active_loop):
                continue
            nxt = actions[j] if j < len(actions) else (LISTEN if rule["wait"] else None)
            if nxt is not None:
                best, best_len = nxt, j
            break
    return best


def memoized_intent_rules(stories: list[Story], rules: list[dict]) -> list[dict]:
    """Intent rules the stories imply while a form is on, as Rasa's MemoizationPolicy remembers
    them: where every story that has ``intent`` said while ``form`` is active goes on with the
    same response (formbot's ``stop`` mid-form: ``utter_ask_continue``, in both its stories), and
    no rule of the project already says what follows ``intent`` there. The bot then says it for a
    message whose intent is certain, whatever the model would have made of the words."""
    seen: dict[tuple[str, str], set[str]] = {}
    where: dict[tuple[str, str], str] = {}
    for story in stories:
        if story.rule:
            continue
        loop = None
        steps = story.steps
        for k, step in enumerate(steps):
            if step.kind == "active_loop":
                loop = step.name or None
            elif step.kind == "intent" and loop is not None and step.name:
                nxt = next((s for s in steps[k + 1 :] if s.kind != "slot_was_set"), None)
                key = (step.name, loop)
                seen.setdefault(key, set()).add(nxt.name if nxt is not None and nxt.kind == "action" else "")
                where.setdefault(key, story.at)
    covered = {(r["intent"], r["states"][0].get("active_loop")) for r in rules}
    out = []
    for (intent, loop), after in sorted(seen.items()):
        (action,) = after if len(after) == 1 else ("",)
        if not action.startswith("utter_") or (intent, loop) in covered:
            continue
        out.append(
            {
                "name": f"memoized: {intent} while {loop}",
                "at": where[intent, loop],
                "actions": [action],
                "states": [{"slots": {}, "active_loop": loop}, {"slots": {}, "active_loop": loop}],
                "wait": True,
                "intent": intent,
                "before": [],
                "start": False,
                "memo": True,  # not right after its own response: "stop" to "Do you want to continue?"
            }
        )
    return out
