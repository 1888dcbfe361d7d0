import os
import signal
import sqlite3
import subprocess
import sys
import time

from memchat.channels.repl import Repl, bar

from conftest import BOOKING


def memchat(*args, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "memchat", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kw,
    )


def test_pipe_mode_one_line_in_replies_out(small, tmp_path):
    p = memchat(
        "repl",
        "--model",
        str(small / "model"),
        "--db",
        str(tmp_path / "p.db"),
        "--kb",
        str(small / "small-kb.txt"),
        "--conversation",
        "piped",
        cwd=tmp_path,
    )
    out, err = p.communicate(f"hi\n{BOOKING}\n/top 2\n".encode() + b"caf\xe9 \xff\n", timeout=120)
    lines = out.decode().splitlines()
    assert p.returncode == 0, err.decode()
    assert lines[:4] == [
        "hello what can i help you with today",
        "i'm on it",
        "  · api_call italian paris six cheap (7 result lines from the knowledge base)",  # the action's trace
        "what do you think of this option: resto_a",
    ]
    assert lines[4].endswith("what do you think of this option: resto_a") and "%" in lines[4]
    assert len(lines) >= 7 and "Traceback" not in err.decode()  # the non-UTF-8 line got an answer too


def test_prompt_toolkit_session_commands_and_ctrl_keys(bot):
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    out = []
    repl = Repl(bot, "pt", write=out.append)
    with create_pipe_input() as inp:
        # a line, Ctrl-C on a half-typed line (dropped), /why, /top 2, /history, /help, Ctrl-D
        inp.send_text("hi\rhalf typed\x03/why\r/top 2\r/history\r/help\r/nonsense\r\x04")
        repl.run_terminal(input=inp, output=DummyOutput())
    text = "\n".join(out)
    assert "hello what can i help you with today" in text
    assert "half typed" not in text
    assert "hop 1:" in text and "hop 2:" in text
    assert "  1 user: hi" in text.replace("   ", " ") or "1 user: hi" in text
    assert "/conversation" in text and "unknown command /nonsense" in text
    assert repl.turns == 1
    assert [e.text for e in bot.history("pt")] == ["hi", "hello what can i help you with today"]


def test_why_shows_the_memories_with_most_attention(bot):
    out = []
    repl = Repl(bot, "why", write=out.append)
    for line in ["hi", BOOKING, ""]:
        repl.handle(line)
    out.clear()
    repl.handle("/why")
    assert out[0] == "reply: what do you think of this option: resto_a"
    assert out[1].startswith("query: <SILENCE>")
    hop1 = out[out.index("hop 1:") + 1 : out.index("hop 2:")]
    assert len(hop1) == 5
    weights = [float(line.split("%")[0].split()[-1]) for line in hop1]
    assert weights == sorted(weights, reverse=True)


def test_switching_conversations_and_remembering(bot):
    out = []
    repl = Repl(bot, "a", write=out.append)
    repl.handle("hi")
    repl.handle("/new")
    assert repl.conversation_id != "a" and repl.turns == 0
    repl.handle("/conversation a")
    assert repl.turns == 1 and "conversation a (1 turns so far)" in out
    assert "turns" in repl.toolbar() and "conversation a" in repl.toolbar()


def test_bar():
    assert bar(1.0, 4) == "████" and bar(0.0, 4) == "    " and bar(0.5, 4) == "██  "


def test_killed_mid_conversation_loses_no_answered_turn(small, tmp_path):
    db = tmp_path / "crash.db"
    args = [
        "repl",
        "--model",
        str(small / "model"),
        "--db",
        str(db),
        "--kb",
        str(small / "small-kb.txt"),
        "--conversation",
        "crash",
    ]
    p = memchat(*args, cwd=tmp_path)
    answered = []
    for line in ["hi", BOOKING, "let's do it"]:
        p.stdin.write(f"{line}\n".encode())
        p.stdin.flush()
        answered.append(p.stdout.readline().decode().strip())
        if line == BOOKING:  # "i'm on it", the api call's trace, and the proposal
            answered += [p.stdout.readline().decode().strip() for _ in range(2)]
    p.stdin.write(b"thanks\n")  # sent, and the process is killed while it may be answering it
    p.stdin.flush()
    time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    with sqlite3.connect(db) as conn:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        stored = [
            r[0]
            for r in conn.execute(
                "select text from events where conversation_id = 'crash' and speaker = 'bot' order by seq"
            )
        ]
    said = [a.removeprefix("· ").split(" (")[0] for a in answered]  # an action's trace names it
    assert stored[: len(said)] == said
    # and the conversation goes on where it stopped
    p = memchat(*args, cwd=tmp_path)
    out, err = p.communicate(b"thanks\n/history\n", timeout=120)
    assert p.returncode == 0, err.decode()
    assert out.decode().splitlines()[0] == "you're welcome"
    assert "what do you think of this option: resto_a" in out.decode()
