"""How people say the common things (``acts.txt``): a project's intents that are dialogue acts
(yes, no, hello, bye, thanks, "are you a bot", moods, stop, "I don't know", "never mind") get the
bank's wordings as NLU examples besides their own (``extend``).

A project's intent is an act by its name (``affirm``, ``thankyou``...), or by its examples (at least
two of them, and a fifth, in one act's bank and in no other's); config.toml's ``[acts]`` names the
act of an intent (``confirm_it = "affirm"``) or turns one off (``affirm = ""``). A wording the
project already gives any intent stays that intent's alone: the author's examples win."""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

from memchat.errors import MemchatError
from memchat.project.data import Example

BANK = "acts.txt"
_PUNCT = re.compile(r"[^\w\s']+")


@cache
def banks() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """act -> (the intent names it goes by, its wordings), as ``acts.txt`` lists them."""
    out: dict[str, tuple[list[str], list[str]]] = {}
    act = None
    for line in files("memchat.project").joinpath(BANK).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("== "):
            act, _, names = line[3:].partition(":")
            out[act.strip()] = (names.split(), [])
            act = act.strip()
        elif act is not None:
            out[act][1].append(line)
    return {a: (tuple(n), tuple(w)) for a, (n, w) in out.items()}


def said(text: str) -> str:
    """A wording as compared: lower case, punctuation and emoji aside, spaces single."""
    return " ".join(_PUNCT.sub(" ", text.lower()).split()) or text.strip()


def match(intents: dict[str, list[str]], overrides: dict[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """intent -> (act, why) for each intent of ``intents`` (name -> its examples' texts) that is
    an act: by ``overrides`` (config.toml's [acts]), its name, or its examples."""
    overrides = overrides or {}
    acts = banks()
    bank_of = {a: {said(w) for w in words} for a, (_, words) in acts.items()}
    out: dict[str, tuple[str, str]] = {}
    taken: set[str] = set()
    for intent in intents:
        if intent in overrides:
            if overrides[intent]:
                out[intent] = (overrides[intent], "config.toml [acts]")
            continue
        by_name = [a for a, (names, _) in acts.items() if intent.lower() in names]
        if by_name and by_name[0] not in taken:
            out[intent] = (by_name[0], "its name")
    taken = {a for a, _ in out.values()}
    for intent, texts in intents.items():
        if intent in out or intent in overrides or not texts:
            continue
        hits = {a: sum(said(t) in bank for t in texts) for a, bank in bank_of.items() if a not in taken}
        best = sorted(hits.items(), key=lambda kv: -kv[1])[:2]
        if best and best[0][1] >= 2 and best[0][1] >= len(texts) / 5 and (len(best) < 2 or best[1][1] == 0):
            out[intent] = (best[0][0], f"{best[0][1]} of its examples")
            taken.add(best[0][0])
    return out


def extend(
    examples: dict[str, list[Example]], overrides: object = None, where: str = "config.toml", intents=()
) -> list[str]:
    """Add each act-intent's bank wordings to ``examples`` (intent -> its NLU examples), in place;
    the notes that say what was added, for ``memchat train`` to print. ``intents``: the domain's,
    an act by its name even with no examples of its own."""
    if overrides is None:
        overrides = {}
    if not isinstance(overrides, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in overrides.items()
    ):
        raise MemchatError(f'{where}: [acts]: expected intent = "act" lines (an act of {BANK}, or "" for none)')
    acts = banks()
    for intent, act in overrides.items():
        if act and act not in acts:
            raise MemchatError(f"{where}: [acts] {intent}: unknown act {act!r} ({', '.join(acts)})")
    texts = {name: [] for name in intents} | {name: [ex.text for ex in exs] for name, exs in examples.items()}
    matched = match(texts, overrides)
    own = {said(ex.text) for exs in examples.values() for ex in exs}
    notes = []
    for intent, (act, why) in matched.items():
        new = [w for w in acts[act][1] if said(w) not in own]
        own |= {said(w) for w in new}
        examples.setdefault(intent, []).extend(Example(w, [], banked=True) for w in new)
        notes.append(f"intent '{intent}' is memchat's act '{act}' (by {why}): {len(new)} more ways to say it")
    return notes
