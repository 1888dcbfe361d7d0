"""``memchat repl``: chat with a bot in the terminal (prompt-toolkit), or line by line through a pipe."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from memchat.bot import Bot
from memchat.dialogue.turn import Reply
from memchat.errors import MemchatError
from memchat.store.urls import database_trouble

COMMANDS = {
    "/new": "start a new conversation",
    "/conversation": "ID: go on with conversation ID (a new one if it does not exist)",
    "/history": "the conversation so far, as stored",
    "/why": "what the last reply looked at: its attention over memory, hop by hop",
    "/top": "K: the K best candidates for the last reply, with their probabilities",
    "/help": "this list",
    "/quit": "leave (Ctrl-D too)",
}
BAR_WIDTH = 24


def bar(weight: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar of ``weight`` (0-1) in eighths of a character."""
    eighths = round(max(0.0, min(1.0, weight)) * width * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")).ljust(width)


class Repl:
    def __init__(
        self,
        bot: Bot,
        conversation_id: str | None = None,
        history_file: Path | None = None,
        write: Callable[[str], None] | None = None,
    ):
        self.bot = bot
        self.history_file = history_file
        self.write = write or (lambda line: print(line, flush=True))
        self.last: Reply | None = None
        self.color = False  # dim the action trace (a terminal); plain text through a pipe
        self.switch(conversation_id or uuid.uuid4().hex[:12], announce=False)

    # ---- state -------------------------------------------------------------------------
    def switch(self, conversation_id: str, announce: bool = True) -> None:
        self.conversation_id = conversation_id
        self.turns = sum(e.speaker == "user" for e in self.bot.history(conversation_id))
        self.last = None
        if announce:
            known = f"{self.turns} turns so far" if self.turns else "new"
            self.write(f"conversation {conversation_id} ({known})")

    def toolbar(self) -> str:
        return f" conversation {self.conversation_id} │ model {self.bot.model_path.name} │ {self.turns} turns "

    # ---- one line of input -------------------------------------------------------------
    def handle(self, line: str) -> bool:
        """Answer one line; False when the user asked to quit."""
        stripped = line.strip()
        if stripped.startswith("/"):
            return self.command(stripped)
        try:
            replies = self.bot.turn(self.conversation_id, line)
        except MemchatError as e:
            self.write(f"error: {e}")
            return True
        except SQLAlchemyError as e:  # the turn was not stored: the line can be sent again
            self.write(f"error: database: {database_trouble(e)}; nothing was stored, try again")
            return True
        self.turns += 1
        for r in replies:
            if r.message is None:  # an action: a dimmed trace, never said to the user
                trace = f"  · {r.text}"
                if r.action_results:
                    n = len(r.action_results)
                    trace += f" ({n} result line{'s' if n != 1 else ''} from the knowledge base)"
                self.write(self.dim(trace))
                continue
            if "text" in r.message:
                self.write(r.message["text"])
            for button in r.message.get("buttons") or []:
                self.write(f"  [{button.get('title', '')}] {button.get('payload', '')}".rstrip())
            for key in ("image", "custom"):
                if key in r.message:
                    self.write(f"  ({key}: {r.message[key]})")
        if replies:
            self.last = replies[-1]
        return True

    def dim(self, line: str) -> str:
        return f"\x1b[2m{line}\x1b[0m" if self.color else line

    def command(self, line: str) -> bool:
        name, _, arg = line.partition(" ")
        arg = arg.strip()
        if name == "/quit":
            return False
        if name == "/help":
            for cmd, text in COMMANDS.items():
                self.write(f"  {cmd:<14} {text}")
        elif name == "/new":
            self.switch(uuid.uuid4().hex[:12])
        elif name == "/conversation":
            if not arg:
                self.write(f"conversation {self.conversation_id}; /conversation ID switches")
            else:
                self.switch(arg)
        elif name == "/history":
            for e in self.bot.history(self.conversation_id):
                self.write(f"  {e.seq:>4} {e.speaker:>4}: {e.text}")
        elif name == "/why":
            self.why()
        elif name == "/top":
            if not (arg or "5").isdigit() or int(arg or 5) < 1:
                self.write("usage: /top K, with K a positive number")
            elif self.last is None:
                self.write("no reply yet in this session")
            else:
                for text, p in self.last.ranking.top(int(arg or 5)):
                    self.write(f"  {p:6.1%}  {text}")
        else:
            self.write(f"unknown command {name}; /help lists them")
        return True

    def why(self, shown: int = 5) -> None:
        if self.last is None:
            self.write("no reply yet in this session")
            return
        r = self.last.ranking
        self.write(f"reply: {self.last.text}")
        self.write(f"query: {r.query.text}   (memory: {len(r.memory)} utterances)")
        for h, weights in enumerate(r.attention, start=1):
            self.write(f"hop {h}:")
            if len(weights) == 0:
                self.write("  (nothing in memory yet)")
                continue
            for i in sorted(range(len(weights)), key=lambda i: -weights[i])[:shown]:
                w, t = float(weights[i]), r.memory[i]
                self.write(f"  {bar(w)} {w:5.1%}  {t.speaker:>4}: {t.text[:70]}")

    # ---- loops -------------------------------------------------------------------------
    def run(self, stdin=None) -> None:
        stdin = stdin or sys.stdin
        if stdin.isatty():
            self.run_terminal()
        else:
            self.run_pipe(stdin)

    def run_pipe(self, stdin) -> None:
        """One line in, the replies out: for scripts. Bytes that are not UTF-8 are replaced."""
        source = getattr(stdin, "buffer", None)
        for raw in source if source is not None else stdin:
            line = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
            if not self.handle(line.rstrip("\r\n")):
                break

    def run_terminal(self, input=None, output=None) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.completion import WordCompleter
        from prompt_toolkit.history import FileHistory, InMemoryHistory

        history = FileHistory(str(self.history_file)) if self.history_file else InMemoryHistory()
        completer = WordCompleter(list(COMMANDS), sentence=True, match_middle=False)
        self.color = True
        session = PromptSession(
            history=history,
            completer=completer,
            complete_while_typing=True,
            bottom_toolbar=self.toolbar,
            input=input,
            output=output,
        )
        self.write(
            f"memchat: conversation {self.conversation_id}, model {self.bot.model_path}. "
            "/help lists the commands; Ctrl-D quits."
        )
        while True:
            try:
                line = session.prompt("you> ")
            except KeyboardInterrupt:  # Ctrl-C: drop the line, stay
                continue
            except EOFError:  # Ctrl-D
                break
            if not self.handle(line):
                break
