"""Several memchat nodes on one database, as behind a load balancer: throughput, latency, and the
check that every answered turn is stored once, in order, whole.

Each node is a `memchat serve` process in a working folder of its own (as on its own host);
they share nothing but the database. Half the conversations are shared: two senders talk in
each at once, every message to a node picked at random; the other half stay on one node.
Every message carries a `metadata.message_id`; when a node dies under a sender (`--kill`: node 0
gets SIGKILL half-way), the sender sends the same message to another node, as a client retries.

Afterwards the store is read back: in every conversation the seqs run 1, 2, 3... without a gap;
each user turn is followed by its own bot actions up to `action_listen` (none interleaved,
nothing half-stored); each message id is stored once; every message a client got an answer to
is stored.

    python bench/nodes.py BUNDLE --db postgresql://user@host/db [--nodes 4] [--conversations 50] [--turns 8] [--kill]
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from serving import start_serve, wait_up  # noqa: E402  (bench/serving.py)

SCRIPT = [  # a booking in the default bot's words
    "hi there",
    "i'd like to book a table",
    "italian food please",
    "in rome",
    "we are 4",
    "something cheap",
    "yes book it",
    "what's the address",
    "thanks",
    "bye",
]


def post(url: str, body: dict) -> tuple[int, list]:
    req = urllib.request.Request(
        url + "/webhooks/rest/webhook", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, []


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--db", required=True, help="a store URL every node shares (PostgreSQL, or a SQLite file)")
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--conversations", type=int, default=50)
    ap.add_argument("--turns", type=int, default=len(SCRIPT), help="messages per sender")
    ap.add_argument("--kill", action="store_true", help="SIGKILL node 0 half-way through")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from memchat.store.tracker_store import Store
    from memchat.store.urls import resolve_url

    db = resolve_url(args.db)
    Store(db).close()  # migrated once, before the nodes start
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        nodes = []
        for n in range(args.nodes):
            folder = Path(tmp) / f"node{n}"
            folder.mkdir()
            # a folder of its own, as on a host of its own
            nodes.append(start_serve(args.bundle.resolve(), db, cwd=folder, stderr=subprocess.DEVNULL))
        for proc, url in nodes:
            wait_up(proc, url)
        alive = list(range(args.nodes))
        lock = threading.Lock()
        latencies: list[float] = []
        errors: list[str] = []
        answered: list[tuple[str, str]] = []  # (conversation, message id) a client got an answer to
        retries = [0]
        planned = sum(2 if c % 2 == 0 else 1 for c in range(args.conversations)) * args.turns
        sent = [0]

        def sender(cid: str, who: int, home: int | None, seed: int) -> None:
            r = random.Random(seed)
            for i in range(args.turns):
                body = {"sender": cid, "message": SCRIPT[i % len(SCRIPT)], "metadata": {"message_id": f"{who}-{i}"}}
                while True:
                    with lock:
                        up = list(alive)
                    node = home if home in up else r.choice(up)
                    t0 = time.perf_counter()
                    try:
                        status, replies = post(nodes[node][1], body)
                    except OSError:  # the node died under us: the same message to another node
                        with lock:
                            retries[0] += 1
                            if nodes[node][0].poll() is not None and node in alive:
                                alive.remove(node)
                        home = None if home == node else home
                        continue
                    with lock:
                        latencies.append(time.perf_counter() - t0)
                        sent[0] += 1
                        if status != 200 or not replies:
                            errors.append(
                                f"{cid} {body['metadata']['message_id']}: HTTP {status}, {len(replies)} replies"
                            )
                        else:
                            answered.append((cid, body["metadata"]["message_id"]))
                    break

        threads = []
        for c in range(args.conversations):
            shared = c % 2 == 0
            cid = f"{'shared' if shared else 'own'}-{c}"
            for who in range(2 if shared else 1):
                home = None if shared else c % args.nodes
                threads.append(threading.Thread(target=sender, args=(cid, who, home, rng.random())))
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        if args.kill:
            while sent[0] < planned // 2:
                time.sleep(0.01)
            nodes[0][0].send_signal(signal.SIGKILL)
        for t in threads:
            t.join()
        seconds = time.perf_counter() - t0
        for proc, _ in nodes:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(30)

    # ---- the store, read back ----
    store = Store(db)
    problems: list[str] = []
    stored_ids: dict[tuple[str, str], int] = {}
    for cid in {c for c, _ in answered} | {
        f"{'shared' if c % 2 == 0 else 'own'}-{c}" for c in range(args.conversations)
    }:
        events = store.events(cid)
        if [e.seq for e in events] != list(range(1, len(events) + 1)):
            problems.append(f"{cid}: seqs with a gap")
        turn_open = False
        for e in events:
            real_user = e.speaker == "user" and not (e.data or {}).get("implicit")
            if real_user:
                if turn_open:
                    problems.append(f"{cid} seq {e.seq}: a user turn before the last one was answered")
                turn_open = True
                key = (cid, (e.data or {}).get("message_id"))
                stored_ids[key] = stored_ids.get(key, 0) + 1
            elif e.speaker == "bot" and e.text == "action_listen":
                turn_open = False
        if turn_open:
            problems.append(f"{cid}: its last turn is half-stored")
    twice = [k for k, n in stored_ids.items() if n > 1]
    lost = [k for k in answered if k not in stored_ids]
    store.close()
    lat = sorted(latencies)
    print(
        f"{args.nodes} node(s) on {store.shown.split('://')[0]}, {args.conversations} conversations "
        f"(half shared by two senders across nodes), {len(lat)} turns in {seconds:.1f} s"
        + (", node 0 killed half-way" if args.kill else "")
    )
    print(
        f"throughput {len(lat) / seconds:.1f} turns/s; latency p50 {statistics.median(lat) * 1000:.0f} ms, "
        f"p99 {lat[int(len(lat) * 0.99) - 1] * 1000:.0f} ms; retried after a dead node: {retries[0]}"
    )
    print(
        f"errors: {len(errors)}; stored twice: {len(twice)}; answered but not stored: {len(lost)}; "
        f"interleaved, gapped or half-stored: {len(problems)}"
    )
    for line in (errors + [f"twice: {k}" for k in twice] + [f"lost: {k}" for k in lost] + problems)[:10]:
        print("  ", line)
    if errors or twice or lost or problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
