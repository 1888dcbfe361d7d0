"""Start-up and memory: how long `memchat serve` takes from process start to its first REST reply,
how much resident memory it holds once loaded, and how long `memchat repl` takes to answer a
first line (a whole run of `printf 'hi\\n' | memchat repl`). The README reports them beside
Rasa's; run it with PYTHONPATH=OTHER_CHECKOUT to measure another version of memchat.

    python bench/startup.py BUNDLE [BUNDLE ...] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from serving import start_serve  # bench/serving.py


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def serve_once(bundle: Path, db: Path) -> tuple[float, float]:
    """(seconds from process start to the first reply, resident MiB after it)."""
    body = json.dumps({"sender": "startup", "message": "hi"}).encode()
    start = time.perf_counter()
    proc, url = start_serve(bundle, db, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                req = urllib.request.Request(f"{url}/webhooks/rest/webhook", body, {"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=5) as r:
                    json.loads(r.read())
                break
            except OSError:
                if proc.poll() is not None:
                    raise SystemExit(f"serve exited with {proc.returncode}") from None
                time.sleep(0.01)
        seconds = time.perf_counter() - start
        return seconds, rss_mib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)


def repl_once(bundle: Path, db: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "memchat", "repl", "--model", str(bundle), "--db", str(db)],
        input="hi\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise SystemExit(f"repl failed: {done.stderr.strip()[-300:]}")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("bundles", nargs="+", type=Path)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    for bundle in args.bundles:
        firsts, rss, repl = [], [], []
        with tempfile.TemporaryDirectory() as tmp:
            for run in range(args.runs):  # serve and repl alternate
                first, mib = serve_once(bundle, Path(tmp) / f"s{run}.db")
                firsts.append(first)
                rss.append(mib)
                repl.append(repl_once(bundle, Path(tmp) / f"r{run}.db"))
        print(f"{bundle.name}: {args.runs} runs, medians (runs)")
        print(
            f"  serve, process start to first REST reply: {statistics.median(firsts):.2f} s "
            f"({', '.join(f'{x:.2f}' for x in firsts)})"
        )
        print(
            f"  serve, resident memory after it: {statistics.median(rss):.0f} MiB "
            f"({', '.join(f'{x:.0f}' for x in rss)})"
        )
        print(
            f"  repl, a whole run answering one line: {statistics.median(repl):.2f} s "
            f"({', '.join(f'{x:.2f}' for x in repl)})"
        )


if __name__ == "__main__":
    main()
