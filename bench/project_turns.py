"""A turn of a bot project, in process: what `Bot.respond` takes for each user message of the
project's test stories (the default bot's: held-out wording), each story a new conversation, on a
new SQLite store, after one round to warm up. A turn of a project bot is several actions (the bot
acts until it listens), each ranked, with its rules, slots, intent and knowledge-base search.

    python bench/project_turns.py BUNDLE [--project dialogues] [--rounds 30] [--runs 3] [--against OTHER_CHECKOUT]

With --against, another checkout of memchat (say, a worktree of the previous commit) is
measured too, run by run alternately, each run in a process of its own (bench/serving.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from serving import add_against, versions  # bench/serving.py

ROOT = Path(__file__).resolve().parents[1]


def messages(project: Path) -> list[list[str]]:
    """The user messages of each test story of ``project``."""
    from memchat.project.folder import Project

    stories = Project.read(project).tests.stories
    return [[s.user.text for s in story.steps if s.user] for story in stories]


def one_run(bundle: Path, stories: list[list[str]], rounds: int) -> list[float]:
    """Seconds of each turn of ``rounds`` rounds of every story, after a round to warm up."""
    from memchat.bot import Bot

    with tempfile.TemporaryDirectory() as tmp:
        bot = Bot.load(bundle, db=str(Path(tmp) / "turns.db"))
        times = []
        for r in range(rounds + 1):
            for s, texts in enumerate(stories):
                for text in texts:
                    start = time.perf_counter()
                    bot.respond(f"round{r}-story{s}", text)
                    if r:
                        times.append(time.perf_counter() - start)
        bot.close()
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--project", type=Path, default=ROOT / "dialogues", help="whose test stories to say")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # one run, as JSON
    add_against(ap)
    args = ap.parse_args()
    stories = messages(args.project)
    if args.child:
        print(json.dumps(one_run(args.bundle, stories, args.rounds)))
        return
    turns = sum(map(len, stories)) * args.rounds
    print(f"{args.bundle.name}: {len(stories)} stories x {args.rounds} rounds = {turns} turns a run, {args.runs} runs")
    with tempfile.TemporaryDirectory() as tmp:
        found: dict[str, list[list[float]]] = {}
        envs = versions(args.against, Path(tmp))
        for _ in range(args.runs):
            for name, env in envs.items():
                command = [sys.executable, __file__, str(args.bundle), "--project", str(args.project)]
                command += ["--rounds", str(args.rounds), "--child"]
                out = subprocess.run(command, env=env, cwd=tmp, capture_output=True, text=True)
                if out.returncode != 0:
                    raise SystemExit(f"{name}: {out.stderr.strip().splitlines()[-1]}")
                found.setdefault(name, []).append(sorted(json.loads(out.stdout)))
        for name, runs in found.items():
            medians = [statistics.median(t) * 1000 for t in runs]
            p99s = [t[int(len(t) * 0.99)] * 1000 for t in runs]
            print(
                f"  {name}: a turn {statistics.median(medians):.2f} ms median "
                f"({', '.join(f'{m:.2f}' for m in medians)}), p99 {statistics.median(p99s):.2f} ms"
            )


if __name__ == "__main__":
    main()
