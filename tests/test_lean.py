"""Serving without torch: `pip install memchat` answers with a trained bundle (the live path is
numpy), and what needs torch (training, batch evaluation) says so in one line.

Two environments: this interpreter with torch made unimportable (``sys.modules["torch"] = None``,
what Python does for a module that is not there), and, where .ci/run made one, a real venv with
`pip install .` and no torch in it (MEMCHAT_LEAN_PYTHON, its python).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from conftest import BOOKING, serving

BLOCKED = "import sys; sys.modules['torch'] = None; sys.argv[0] = 'memchat'; from memchat.cli import main; main()"
LEAN = os.environ.get("MEMCHAT_LEAN_PYTHON")


@pytest.fixture(params=["torch blocked", "venv without torch"])
def lean(request):
    """The memchat command in an environment without torch."""
    if request.param == "torch blocked":
        return lambda *args: [sys.executable, "-c", BLOCKED, *args]
    if not LEAN:
        pytest.skip("no venv without torch: MEMCHAT_LEAN_PYTHON is not set (.ci/run makes one)")
    out = subprocess.run([LEAN, "-c", "import torch"], capture_output=True)
    assert out.returncode != 0, f"{LEAN} has torch: not a serving install"
    return lambda *args: [LEAN, "-m", "memchat", *args]


def post(url: str, body: dict) -> list[dict]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read())


def run(command: list[str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    """A command run outside the checkout, so that the installed memchat answers, not ./memchat."""
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=120, cwd=cwd)


def test_serve_answers_over_rest_without_torch(lean, small, tmp_path):
    with serving(small, tmp_path / "s.db", command=lean, cwd=tmp_path) as url:
        said = post(f"{url}/webhooks/rest/webhook", {"sender": "lean", "message": "hi"})
        assert [m["text"] for m in said] == ["hello what can i help you with today"]
        said = post(f"{url}/webhooks/rest/webhook", {"sender": "lean", "message": BOOKING})
        # the search ran (the knowledge-base plugin) and its best result is proposed
        assert [m["text"] for m in said][-1] == "what do you think of this option: resto_a"


def test_repl_and_replay_run_without_torch(lean, small, tmp_path):
    repl = run(lean("repl", "--model", str(small / "model"), "--db", str(tmp_path / "r.db")), tmp_path, "hello\n")
    assert repl.returncode == 0, repl.stderr
    assert "hello what can i help you with today" in repl.stdout
    replay = run(
        lean("replay", str(small / "model"), str(small / "small-dev.txt"), "--kb", str(small / "small-kb.txt")),
        tmp_path,
    )
    assert replay.returncode == 0, replay.stderr
    assert "per-response" in replay.stdout


def test_training_without_torch_says_what_to_install(lean, small, tmp_path):
    for args in (
        ("train", str(small), "--out", str(tmp_path)),
        ("evaluate", str(small / "model"), str(small / "small-dev.txt")),
    ):
        done = run(lean(*args), tmp_path)
        assert done.returncode == 1
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
        assert 'pip install "memchat[train]"' in done.stderr
    assert not list(tmp_path.iterdir())  # nothing half-written
