"""``memchat test``: a project's test stories run through its bot, judged as ``rasa test core`` judges.

Each test story is a fresh conversation. Its user steps are sent as typed (``user:``, annotations
removed); before each of the story's actions the bot predicts what it would do, then the story's
action is taken (the conversation follows the story, as Rasa's evaluation does, so one mistake
does not spoil the rest). The bot must also listen where the story waits for the user. An
action is right when the prediction is the story's action (for a retrieval intent's ``utter_faq``,
any ``utter_faq/...``; the bot picks the sub-response itself); a story is right when all its
actions are.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from memchat.dialogs import KB, SILENCE
from memchat.dialogue.processor import DialogueManager
from memchat.dialogue.text import clean_text
from memchat.project.data import ANY_VALUE, Step, Story
from memchat.project.spec import LISTEN, slot_text
from memchat.store.event import Event


@dataclass
class StoryResult:
    story: Story
    checked: list[tuple[Step | None, str, str]] = field(default_factory=list)  # (step, expected, predicted)

    @property
    def right(self) -> bool:
        return all(_same(e, p) for _, e, p in self.checked)


@dataclass
class TestReport:
    results: list[StoryResult]

    @property
    def actions(self) -> int:
        return sum(len(r.checked) for r in self.results)

    @property
    def actions_right(self) -> int:
        return sum(_same(e, p) for r in self.results for _, e, p in r.checked)

    @property
    def action_accuracy(self) -> float:
        return self.actions_right / self.actions if self.actions else 0.0

    @property
    def story_accuracy(self) -> float:
        return sum(r.right for r in self.results) / len(self.results) if self.results else 0.0

    def confusions(self) -> Counter:
        return Counter((e, p) for r in self.results for _, e, p in r.checked if not _same(e, p))

    def to_dict(self) -> dict:
        return {
            "action_accuracy": self.action_accuracy,
            "actions": self.actions,
            "actions_right": self.actions_right,
            "story_accuracy": self.story_accuracy,
            "stories": len(self.results),
            "stories_right": sum(r.right for r in self.results),
            "confusions": [
                {"expected": e, "predicted": p, "count": n} for (e, p), n in self.confusions().most_common()
            ],
        }


def _same(expected: str, predicted: str) -> bool:
    return predicted == expected or predicted.startswith(expected + "/")


def run_tests(manager: DialogueManager, stories: list[Story], e2e: bool = True) -> TestReport:
    """Each story through the bot. ``e2e``: a user step is sent as the user typed it (Rasa's
    ``--e2e``); otherwise as its intent and entities (``/intent{"entity": "value"}``, Rasa's core
    test), text only where the step has no intent. Custom actions do not run (as in Rasa's
    evaluation) on the action server: the story's ``slot_was_set`` steps say what they did.
    memchat's in-process plugin actions (the knowledge base's) run."""
    run = uuid.uuid4().hex[:8]
    was, manager.call_action_server = manager.call_action_server, False
    try:
        return TestReport([_run_story(manager, story, f"test-{run}-{i}", e2e) for i, story in enumerate(stories)])
    finally:
        manager.call_action_server = was


def _steps(story: Story) -> list[Step]:
    out = []
    for step in story.steps:
        out.append(step.options[0][0] if step.kind == "or" else step)
    return out


def _said(step: Step, e2e: bool, manager: DialogueManager) -> str:
    """What the test sends for a user step (the reader gives each an intent, a text or both): with
    ``e2e``, the text; else the payload of its intent, or the step's own text where the bot reads
    that text as the step's intent anyway (memchat's model reads words, not intents: the
    story's own words are the intent's truest rendering)."""
    if step.user is not None and (e2e or not step.name or step.name not in manager.spec.intent_templates):
        return step.user.text
    if step.user is not None and manager.interpreter is not None:
        read = manager.interpreter.matcher.intent(step.user.text) or ""
        if read.split("/")[0] == step.name.split("/")[0]:
            return step.user.text
    entities = {e: v for e, v in step.entities if v is not None}
    return f"/{step.name}{json.dumps(entities) if entities else ''}"


def _closes(steps: list[Step], k: int) -> bool:
    """Whether the form run at ``steps[k]`` is done by the story's next steps (``active_loop:
    null``, or ``active_loop`` of it then ``null``): Rasa's test story leaves the answers out."""
    loops = [s for s in steps[k + 1 : k + 3]]
    if loops and loops[0].kind == "active_loop" and not loops[0].name:
        return True
    return len(loops) == 2 and all(s.kind == "active_loop" for s in loops) and bool(loops[0].name) and not loops[1].name


