"""What the benches share: a free port, and `memchat serve` started as a user starts it, in a
process of its own, waited for until it answers."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(bundle: Path, db: str | Path, *options: str, cwd: Path | None = None, **popen) -> tuple:
    """``memchat serve`` on a free port: (process, URL), not yet waited for."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "memchat", "serve", "--model", str(bundle), "--db", str(db), "--port", str(port)]
        + ["--log-level", "warning", *options],
        cwd=cwd,
        **popen,
    )
    return proc, f"http://127.0.0.1:{port}"


def wait_up(proc: subprocess.Popen, url: str, timeout: float = 60) -> None:
    """Until ``url`` answers; one line and exit if the server stops or never answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url + "/", timeout=1)
            return
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"memchat serve exited with {proc.returncode}") from None
            if time.monotonic() > deadline:
                raise SystemExit(f"memchat serve did not answer in {timeout:g} s") from None
            time.sleep(0.05)
