"""A dialog bAbI folder (or one ``-trn.txt`` file) as a training set: its train and dev
dialogues, candidates and knowledge base read, with the task's defaults (``TASK_DEFAULTS``) under
the folder's config.toml and the caller's settings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from memchat.babi.files import read_candidates, read_dialogs, read_kb
from memchat.babi.taskfiles import find_task_files
from memchat.dialogs import BOT, KB, SILENCE, USER, Dialog
from memchat.errors import MemchatError
from memchat.nn.batches import encode_dialogs
from memchat.nn.training_data import TrainingData, folder_settings, prepare

# Defaults per dialog bAbI task, chosen on the dev sets (the paper's Table 9 was the start).
# Keys are MemN2NConfig and TrainConfig fields.
TASK_DEFAULTS: dict[int | None, dict] = {
    None: dict(dim=64, hops=3, memory=100, dropout=0.2),
    1: dict(dim=64, hops=1, memory=100),
    2: dict(
        dim=64, hops=1, memory=100, lr_decay=1.0, patience=20, epochs=100
    ),  # leaving a 92% plateau takes 20-40 epochs at full lr
    3: dict(dim=64, hops=3, memory=100),
    4: dict(dim=64, hops=1, memory=100),
    5: dict(dim=32, hops=3, memory=100, dropout=0.2),  # d 64 measured no more accurate and 1.5x slower
    6: dict(dim=64, hops=3, memory=100, dropout=0.2),
}


def check_replies(dialogs: Sequence[Dialog], candidates: set[str], source: Path) -> None:
    """With a candidates file, every bot reply of the dialogues is one of them: a reply that is
    not (a typo, a file from another task) is one line naming its file and line."""
    for d in dialogs:
        for t in d.turns:
            if t.speaker == BOT and t.text not in candidates:
                raise MemchatError(f"{d.source}:{t.line}: bot reply not among the candidates of {source}: {t.text!r}")


def continue_after(dialogs: Sequence[Dialog]) -> list[str]:
    """The replies after which the user, in most training dialogues, lets the bot go on (the next
    user turn is ``<SILENCE>``): a dialog bAbI bot says its next reply at once after these, so
    nobody has to send an empty message."""
    silent: dict[str, list[int]] = {}
    for d in dialogs:
        turns = [t for t in d.turns if t.speaker != KB]
        for t, nxt in zip(turns, turns[1:]):
            if t.speaker == BOT and nxt.speaker == USER:
                silent.setdefault(t.text, [0, 0])[nxt.text == SILENCE] += 1
    return sorted(r for r, (talked, quiet) in silent.items() if quiet > talked)


def read_task_folder(path: Path, task: int | None, seed: int, given: dict) -> TrainingData:
    """The training set of the task folder (or file) at ``path``; ``given``: the caller's
    settings, over the folder's config.toml, over the task's defaults."""
    files = find_task_files(path, task)
    merged = dict(TASK_DEFAULTS.get(files.task, TASK_DEFAULTS[None]))
    merged.update(folder_settings(path if path.is_dir() else path.parent))
    merged.update(given)
    train_dialogs = [d for p in files.train for d in read_dialogs(p)]
    dev_dialogs = [d for p in files.dev for d in read_dialogs(p)]
    candidates = read_candidates(files.candidates) if files.candidates else None
    if candidates is not None:
        check_replies(train_dialogs + dev_dialogs, set(candidates), files.candidates)
    facts = [f for p in files.kb for f in read_kb(p)]
    featurizer, config, train_cfg = prepare(merged, train_dialogs, candidates, facts, seed)
    sources = {
        "train": [str(p) for p in files.train],
        "dev": [str(p) for p in files.dev],
        "candidates": str(files.candidates) if files.candidates else None,
        "kb": [str(p) for p in files.kb],
        "task": files.task,
    }
    dev = encode_dialogs(featurizer, dev_dialogs) if dev_dialogs else None
    # live, read a slip as the word it stands for (features beyond the paper's, like the context ones)
    extra = {"continue_after": continue_after(train_dialogs), "fuzzy": bool(config.context)}
    return TrainingData(
        sources, featurizer, config, train_cfg, encode_dialogs(featurizer, train_dialogs), dev, extra, files.task
    )
