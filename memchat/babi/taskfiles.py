"""Finding a task's files in a folder: ``*-trn.txt`` train, ``*-dev.txt`` dev, ``*candidates*.txt``
candidates and ``*kb*.txt`` knowledge base.

With a task number, files named ``task<N>`` win; files naming no task are shared by all tasks
(dialog bAbI tasks 1-5 share ``dialog-babi-candidates.txt`` and ``dialog-babi-kb-all.txt``, while
task 6 has its own). Test files are never read here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from memchat.errors import MemchatError

_TASK = re.compile(r"task(\d+)")


@dataclass
class TaskFiles:
    train: list[Path]
    dev: list[Path]
    candidates: Path | None
    kb: list[Path]
    task: int | None


def task_of(path: Path) -> int | None:
    m = _TASK.search(path.name)
    return int(m.group(1)) if m else None


def _pick(paths: list[Path], task: int | None) -> list[Path]:
    """The files of ``task``: those naming it, or else those naming no task."""
    own = [p for p in paths if task is not None and task_of(p) == task]
    return own or [p for p in paths if task_of(p) is None]


def find_task_files(path: str | Path, task: int | None = None) -> TaskFiles:
    path = Path(path)
    if not path.exists():
        raise MemchatError(f"{path}: no such file or folder")
    if path.is_file():
        folder, train = path.parent, [path]
        task = task if task is not None else task_of(path)
        dev_name = path.name.replace("-trn.", "-dev.")
        dev = [folder / dev_name] if dev_name != path.name and (folder / dev_name).is_file() else []
    else:
        folder = path
        trains = sorted(folder.glob("*-trn.txt"))
        if task is None:
            tasks = sorted({task_of(p) for p in trains} - {None})
            if len(tasks) > 1:
                listed = ", ".join(str(t) for t in tasks)
                raise MemchatError(f"{folder}: holds the training files of tasks {listed}; pass --task N")
            task = tasks[0] if tasks else None
        train = [p for p in trains if task is None or task_of(p) == task]
        dev = [p for p in sorted(folder.glob("*-dev.txt")) if task is None or task_of(p) == task]
        if not train:
            what = f"task {task} " if task is not None else ""
            raise MemchatError(f"{folder}: no {what}training file (*-trn.txt) found")
    candidates = _pick(sorted(folder.glob("*candidates*.txt")), task)
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise MemchatError(f"{folder}: several candidate files ({names}); pass --task N or keep one")
    kb = _pick(sorted(folder.glob("*kb*.txt")), task)
    return TaskFiles(train, dev, candidates[0] if candidates else None, kb, task)
