"""What the benches share: a free port, and `memchat serve` started as a user starts it, in a
process of its own, waited for until it answers."""

from __future__ import annotations

import compileall
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]  # this checkout
DROP_EDITABLE = """import sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in (getattr(f, "__name__", "") + type(f).__module__)]
"""


def checkout_env(checkout: Path, tmp: Path) -> dict:
    """The environment that runs ``checkout``'s memchat in this interpreter, its modules compiled
    to bytecode as ``pip install`` compiles them (a checkout run with PYTHONDONTWRITEBYTECODE=1
    would compile them on every start). Another checkout (say, a worktree of the previous commit)
    is found first through PYTHONPATH, a ``sitecustomize`` dropping an editable install's finder;
    start the process outside any checkout (``python -m`` looks in its working folder first)."""
    checkout = checkout.resolve()
    for package in ("memchat", "plugins"):
        compileall.compile_dir(checkout / package, quiet=1)
    if checkout == HERE:
        return dict(os.environ)
    path = tmp / f"path-{checkout.name}"
    path.mkdir()
    (path / "memchat").symlink_to(checkout / "memchat")
    (path / "memchat_plugins").symlink_to(checkout / "plugins")
    (path / "sitecustomize.py").write_text(DROP_EDITABLE)
    return {**os.environ, "PYTHONPATH": str(path)}


def add_against(parser) -> None:
    """The benches' ``--against OTHER_CHECKOUT`` option (see ``versions``)."""
    parser.add_argument(
        "--against", type=Path, action="append", default=[], help="another checkout, measured alternately (repeatable)"
    )


def versions(against: list[Path], tmp: Path) -> dict[str, dict]:
    """This checkout and each of ``against``, by name, with the environment that runs it (``checkout_env``)."""
    return {"this checkout": checkout_env(HERE, tmp)} | {f"against {o}": checkout_env(o, tmp) for o in against}


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


def wait_up(proc: subprocess.Popen, url: str, timeout: float = 60, request=None, every: float = 0.05) -> bytes:
    """Until the server answers ``request`` (default: ``GET url/``), asked ``every`` seconds; its
    answer's body. One line and exit if the server stops or never answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(request or url + "/", timeout=5) as answer:
                return answer.read()
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"memchat serve exited with {proc.returncode}") from None
            if time.monotonic() > deadline:
                raise SystemExit(f"memchat serve did not answer in {timeout:g} s") from None
            time.sleep(every)