def _run_story(manager: DialogueManager, story: Story, cid: str, e2e: bool) -> StoryResult:
    result = StoryResult(story)
    turn, listening = None, True
    steps = _steps(story)
    for k, step in enumerate(steps):
        if step.kind == "intent":
            if not listening:  # the story waits for the user here: the bot should listen
                action, ranking = manager.next_action(turn)
                result.checked.append((None, LISTEN, action))
                manager.take(turn, LISTEN, ranking)
            turn = _begin(manager, turn, cid, clean_text(_said(step, e2e, manager)))
            listening = False
        elif step.kind == "action":
            if turn is None:
                turn = _begin(manager, turn, cid, SILENCE)
            if listening:  # the bot had listened already (a form asked): it cannot act now
                result.checked.append((step, step.name, LISTEN))
                turn = _begin(manager, turn, cid, SILENCE)
                listening = False
            action, ranking = manager.next_action(turn)
            result.checked.append((step, step.name, action))
            gold = action if _same(step.name, action) else _resolve(manager, step.name)
            if manager.spec.kind(gold) == "form" and _closes(steps, k):
                _fill(manager, turn, gold)
            listening = manager.take(turn, gold, ranking)
        elif step.kind == "slot_was_set" and turn is not None:
            _set_slots(manager, turn, step)
        elif step.kind == "active_loop" and turn is not None and turn.tracker.active_loop != (step.name or None):
            turn.tracker.active_loop = step.name or None
            manager.add_events(turn, [Event(KB, f"active_loop {step.name or 'null'}")])
    if turn is not None and not listening:
        action, ranking = manager.next_action(turn)
        result.checked.append((None, LISTEN, action))
        manager.take(turn, LISTEN, ranking)
    if turn is not None:
        manager.commit(turn)
    return result


def _set_slots(manager: DialogueManager, turn, step: Step) -> None:
    """A story's ``slot_was_set``: what the custom action before it did, set as the story says."""
    events = []
    for name, value in step.slots:
        if name == "requested_slot" or value is ANY_VALUE or name not in manager.spec.slot_types:
            continue
        if turn.tracker.slots.get(name) != slot_text(value):
            turn.tracker.slots[name] = slot_text(value)
            events.append(manager.slot_event(name, value))
    if events:
        manager.add_events(turn, events)


def _fill(manager: DialogueManager, turn, form: str) -> None:
    """The form's missing slots set, as the answers the story leaves out would set them."""
    missing = manager.spec.missing(form, turn.tracker.slots)
    if turn.tracker.active_loop != form:
        turn.tracker.active_loop = form
        manager.add_events(turn, [Event(KB, f"active_loop {form}")])
    for name in missing:
        turn.tracker.slots[name] = "filled"
    if missing:
        manager.add_events(turn, [manager.slot_event(name, "filled") for name in missing])


def _begin(manager: DialogueManager, previous, cid: str, text: str):
    """The next turn, the one before stored whole first."""
    if previous is not None:
        manager.commit(previous)
    return manager.begin(cid, text)


def _resolve(manager: DialogueManager, action: str) -> str:
    """A story's ``utter_faq`` as an action the bot has (its first sub-response)."""
    if action in manager.ranker.featurizer.candidate_index or action == LISTEN:
        return action
    return next((c for c in manager.ranker.featurizer.candidates if c.startswith(action + "/")), action)


