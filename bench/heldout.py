"""Our own held-out test stories (``bench/heldout/<project>/*.yml``), in wording Rasa's projects'
NLU examples lack: each project trained as shipped, its stories scored end to end (from the text)
and core (intents given), several seeds.

It first checks the stories are held out: no user text of them is an NLU example of the project or a
wording of memchat's banks of dialogue acts (``memchat/project/acts.txt``), compared as the banks
compare (case, punctuation and emoji aside). A story that is not held out stops the bench.

    python bench/heldout.py [--projects moodbot formbot] [--seeds 3] [--data ../shared/rasa-projects]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from memchat.bot import Bot
from memchat.project.acts import banks, said
from memchat.project.data import read_data
from memchat.project.folder import Project
from memchat.story_tests import run_tests
from memchat.train import train_bot

HERE = Path(__file__).resolve().parent / "heldout"
PROJECTS = Path(__file__).resolve().parents[2] / "shared/rasa-projects"


def user_texts(stories) -> list[str]:
    return [s.user.text for story in stories for s in story.steps if s.kind == "intent" and s.user is not None]


def check_held_out(project: Project, stories) -> list[str]:
    """The user texts of ``stories`` the bot trains on (its examples, with the banks' wordings)."""
    seen = {said(ex.text) for exs in project.data.examples.values() for ex in exs}
    seen |= {said(w) for _, words in banks().values() for w in words}
    return [t for t in user_texts(stories) if said(t) in seen]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--projects", nargs="+", default=["moodbot", "formbot"])
    ap.add_argument("--data", type=Path, default=PROJECTS)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    for name in args.projects:
        project = Project.read(args.data / name)
        files = sorted((HERE / name).glob("*.yml"))
        stories = read_data(files, HERE, test=True).stories
        if seen := check_held_out(project, stories):
            sys.exit(f"{name}: not held out, the bot trains on: {seen}")
        rows = {True: [], False: []}
        with tempfile.TemporaryDirectory() as tmp:
            for seed in range(args.seeds):
                bundle, _ = train_bot(args.data / name, out=Path(tmp), name=f"{name}-{seed}", seed=seed)
                bot = Bot.load(bundle.path, db=str(Path(tmp) / f"{seed}.db"))
                for e2e in (True, False):
                    report = run_tests(bot.manager, stories, e2e=e2e)
                    rows[e2e].append((sum(r.right for r in report.results), report.actions_right, report.actions))
                bot.close()
        for e2e, runs in rows.items():
            med = statistics.median(r[0] for r in runs)
            each = ", ".join(f"{s}/{len(stories)} ({a}/{n})" for s, a, n in runs)
            print(f"{name} {'e2e ' if e2e else 'core'}: median {med:g}/{len(stories)} stories; seeds: {each}")


if __name__ == "__main__":
    main()
