"""One live reply: the time to rank every candidate for one conversation through the live path
(``memchat.ranker``, numpy, tokenizing included), as a server answers one message.

For each of the first 500 dialogues of FILE, the window before its last bot reply is ranked; a
first pass fills the tokenizing cache, as a running bot's would be, and the second is timed.

    python bench/live_reply.py BUNDLE ../shared/data/dialog-bAbI-tasks/dialog-babi-task5-full-dialogs-dev.txt
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from memchat.babi import BOT, read_dialogs
from memchat.bundle import load_bundle
from memchat.ranker import Ranker


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("dialogues", type=Path)
    ap.add_argument("--dialogs", type=int, default=500)
    args = ap.parse_args()
    bundle = load_bundle(args.bundle)
    ranker = Ranker.from_bundle(bundle)
    windows = []
    for d in read_dialogs(args.dialogues)[: args.dialogs]:
        q = [i for i, t in enumerate(d.turns) if t.speaker == BOT][-1] - 1
        windows.append(d.turns[max(0, q - bundle.config.memory) : q + 1])
    samples = []
    for _ in range(2):  # the first pass fills the tokenizing cache
        samples.clear()
        for turns in windows:
            t = time.perf_counter()
            _ = ranker.rank(turns).best
            samples.append(time.perf_counter() - t)
    samples.sort()
    print(
        f"one live reply ({len(bundle.featurizer.candidates)} candidates, {len(samples)} conversations): "
        f"median {statistics.median(samples) * 1000:.3f} ms, p99 {samples[int(len(samples) * 0.99) - 1] * 1000:.3f} ms"
    )


if __name__ == "__main__":
    main()
