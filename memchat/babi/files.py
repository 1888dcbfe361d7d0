"""Reading the dialog bAbI file formats: dialogues, candidate replies and knowledge bases.

A dialogue file holds one turn per line, ``ID user<TAB>bot``; ids restart at 1 for each dialogue and
blank lines may separate dialogues. ``<SILENCE>`` stands for a missing user utterance when the bot
speaks twice; an empty user side (a few DSTC2 turns) reads as ``<SILENCE>`` too. A line without a
tab is a knowledge-base result the API call returned
(``resto_x R_cuisine italian`` or ``api_call no result``). Task 6 (DSTC2) keeps its capitals and
punctuation, and some of its bot replies start with a space; both are read as they are.

Every malformed line raises :class:`MemchatError` naming ``file:line`` and what was expected.
"""

from __future__ import annotations

from pathlib import Path

from memchat.dialogs import BOT, KB, SILENCE, USER, Dialog, KBFact, Turn, parse_kb_result
from memchat.errors import MemchatError


def _read_lines(path: Path) -> list[str]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise MemchatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise MemchatError(f"{path}: is a folder, expected a file") from None
    except OSError as e:
        raise MemchatError(f"{path}: cannot read ({e.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise MemchatError(f"{path}:{line}: not UTF-8 text (byte {data[e.start]:#04x})") from None
    return text.splitlines()


def _split_id(path: Path, number: int, raw: str) -> tuple[int, str]:
    head, _, rest = raw.partition(" ")
    if not head.isdigit() or int(head) < 1:
        shown = raw if len(raw) <= 40 else raw[:37] + "..."
        raise MemchatError(f"{path}:{number}: expected 'ID text' with ID a whole number from 1, got {shown!r}")
    if not rest.strip():
        raise MemchatError(f"{path}:{number}: nothing after the turn id {head}")
    return int(head), rest


def read_dialogs(path: str | Path) -> list[Dialog]:
    """Read a dialogue file into dialogues, checking every line."""
    path = Path(path)
    dialogs: list[Dialog] = []
    current: Dialog | None = None
    last_id = 0
    for number, raw in enumerate(_read_lines(path), start=1):
        if not raw.strip():
            current, last_id = None, 0
            continue
        turn_id, rest = _split_id(path, number, raw)
        if turn_id == 1:
            current = None
        elif turn_id != last_id + 1:
            expected = f"{last_id + 1} (or 1 to start a new dialogue)" if last_id else "1"
            raise MemchatError(f"{path}:{number}: expected turn id {expected}, got {turn_id}")
        last_id = turn_id
        if current is None:
            current = Dialog(source=str(path), line=number)
            dialogs.append(current)
        if "\t" in rest:
            user, bot = rest.split("\t", 1)
            if "\t" in bot:
                raise MemchatError(f"{path}:{number}: expected one tab between user and bot, found more")
            user, bot = user.strip(), bot.strip()
            # DSTC2 (task 6) has a few turns where speech recognition heard nothing.
            user = user or SILENCE
            if not bot:
                raise MemchatError(f"{path}:{number}: empty bot reply after the tab")
            current.turns.append(Turn(USER, user, number))
            current.turns.append(Turn(BOT, bot, number))
        elif parse_kb_result(rest.strip()) is None and rest.strip() != "api_call no result":
            raise MemchatError(
                f"{path}:{number}: expected 'ID user<TAB>bot', or a result line 'ID name R_relation value'; "
                "found no tab (an editor may have turned it into spaces)"
            )
        else:
            current.turns.append(Turn(KB, rest.strip(), number))
    if not dialogs:
        raise MemchatError(f"{path}: no dialogues found (expected lines 'ID user<TAB>bot')")
    return dialogs


def read_candidates(path: str | Path) -> list[str]:
    """Read a candidates file (``1 reply`` per line) into distinct replies, in file order."""
    path = Path(path)
    seen: dict[str, None] = {}
    for number, raw in enumerate(_read_lines(path), start=1):
        if not raw.strip():
            continue
        _, text = _split_id(path, number, raw)
        if "\t" in text:
            raise MemchatError(f"{path}:{number}: expected one reply per line, found a tab")
        seen.setdefault(text.strip(), None)
    if not seen:
        raise MemchatError(f"{path}: no candidate replies found (expected lines '1 reply')")
    return list(seen)


def read_kb(path: str | Path) -> list[KBFact]:
    """Read a knowledge-base file (``1 name R_relation value``; a tab may stand before the value)."""
    path = Path(path)
    facts: list[KBFact] = []
    for number, raw in enumerate(_read_lines(path), start=1):
        if not raw.strip():
            continue
        _, rest = _split_id(path, number, raw)
        parts = rest.split(None, 2)
        if len(parts) != 3 or not parts[1].startswith("R_"):
            raise MemchatError(f"{path}:{number}: expected 'ID name R_relation value', got {rest.strip()!r}")
        facts.append(KBFact(parts[0], parts[1], parts[2].strip()))
    if not facts:
        raise MemchatError(f"{path}: no knowledge-base facts found")
    return facts
