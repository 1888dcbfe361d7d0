"""HTTP load on ``memchat serve``: throughput and latency with many concurrent conversations
(issue target: >= 300 turns/s, p99 <= 100 ms, every turn stored exactly once).

    python bench/http_load.py MODEL [--workers 2] [--concurrency 50] [--turns 3000] [--runs 3] [--rate R]
                              [--against OTHER_CHECKOUT]

Starts ``memchat serve`` in its own process on loopback, with a fresh SQLite store and the task-5
knowledge base, and drives it from this process (aiohttp, keep-alive): ``--concurrency``
conversations at a time, each playing the user side of one task-5 dev dialogue turn after turn
(a client waits for the reply before it sends the next turn, as a person does). When a dialogue
ends the client starts the next one. After each run the store is checked: every user turn sent is
stored once, in order, and followed by a reply.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from serving import add_against, start_serve, versions, wait_up  # bench/serving.py

from memchat.babi.files import read_dialogs
from memchat.dialogs import USER
from memchat.store.tracker_store import Store

DATA = Path(__file__).resolve().parents[2] / "shared/data/dialog-bAbI-tasks"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))]


async def run(url: str, dialogs: list[list[str]], prefix: str, concurrency: int, turns: int, rate: float | None):
    """Play dialogues until ``turns`` user turns are answered; returns latencies and what was sent.

    With ``rate`` (turns/s over all conversations) each conversation sends a turn every
    ``concurrency / rate`` seconds on a fixed schedule -- or, when a reply comes late, as soon as it
    comes; latency is counted from the scheduled time, so a slow server cannot hide its queue
    (no coordinated omission). Without it, each sends its next turn as soon as it has its reply."""
    latencies: list[float] = []
    sent: dict[str, list[str]] = {}
    next_dialog = iter(range(10**9))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client(k: int) -> None:
            period = concurrency / rate if rate else 0.0
            due = time.perf_counter() + period * k / concurrency  # spread the conversations' starts
            while len(latencies) < turns:
                i = next(next_dialog)
                cid = f"{prefix}-{i}"
                sent[cid] = []
                for text in dialogs[i % len(dialogs)]:
                    if len(latencies) >= turns:
                        return
                    if period:
                        await asyncio.sleep(max(0.0, due - time.perf_counter()))
                        start, due = due, due + period
                    else:
                        start = time.perf_counter()
                    async with session.post(url + "/webhooks/rest/webhook", json={"sender": cid, "message": text}) as r:
                        body = await r.json()
                    latencies.append(time.perf_counter() - start)
                    if r.status != 200 or not body:
                        sys.exit(f"{cid}: HTTP {r.status} {body}")
                    sent[cid].append(text)

        start = time.perf_counter()
        await asyncio.gather(*(client(k) for k in range(concurrency)))
        seconds = time.perf_counter() - start
    return latencies, seconds, sent


def check_stored(db: Path, sent: dict[str, list[str]]) -> str | None:
    """None when every sent turn is stored once, in order, each followed by a bot reply."""
    store = Store(f"sqlite:///{db}")
    try:
        for cid, texts in sent.items():
            events = store.events(cid)
            users = [e for e in events if e.speaker == "user" and not (e.data or {}).get("implicit")]
            if [e.text or "" for e in users] != [t or "<SILENCE>" for t in texts]:
                return f"{cid}: stored user turns differ from the {len(texts)} sent"
            by_seq = {e.seq: e for e in events}
            if any(by_seq.get(u.seq + 1) is None or by_seq[u.seq + 1].speaker != "bot" for u in users):
                return f"{cid}: a user turn is not followed by a reply"
    finally:
        store.close()
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--turns", type=int, default=3000, help="user turns per run")
    ap.add_argument("--runs", type=int, default=3)
    add_against(ap)
    ap.add_argument(
        "--rate",
        type=float,
        default=None,
        help="offered load in turns/s over all conversations  [default: as fast as replies come]",
    )
    args = ap.parse_args()

    dev = args.data / "dialog-babi-task5-full-dialogs-dev.txt"
    if not dev.is_file():
        sys.exit(f"{dev}: not found (pass --data)")
    dialogs = [
        ["" if t.text == "<SILENCE>" else t.text for t in d.turns if t.speaker == USER] for d in read_dialogs(dev)
    ]

    with tempfile.TemporaryDirectory(prefix="memchat-http-") as tmp:
        checkouts = versions(args.against, Path(tmp))
        print(
            f"memchat serve: {args.workers} worker(s); {args.concurrency} concurrent conversations, "
            f"{args.turns} turns per run, offered load "
            + (f"{args.rate:g} turns/s" if args.rate else "unbounded (each sends on its reply)")
        )
        figures = {name: ([], [], []) for name in checkouts}  # turns/s, p50, p99
        for n in range(args.runs):  # the versions alternate, each run on a fresh server and store
            for v, (name, env) in enumerate(checkouts.items()):
                db = Path(tmp) / f"load-{n}-{v}.db"
                server, url = start_serve(
                    args.model.resolve(),
                    db,
                    "--kb",
                    str((args.data / "dialog-babi-kb-all.txt").resolve()),
                    "--workers",
                    str(args.workers),
                    env={**env, "PYTHONUNBUFFERED": "1"},
                    cwd=tmp,  # not a checkout: python -m looks in its working folder first
                )
                try:
                    wait_up(server, url, timeout=120)
                    latencies, seconds, sent = asyncio.run(
                        run(url, dialogs, f"run{n}", args.concurrency, args.turns, args.rate)
                    )
                finally:
                    server.terminate()
                    server.wait(timeout=30)
                problem = check_stored(db, sent)
                rates, p50s, p99s = figures[name]
                rates.append(len(latencies) / seconds)
                p50s.append(statistics.median(latencies) * 1000)
                p99s.append(pct(latencies, 0.99) * 1000)
                print(
                    f"run {n + 1}, {name}: {rates[-1]:.0f} turns/s, p50 {p50s[-1]:.1f} ms, p99 {p99s[-1]:.1f} ms, "
                    f"max {max(latencies) * 1000:.1f} ms; {len(sent)} conversations; stored exactly once: "
                    + ("yes" if problem is None else f"NO ({problem})")
                )
        for name, (rates, p50s, p99s) in figures.items():
            print(
                f"{name}, median of {args.runs} runs: {statistics.median(rates):.0f} turns/s, "
                f"p50 {statistics.median(p50s):.1f} ms, p99 {statistics.median(p99s):.1f} ms"
            )


if __name__ == "__main__":
    main()
