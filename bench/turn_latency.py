"""Latency of one live turn end to end -- user write, memory read, ranking, bot write -- in a store
that already holds a million events (issue target: median <= 5 ms, p99 <= 20 ms).

    python bench/turn_latency.py MODEL [--data ../shared/data/dialog-bAbI-tasks] [--events 1000000]

The user turns are those of the task-5 dev dialogues, each dialogue a new conversation, with the
knowledge-base plugin answering api calls. Turns whose reply is an api call also run the
knowledge-base query and a second ranking; they are reported apart.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from sqlalchemy import func, select

from memchat.babi.files import read_dialogs
from memchat.bot import Bot
from memchat.dialogs import USER
from memchat.store.schema import conversations_table, events_table
from memchat.store.tracker_store import Store

DATA = Path(__file__).resolve().parents[2] / "shared/data/dialog-bAbI-tasks"


def fill(store: Store, n_events: int, per_conversation: int = 100) -> None:
    """n_events of filler conversations, written in bulk."""
    now = time.time()
    with store.engine.begin() as conn:
        convs = n_events // per_conversation
        conn.execute(
            conversations_table.insert(),
            [
                {"id": f"filler-{c}", "created_at": now, "updated_at": now, "last_seq": per_conversation}
                for c in range(convs)
            ],
        )
        chunk = []
        for c in range(convs):
            for s in range(1, per_conversation + 1):
                chunk.append(
                    {
                        "conversation_id": f"filler-{c}",
                        "seq": s,
                        "speaker": ("user", "bot")[s % 2],
                        "text": f"filler utterance {s} of {c}",
                        "timestamp": now,
                        "data": None,
                    }
                )
            if len(chunk) >= 50_000:
                conn.execute(events_table.insert(), chunk)
                chunk = []
        if chunk:
            conn.execute(events_table.insert(), chunk)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--dialogs", type=int, default=100, help="task-5 dev dialogues to play")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (one turn is too small for more)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="memchat-latency-") as tmp:
        db = Path(tmp) / "bench.db"
        t0 = time.perf_counter()
        fill(Store(f"sqlite:///{db}"), args.events)
        print(f"store filled with {args.events:,} events in {time.perf_counter() - t0:.1f} s")
        bot = Bot.load(args.model, db=str(db), kb=args.data / "dialog-babi-kb-all.txt")
        dialogs = read_dialogs(args.data / "dialog-babi-task5-full-dialogs-dev.txt")[: args.dialogs]
        plain, action = [], []
        bot.respond("warm-up", "hi")
        for j, d in enumerate(dialogs):
            for t in d.turns:
                if t.speaker != USER:
                    continue
                t0 = time.perf_counter()
                replies = bot.turn(f"bench-{j}", t.text)
                took = time.perf_counter() - t0
                (action if len(replies) > 1 else plain).append(took * 1000)
        total = plain + action
        with bot.store.reader() as conn:
            stored = conn.scalar(select(func.count()).select_from(events_table))
        print(f"{len(total)} turns in {len(dialogs)} conversations; store now holds {stored:,} events")
        for name, xs in (("all turns", total), ("turns without an api call", plain), ("api-call turns", action)):
            if xs:
                print(f"{name:>26}: median {statistics.median(xs):.2f} ms, p99 {pct(xs, 0.99):.2f} ms ({len(xs)})")
        bot.close()


if __name__ == "__main__":
    main()
