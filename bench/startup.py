"""Start-up and memory: how long `memchat serve` takes from process start to its first REST reply,
how much resident memory it holds once loaded, the same start again on the store the first made
(a restart: no tables to make), how long `memchat repl` takes to answer a first line piped to
it (and to exit), and memchat's own part of a start timed inside one process (``OWN``). The
README reports them beside Rasa's.

Each run also times a process that only imports the libraries serve imports (``LIBRARIES``): on
this shared machine that floor moves by half from one hour to the next, so serve's time above it,
in the same run, is what says how much of the start is memchat's own.

    python bench/startup.py BUNDLE [BUNDLE ...] [--runs 5] [--against OTHER_CHECKOUT]

With --against, the same figures for another checkout of memchat (say, a worktree of the
previous commit) are measured in the same run, alternating run by run, so that both versions
meet the same load on this shared machine. Both run in this environment, compiled to bytecode as
`pip install` compiles them (bench/serving.py, checkout_env).
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

from serving import add_against, start_serve, versions, wait_up  # bench/serving.py


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def serve_once(bundle: Path, db: Path, env: dict) -> tuple[float, float]:
    """(seconds from process start to the first reply, resident MiB after it)."""
    body = json.dumps({"sender": "startup", "message": "hi"}).encode()
    start = time.perf_counter()
    proc, url = start_serve(bundle, db, stderr=subprocess.DEVNULL, env=env, cwd=db.parent)
    try:
        request = urllib.request.Request(f"{url}/webhooks/rest/webhook", body, {"Content-Type": "application/json"})
        json.loads(wait_up(proc, url, request=request, every=0.002))  # the first reply timed to within 2 ms
        seconds = time.perf_counter() - start
        return seconds, rss_mib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)


# What `memchat serve` imports from other packages before its first reply (uvicorn picks its
# HTTP and WebSocket protocols and uvloop as it starts): a process importing only these, with the
# collector off as memchat's own is, is the floor no change to memchat can go below.
LIBRARIES = (
    "sqlalchemy, sqlalchemy.dialects.sqlite, numpy, safetensors.numpy, click, pluggy, uvicorn, uvloop, "
    "uvicorn.protocols.http.httptools_impl, uvicorn.protocols.websockets.websockets_sansio_impl, "
    "starlette.applications, starlette.routing, starlette.middleware.cors"
)


def libraries_once(env: dict, cwd: Path) -> float:
    """Seconds from the start of a process that only imports ``LIBRARIES`` to its saying so (its
    exit, which serve's figure leaves out too, is not counted)."""
    start = time.perf_counter()
    code = f"import gc; gc.disable(); import {LIBRARIES}; print('imported', flush=True)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env, cwd=cwd)
    said = proc.stdout.readline()
    seconds = time.perf_counter() - start
    if proc.wait(60) != 0 or not said.strip():
        raise SystemExit("the libraries could not be imported")
    return seconds


# memchat's own part of a start, in one process after its libraries: its modules, the plugins,
# Bot.load on a new store and the first turn (serve adds its app and uvicorn's start). A shorter
# window than a whole start, so the machine's load moves it less.
OWN = f"""import gc, sys, time
gc.disable()
import {LIBRARIES}, sqlite3
start = time.perf_counter()
import memchat.cli, memchat.channels.rest
from memchat.plugins import get_plugin_manager
get_plugin_manager()
from memchat.bot import Bot
Bot.load(sys.argv[1], db=sys.argv[2]).respond("startup", "hi")
print(time.perf_counter() - start)
"""


def own_once(bundle: Path, db: Path, env: dict) -> float:
    """Seconds of memchat's own part of a start (``OWN``)."""
    out = subprocess.run(
        [sys.executable, "-c", OWN, str(bundle), str(db)], env=env, cwd=db.parent, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(f"memchat's own part failed: {out.stderr.strip()[-300:]}")
    return float(out.stdout)


def repl_once(bundle: Path, db: Path, env: dict) -> tuple[float, float]:
    """(seconds to the first reply line, seconds to the end of the run) of ``printf 'hi\\n' | memchat repl``."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "memchat", "repl", "--model", str(bundle), "--db", str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=db.parent,  # not a checkout: python -m finds the package of the folder it starts in first
    )
    proc.stdin.write("hi\n")
    proc.stdin.close()
    first = proc.stdout.readline()
    answered = time.perf_counter() - start
    proc.stdout.read()
    error = proc.stderr.read()
    if proc.wait(120) != 0 or not first.strip():
        raise SystemExit(f"repl failed: {error.strip()[-300:]}")
    return answered, time.perf_counter() - start


def report(name: str, figures: dict[str, list[float]]) -> None:
    print(f"  {name}:")
    for what, values in figures.items():
        unit = "MiB" if "memory" in what else "s"
        shown = "{:.0f}" if unit == "MiB" else "{:.3f}" if "in process" in what else "{:.2f}"
        runs = ", ".join(shown.format(x) for x in values)
        print(f"    {what}: {shown.format(statistics.median(values))} {unit} ({runs})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundles", nargs="+", type=Path)
    ap.add_argument("--runs", type=int, default=5)
    add_against(ap)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        checkouts = versions(args.against, Path(tmp))
        for bundle in args.bundles:
            floor: list[float] = []  # the libraries alone, once a run, between the versions
            figures = {
                name: {
                    "serve, process start to first REST reply": [],
                    "serve, resident memory after it": [],
                    "serve again on the store it made (a restart)": [],
                    "repl, process start to first answer": [],
                    "repl, the whole run (to its exit)": [],
                    "memchat's own part, in process (modules, plugins, load, first turn)": [],
                }
                for name in checkouts
            }
            for run in range(args.runs):  # versions, and serve and repl, alternate
                floor.append(libraries_once(checkouts["this checkout"], Path(tmp)))
                for v, (name, env) in enumerate(checkouts.items()):
                    f = list(figures[name].values())
                    db = Path(tmp) / f"{bundle.name}-s{run}-{v}.db"
                    first, mib = serve_once(bundle, db, env)  # a new store: its tables are made
                    again, _ = serve_once(bundle, db, env)  # the store is there, as at a restart
                    answered, whole = repl_once(bundle, Path(tmp) / f"{bundle.name}-r{run}-{v}.db", env)
                    own = own_once(bundle, Path(tmp) / f"{bundle.name}-o{run}-{v}.db", env)
                    for values, x in zip(f, (first, mib, again, answered, whole, own)):
                        values.append(x)
            print(f"{bundle.name}: {args.runs} runs, medians (runs)")
            report("the libraries alone (LIBRARIES: imported, nothing else)", {"process start to imported": floor})
            for name in checkouts:
                for start, above in (
                    ("serve, process start to first REST reply", "serve, above the libraries alone in its run"),
                    ("serve again on the store it made (a restart)", "serve again, above the libraries alone"),
                ):
                    figures[name][above] = [s - f for s, f in zip(figures[name][start], floor)]
                report(name, figures[name])


if __name__ == "__main__":
    main()
