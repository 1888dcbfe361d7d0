"""References into what the bot suggested, as Rasa's ``ActionQueryKnowledgeBase`` resolves
mentions: "the first one", "the second", "the one before", "the last one", or a row's name ("Silver
Cafe", "the lucky dumpling one") point at a row of the project's knowledge base (``[kb]``) the bot
suggested in this conversation, or at a row of that full name. ``referenced`` gives the row; the
turn then sets the slots the suggestion set (``restaurant``, ``phone``, ``rating``...) to it, so
"go back to the first one, book it" books the first one, and "what's the rating of the first one"
answers for it.
"""

from __future__ import annotations

from collections import Counter

from memchat.dialogs import BOT, KB
from memchat.nn.entities import tokenize

# ordinal words -> the index of the suggestion they name, in the order suggested
ORDINALS = {
    "first": 0,
    "1st": 0,
    "second": 1,
    "2nd": 1,
    "third": 2,
    "3rd": 2,
    "fourth": 3,
    "4th": 3,
    "fifth": 4,
    "5th": 4,
    "last": -1,
    "latest": -1,
    "previous": -2,
    "earlier": -2,
    "before": -2,  # "the one before"
}
# what an ordinal is said of ("the first one", "the second place"): alone it may mean anything
_OF = frozenset("one place restaurant suggestion option choice".split())


def suggested(history, kb: dict) -> list[str]:
    """The names the bot suggested in the conversation ``history`` (its events), oldest first,
    each once: the name slot's value after each run of the suggest action."""
    name, suggest = kb["name"], kb.get("suggest")
    prefix = f"slot {name} "
    out: list[str] = []
    after = False
    for e in history:
        if e.speaker == BOT:
            after = e.text == suggest
        elif after and e.speaker == KB and e.text.startswith(prefix):
            value = e.text[len(prefix) :]
            if value not in out:
                out.append(value)
    return out


class _Names:
    """A table's row names, indexed once per loaded bundle: a turn looks up the words it has,
    never every row (a table of 100,000 restaurants is read at the first mention, not each turn)."""

    def __init__(self, rows: list[dict], name: str):
        self.rows = {r[name].lower(): r for r in rows}
        self.spaced = {n: f" {' '.join(tokenize(n))} " for n in self.rows}  # as ``said`` is written
        counts = Counter(w for n in self.rows for w in set(tokenize(n)))
        # the words many rows' names share ("house", "bar", "the"): a mention of one names no row
        self.common = frozenset(w for w, c in counts.items() if c > max(2, len(self.rows) // 50))
        self.by_first: dict[str, list[str]] = {}  # a name's first word -> the names it starts
        for n, spaced in self.spaced.items():
            if len(n) > 3:
                self.by_first.setdefault(spaced.split()[0], []).append(n)


_indexes: dict[int, tuple[dict, _Names]] = {}  # id(kb) -> (kb, its index): kb kept so the id stays its


def _names(kb: dict) -> _Names:
    known = _indexes.get(id(kb))
    if known is None or known[0] is not kb:
        if len(_indexes) >= 16:  # a process serves one bot or a few; tests load many
            _indexes.clear()
        known = _indexes[id(kb)] = (kb, _Names(kb["rows"], kb["name"]))
    return known[1]


def referenced(text: str, history, kb: dict) -> dict | None:
    """The row of ``kb`` that ``text`` points at, or None: a suggested row named in full or by a
    word of its name no other suggestion has; an ordinal of the suggestions ("the first one");
    or any row named in full."""
    if not kb["rows"]:
        return None
    index = _names(kb)
    by_name = index.rows
    tokens = tokenize(text)
    said = f" {' '.join(tokens)} "
    names = [n.lower() for n in suggested(history, kb)]
    spaced = {n: index.spaced.get(n) or f" {' '.join(tokenize(n))} " for n in names}
    whole = [n for n in names if spaced[n] in said]
    if len(whole) == 1:
        return by_name.get(whole[0])
    words = {n: set(spaced[n].split()) - index.common for n in names}
    own = {n: words[n] - set().union(*(words[m] for m in names if m != n)) for n in names}  # its name's alone
    hits = [n for n in names if own[n] & set(tokens)]
    if len(hits) == 1:
        return by_name.get(hits[0])
    for k, t in enumerate(tokens):
        near = set(tokens[k + 1 : k + 3]) | set(tokens[max(k - 1, 0) : k])  # "the first one", "the one before"
        if t in ORDINALS and names and (near & _OF or t in ("first", "second", "last")):
            i = ORDINALS[t]
            if -len(names) <= i < len(names):
                return by_name.get(names[i])
    anywhere = {n for t in set(tokens) for n in index.by_first.get(t, ()) if index.spaced[n] in said}
    return by_name[anywhere.pop()] if len(anywhere) == 1 else None


def pointed_at(spec, text: str, history, slots: dict) -> dict[str, str]:
    """The slots a suggestion sets (the table's columns no message fills), as the row ``text``
    points at has them, where they differ from ``slots``; empty when it points at none."""
    kb = spec.kb
    if not kb or not kb.get("suggest") or text == "<SILENCE>":
        return {}
    row = referenced(text, history, kb)
    if row is None:
        return {}
    fills = spec.slot_entities
    return {c: v for c, v in row.items() if c in fills and not fills[c] and slots.get(c) != v}