def annotated(example) -> str:
    """A user's text with its entities marked as Rasa writes them: ``[thai](cuisine)``, or
    ``[Rasa X]{"entity": "product", "value": "x"}`` when the value is not the text."""
    out, pos = [], 0
    for start, end, entity, value in sorted(example.entities):
        surface = example.text[start:end]
        out.append(example.text[pos:start])
        if value == surface:
            out.append(f"[{surface}]({entity})")
        else:
            out.append(f"[{surface}]" + json.dumps({"entity": entity, "value": value}))
        pos = end
    out.append(example.text[pos:])
    return "".join(out)


def write_failed_stories(report: TestReport, path: Path) -> int:
    """The stories with a wrong action, in Rasa's format, each wrong action marked
    ``# predicted: ...`` as Rasa's ``failed_test_stories.yml`` does; returns how many."""
    failed = [r for r in report.results if not r.right]
    lines = ['version: "3.1"', "stories:"]
    for r in failed:
        lines.append(
            f"- story: {yaml.safe_dump(r.story.name, default_style=None).strip().removesuffix('...').strip()}"
            f"  # {r.story.at}"
        )
        lines.append("  steps:")
        wrong = {id(s): p for s, e, p in r.checked if s is not None and not _same(e, p)}
        listen_misses = [p for s, e, p in r.checked if s is None and not _same(e, p)]
        for step in _steps(r.story):
            if step.kind == "intent":
                if step.user:
                    lines.append(f"  - user: |\n      {annotated(step.user)}")
                    if step.name:
                        lines.append(f"    intent: {step.name}")
                else:
                    lines.append(f"  - intent: {step.name}")
                    if step.entities:
                        lines.append("    entities:")
                        lines += [
                            f"    - {e}: {json.dumps(v)}" if v is not None else f"    - {e}" for e, v in step.entities
                        ]
            elif step.kind == "action":
                mark = f"  # predicted: {wrong[id(step)]}" if id(step) in wrong else ""
                key = "bot" if step.bot_text else "action"
                lines.append(f"  - {key}: {json.dumps(step.name) if step.bot_text else step.name}{mark}")
            elif step.kind == "slot_was_set":
                lines.append("  - slot_was_set:")
                lines += [f"    - {n}" if v is ANY_VALUE else f"    - {n}: {json.dumps(v)}" for n, v in step.slots]
            elif step.kind == "active_loop":
                lines.append(f"  - active_loop: {step.name or 'null'}")
        for p in listen_misses:
            lines.append(f"  # the bot should have listened; predicted: {p}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return len(failed)


def story_report(report: TestReport) -> dict:
    """The figures in the shape of Rasa's ``results/story_report.json``: each action's precision,
    recall, f1-score and support, ``accuracy``, ``macro avg``, ``weighted avg`` and
    ``conversation_accuracy``."""
    pairs = [(e, e if _same(e, p) else p) for r in report.results for _, e, p in r.checked]
    labels = sorted({x for pair in pairs for x in pair})
    out: dict = {}
    for label in labels:
        tp = sum(e == p == label for e, p in pairs)
        predicted = sum(p == label for _, p in pairs)
        support = sum(e == label for e, _ in pairs)
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[label] = {"precision": precision, "recall": recall, "f1-score": f1, "support": support}
    rows = [out[label] for label in labels]
    total = sum(r["support"] for r in rows) or 1
    out["accuracy"] = report.action_accuracy
    for name, weight in (("macro avg", lambda r: 1 / len(rows)), ("weighted avg", lambda r: r["support"] / total)):
        out[name] = {k: sum(weight(r) * r[k] for r in rows) for k in ("precision", "recall", "f1-score")}
        out[name]["support"] = len(pairs)
    right = sum(r.right for r in report.results)
    out["conversation_accuracy"] = {
        "accuracy": report.story_accuracy,
        "correct": right,
        "with_warnings": 0,
        "total": len(report.results),
    }
    return out


def write_json(data: dict, path: Path) -> None:
    """``data`` as JSON at ``path``, written whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
