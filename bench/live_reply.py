"""One live reply: the time to rank every candidate for one conversation through the live path
(``memchat.nn.ranker``, numpy, tokenizing included), as a server answers one message.

For each of the first 500 dialogues of FILE, the window before its last bot reply is ranked; a
first pass fills the tokenizing cache, as a running bot's would be, and the second is timed.

    python bench/live_reply.py BUNDLE ../shared/data/dialog-bAbI-tasks/dialog-babi-task5-full-dialogs-dev.txt
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from memchat.babi.files import read_dialogs
from memchat.dialogs import BOT
from memchat.nn.bundle import load_bundle
from memchat.nn.ranker import Ranker


def live_reply_times(ranker: Ranker, dialogs: list) -> list[float]:
    """Seconds to rank the window before each dialogue's last bot reply, sorted; a first pass
    fills the tokenizing cache, as a running bot's would be, and the second is timed."""
    windows = []
    for d in dialogs:
        q = [i for i, t in enumerate(d.turns) if t.speaker == BOT][-1] - 1
        windows.append(d.turns[max(0, q - ranker.memory_size) : q + 1])
    samples = []
    for _ in range(2):
        samples.clear()
        for turns in windows:
            t = time.perf_counter()
            _ = ranker.rank(turns).best
            samples.append(time.perf_counter() - t)
    return sorted(samples)


def summary(samples: list[float]) -> str:
    return (
        f"median {statistics.median(samples) * 1000:.3f} ms, p99 {samples[int(len(samples) * 0.99) - 1] * 1000:.3f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("dialogues", type=Path)
    ap.add_argument("--dialogs", type=int, default=500)
    args = ap.parse_args()
    bundle = load_bundle(args.bundle)
    samples = live_reply_times(Ranker.from_bundle(bundle), read_dialogs(args.dialogues)[: args.dialogs])
    print(
        f"one live reply ({len(bundle.featurizer.candidates)} candidates, {len(samples)} conversations): "
        + summary(samples)
    )


if __name__ == "__main__":
    main()
