"""Every command the README shows runs, as written, in a fresh folder: the fenced ``bash`` blocks
are read from README.md, not copied here. The only changes: port 5005 becomes a free port, a
backgrounded ``memchat serve`` is started and stopped by the test, ``pip install`` lines are
left to .ci/run (which installs the same), and the dialog bAbI training runs one epoch."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import free_port, wait_until_serving

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BABI = REPO.parent / "shared" / "data" / "dialog-bAbI-tasks"


def blocks(lang: str) -> list[list[str]]:
    """The README's fenced blocks in ``lang``, each as its lines (a bash line without its comment)."""
    found = re.findall(rf"^```{lang}\n(.*?)^```", README.read_text(), flags=re.M | re.S)
    if lang != "bash":
        return [b.splitlines() for b in found]
    return [[re.sub(r"\s+#\s.*$", "", line).strip() for line in b.splitlines() if line.strip()] for b in found]


def commands() -> list[str]:
    return [line for block in blocks("bash") for line in block]


def run_line(line: str, cwd: Path, port: int, servers: list) -> subprocess.CompletedProcess | None:
    line = line.replace("5005", str(port))
    if line.endswith("&"):  # a server in the background: started here, stopped by the test
        server = subprocess.Popen(line.rstrip("& ").split(), cwd=cwd, stderr=subprocess.PIPE, text=True)
        servers.append(server)
        wait_until_serving(server, f"http://127.0.0.1:{port}/")
        return None
    stdin = "/quit\n" if line.split()[:2] in (["memchat", "start"], ["memchat", "repl"]) else None
    done = subprocess.run(line, shell=True, cwd=cwd, capture_output=True, text=True, input=stdin, timeout=600)
    assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
    return done


def memchat_on_path(monkeypatch):
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + ":" + __import__("os").environ["PATH"])


def test_the_readme_shows_its_commands():
    shown = commands()
    assert any(c.startswith("memchat serve") for c in shown) and any(c.startswith("memchat init") for c in shown)
    assert len(README.read_text().splitlines()) <= 250


def test_your_own_bot_serve_it_and_embed_it_run_as_written(tmp_path, monkeypatch):
    memchat_on_path(monkeypatch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    own = [b for b in blocks("bash") if any(line.startswith(("memchat init", "memchat serve --model")) for line in b)]
    assert len(own) == 2, own
    port, servers, said = free_port(), [], []
    try:
        for line in own[0] + own[1]:
            done = run_line(line, tmp_path, port, servers)
            if done is not None and line.startswith("curl"):
                said.append(done.stdout)
        assert '"recipient_id":"alice"' in said[0].replace(" ", "") and '"text"' in said[0]
        assert "hello" in said[1]  # the tracker holds what alice said
        chat = subprocess.run(["curl", "-s", f"http://127.0.0.1:{port}/chat"], capture_output=True, text=True)
        assert "<html" in chat.stdout.lower()  # the chat page the README names
    finally:
        for s in servers:
            s.terminate()
            s.wait(30)
    (python,) = blocks("python")
    done = subprocess.run([sys.executable, "-c", "\n".join(python)], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip().startswith("["), done.stderr


@pytest.mark.slow
def test_the_two_commands_and_the_babi_example_run_as_written(tmp_path, monkeypatch):
    if not BABI.is_dir():
        pytest.skip(f"no dialog bAbI data at {BABI}")
    memchat_on_path(monkeypatch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    shutil.copytree(REPO / "dialogues", tmp_path / "dialogues")
    (tmp_path.parent / "shared").mkdir(exist_ok=True)
    if not (tmp_path.parent / "shared" / "data").exists():
        (tmp_path.parent / "shared" / "data").symlink_to(BABI.parent)
    two = next(b for b in blocks("bash") if b and b[0] == "memchat start")
    babi = next(b for b in blocks("bash") if any("dialog-bAbI-tasks" in line for line in b))
    port, servers = free_port(), []
    try:
        run_line(two[0], tmp_path, port, servers)  # trains the default bot, opens the REPL, quits
        assert any((tmp_path / "models").glob("dialogues-*/metadata.json"))
        server = subprocess.Popen(
            [*two[1].split(), "--port", str(port)], cwd=tmp_path, stderr=subprocess.PIPE, text=True
        )
        servers.append(server)
        wait_until_serving(server, f"http://127.0.0.1:{port}/")
        for line in babi:
            run_line(line + (" --epochs 1" if line.startswith("memchat train") else ""), tmp_path, port, servers)
    finally:
        for s in servers:
            s.terminate()
            s.wait(30)
