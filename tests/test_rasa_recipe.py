"""Opt-in: the Rasa recipe in docs/rasa-recipe, with a real Rasa 3.6 server, answers a dialog
bAbI task-5 dev dialogue with the same replies as `memchat serve`.

Rasa Open Source 3.6 needs Python 3.8-3.10 and memchat 3.11+, so Rasa runs from a venv of its
own: `MEMCHAT_RASA=/path/to/rasa-venv/bin/rasa pytest -m rasa tests/test_rasa_recipe.py`. The
action server (rasa-sdk, memchat's action) runs in memchat's Python.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from conftest import BABI, free_port, memchat_command, wait_until_serving

RASA = os.environ.get("MEMCHAT_RASA")
RECIPE = Path(__file__).resolve().parents[1] / "docs" / "rasa-recipe"

pytestmark = pytest.mark.rasa


def _start(args, env=None, cwd=None):
    return subprocess.Popen(
        args, env={**os.environ, **(env or {})}, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def test_a_task5_dialogue_gets_the_same_replies_through_rasa_as_through_memchat(tmp_path):
    if not RASA or not Path(RASA).exists():
        pytest.skip(
            "no Rasa: set MEMCHAT_RASA to the rasa command of a Python 3.10 venv with rasa==3.6.* and setuptools<70"
        )
    if not (BABI / "dialog-babi-task5-full-dialogs-dev.txt").exists():
        pytest.skip(f"dialog bAbI data not found at {BABI}")
    from memchat.babi.files import read_dialogs
    from memchat.dialogs import USER
    from memchat.train import train_bot

    bundle, _ = train_bot(BABI, 5, out=tmp_path / "models", name="task5", seed=0)
    kb = BABI / "dialog-babi-kb-all.txt"
    project = tmp_path / "rasa"
    shutil.copytree(RECIPE, project)
    trained = subprocess.run(
        [RASA, "train", "--fixed-model-name", "recipe", "--out", "models"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert trained.returncode == 0, trained.stdout[-2000:] + trained.stderr[-2000:]
    actions, rasa_port, memchat_port = free_port(), free_port(), free_port()
    (project / "endpoints.yml").write_text(f'action_endpoint:\n  url: "http://localhost:{actions}/webhook"\n')
    env = {"MEMCHAT_MODEL": str(bundle.path), "MEMCHAT_DB": str(tmp_path / "via-rasa.db"), "MEMCHAT_KB": str(kb)}
    servers = [
        _start(
            [sys.executable, "-m", "rasa_sdk", "--actions", "memchat_plugins.adapters.rasa_action"]
            + ["--port", str(actions)],
            env,
        ),
        _start(
            [RASA, "run", "--enable-api", "-m", "models/recipe.tar.gz", "--port", str(rasa_port)]
            + ["--endpoints", "endpoints.yml", "--credentials", "credentials.yml"],
            cwd=project,
        ),
        _start(
            memchat_command(
                "serve",
                "--model",
                str(bundle.path),
                "--db",
                str(tmp_path / "direct.db"),
                "--kb",
                str(kb),
                "--port",
                str(memchat_port),
                "--log-level",
                "warning",
            )
        ),
    ]
    try:
        wait_until_serving(servers[2], f"http://127.0.0.1:{memchat_port}/")
        wait_until_serving(servers[1], f"http://127.0.0.1:{rasa_port}/", timeout=300)
        time.sleep(2)
        dialog = read_dialogs(BABI / "dialog-babi-task5-full-dialogs-dev.txt")[0]
        said = [t.text for t in dialog.turns if t.speaker == USER and t.text != "<SILENCE>"]
        for text in said:
            body = {"sender": "dev-1", "message": text}
            via_rasa = httpx.post(f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook", json=body, timeout=120)
            direct = httpx.post(f"http://127.0.0.1:{memchat_port}/webhooks/rest/webhook", json=body, timeout=120)
            assert [m["text"] for m in via_rasa.json()] == [m["text"] for m in direct.json()], text
    finally:
        for s in servers:
            s.terminate()
            s.wait(60)
