"""Keyboard slips in the user turns of a dialog bAbI file: a letter doubled, dropped or two
swapped, in a share of the words (not in entity words unless asked), written as a new file to
evaluate a bundle on.

    python bench/slips.py ../shared/data/dialog-bAbI-tasks/dialog-babi-task5-full-dialogs-dev.txt \
        --rate 0.25 [--entities] --out /tmp/task5-dev-slips.txt
    memchat evaluate BUNDLE /tmp/task5-dev-slips.txt

Only words of four letters or more get a slip (a slip in "a" or "in" is no longer a word anyone
would read back); the share printed is of all the words that could get one.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from memchat.babi.files import read_kb
from memchat.babi.taskfiles import find_task_files
from memchat.nn.entities import tokenize


def slip(word: str, rng: random.Random) -> str:
    k = rng.randrange(1, len(word) - 1)
    kind = rng.choice(["double", "drop", "swap"])
    if kind == "double":
        return word[:k] + word[k] + word[k:]
    if kind == "drop":
        return word[:k] + word[k + 1 :]
    return word[: k - 1] + word[k] + word[k - 1] + word[k + 1 :]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file", type=Path)
    ap.add_argument("--rate", type=float, default=0.25, help="share of the words that get a slip")
    ap.add_argument("--entities", action="store_true", help="entity words (cuisines, cities...) get slips too")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    entities = {t for kb in find_task_files(args.file).kb for f in read_kb(kb) for t in tokenize(f.value)}
    changed = eligible = 0
    out = []
    for line in args.file.read_text(encoding="utf-8").splitlines():
        head, _, rest = line.partition(" ")
        if "\t" not in rest:
            out.append(line)
            continue
        user, bot = rest.split("\t", 1)
        words = user.split(" ")
        for i, w in enumerate(words):
            if len(w) >= 4 and w.isalpha() and w != "<SILENCE>" and (args.entities or w not in entities):
                eligible += 1
                if rng.random() < args.rate:
                    words[i] = slip(w, rng)
                    changed += 1
        out.append(f"{head} {' '.join(words)}\t{bot}")
    args.out.write_text("\n".join(out) + "\n", encoding="utf-8")
    print(
        f"{args.out}: {changed} of {eligible} words ({changed / max(eligible, 1):.1%}) have a slip"
        + (", entity words included" if args.entities else ", entity words left as they are")
    )


if __name__ == "__main__":
    main()
