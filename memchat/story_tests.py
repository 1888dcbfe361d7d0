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

import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from memchat.dialogs import SILENCE
from memchat.dialogue.processor import DialogueManager
from memchat.dialogue.text import clean_text
from memchat.project.data import Step, Story
from memchat.project.spec import LISTEN


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


def run_tests(manager: DialogueManager, stories: list[Story], examples: dict | None = None) -> TestReport:
    """``examples``: the project's NLU examples, for test stories that give an intent but no text."""
    run = uuid.uuid4().hex[:8]
    return TestReport(
        [_run_story(manager, story, f"test-{run}-{i}", examples or {}) for i, story in enumerate(stories)]
    )


def _steps(story: Story) -> list[Step]:
    out = []
    for step in story.steps:
        out.append(step.options[0][0] if step.kind == "or" else step)
    return out


def _run_story(manager: DialogueManager, story: Story, cid: str, examples: dict) -> StoryResult:
    result = StoryResult(story)
    turn, listening = None, True
    for step in _steps(story):
        if step.kind == "intent":
            if not listening:  # the story waits for the user here: the bot should listen
                action, ranking = manager.next_action(turn)
                result.checked.append((None, LISTEN, action))
                manager.take(turn, LISTEN, ranking)
            said = examples.get(step.name) or [
                next(iter(v)) for k, v in examples.items() if k.startswith(step.name + "/")
            ]
            text = step.user.text if step.user else (said[0].text if said else step.name)
            turn = _begin(manager, turn, cid, clean_text(text))
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
            listening = manager.take(turn, gold, ranking)
    if turn is not None and not listening:
        action, ranking = manager.next_action(turn)
        result.checked.append((None, LISTEN, action))
        manager.take(turn, LISTEN, ranking)
    if turn is not None:
        manager.commit(turn)
    return result


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
                    lines.append(f"  - user: |\n      {step.user.text}\n    intent: {step.name}")
                else:
                    lines.append(f"  - intent: {step.name}")
            elif step.kind == "action":
                mark = f"  # predicted: {wrong[id(step)]}" if id(step) in wrong else ""
                lines.append(f"  - action: {step.name}{mark}")
            elif step.kind == "active_loop":
                lines.append(f"  - active_loop: {step.name or 'null'}")
        for p in listen_misses:
            lines.append(f"  # the bot should have listened; predicted: {p}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return len(failed)
