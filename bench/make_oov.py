"""Rewrite dialog bAbI dev dialogues with entities never seen in training: our own OOV check.

The held-out OOV test sets use cuisines and cities that the knowledge base lists but no train or
dev dialogue mentions. This script maps, per dialogue, every cuisine and city to such unseen ones
and every restaurant to a knowledge-base restaurant of the new cuisine, city and price with the
same rank by rating (its rating, phone and address follow), so the dialogue stays consistent.
Dialogues whose rewritten bot replies are not all in the candidates file are left out.

    python bench/make_oov.py ../shared/data/dialog-bAbI-tasks --task 5 --out /tmp/task5-dev-oov.txt
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import defaultdict
from pathlib import Path

from memchat.babi.files import read_candidates, read_dialogs, read_kb
from memchat.babi.kbquery import by_restaurant
from memchat.babi.taskfiles import find_task_files
from memchat.dialogs import BOT, KB, USER
from memchat.nn.entities import tokenize


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--task", type=int, required=True, choices=[1, 2, 3, 4, 5])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    files = find_task_files(args.folder, args.task)
    facts = [f for p in files.kb for f in read_kb(p)]
    candidates = set(read_candidates(files.candidates))
    restaurants = by_restaurant((f.subject, f.relation, f.value) for f in facts)
    cuisines = {r["R_cuisine"] for r in restaurants.values()}
    cities = {r["R_location"] for r in restaurants.values()}
    seen = {w for p in files.train + files.dev for d in read_dialogs(p) for t in d.turns for w in tokenize(t.text)}
    new_cuisines, new_cities = sorted(cuisines - seen), sorted(cities - seen)
    if not new_cuisines or not new_cities:
        sys.exit("the knowledge base has no cuisine or city unseen in train and dev")
    by_combo = defaultdict(list)
    for name, r in restaurants.items():
        by_combo[r["R_location"], r["R_cuisine"], r["R_price"]].append(name)

    rng = random.Random(args.seed)
    kept, dropped, out = 0, 0, []
    for dialog in (d for p in files.dev for d in read_dialogs(p)):
        words = {w for t in dialog.turns for w in t.text.split()}
        swap = {c: rng.choice(new_cuisines) for c in sorted(words & cuisines)}
        swap |= {c: rng.choice(new_cities) for c in sorted(words & cities)}
        names = sorted(w for w in words if w in restaurants)
        groups = defaultdict(list)
        for n in names:
            r = restaurants[n]
            groups[swap.get(r["R_location"]), swap.get(r["R_cuisine"]), r["R_price"]].append(n)
        ok = True
        for combo, olds in groups.items():
            news = sorted(by_combo.get(combo, []), key=lambda n: -int(restaurants[n]["R_rating"]))
            olds.sort(key=lambda n: -int(restaurants[n]["R_rating"]))
            if len(news) < len(olds):
                ok = False
                break
            for old, new in zip(olds, news):
                swap[old] = new
                swap[f"{old}_phone"], swap[f"{old}_address"] = f"{new}_phone", f"{new}_address"
        lines, turn_id = [], 0
        for t in dialog.turns:
            text = " ".join(swap.get(w, w) for w in t.text.split())
            parts = text.split()
            if t.speaker == KB and len(parts) == 3 and parts[1] == "R_rating" and parts[0] in restaurants:
                text = f"{parts[0]} R_rating {restaurants[parts[0]]['R_rating']}"
            if t.speaker == USER:
                turn_id += 1
                lines.append(f"{turn_id} {text}")
            elif t.speaker == BOT:
                ok = ok and text in candidates
                lines[-1] += f"\t{text}"
            else:
                turn_id += 1
                lines.append(f"{turn_id} {text}")
        if ok:
            out.append("\n".join(lines) + "\n")
            kept += 1
        else:
            dropped += 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(out))
    print(
        f"{args.out}: {kept} dialogues with unseen cuisines {', '.join(new_cuisines)} and cities "
        f"{', '.join(new_cities)}; {dropped} left out (a rewritten reply was no candidate)"
    )


if __name__ == "__main__":
    main()
