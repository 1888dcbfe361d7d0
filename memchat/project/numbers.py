"""Numbers, amounts of money and e-mail addresses in what people type, as Rasa's
``DucklingEntityExtractor`` gives them, found in process without a Duckling server.

A project's ``config.yml`` naming ``DucklingEntityExtractor`` and its ``dimensions`` asks for them
(``duckling_dimensions``); the entities are named as Duckling names them (``number``,
``amount-of-money``, ``email``), their values as text ("4", "12.5"). Numbers in words are read
by text2num ("twenty two" is 22, "six" is 6; "one" alone is not a number: "that one"). A number
found is a candidate only: the interpreter lets it fill a slot where the form asks for that slot,
or where a word the NLU examples put beside numbers stands next to it ("for 4", "six people").
"""

from __future__ import annotations

import re
from pathlib import Path

from text_to_num import alpha2digit

SUPPORTED = ("number", "amount-of-money", "email")  # the dimensions found in process
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)?)(?![\w@])")
_MONEY = re.compile(
    r"(?:[$€£]\s?(\d+(?:[.,]\d+)?)|(\d+(?:[.,]\d+)?)\s?(?:dollars?|euros?|pounds?|usd|eur|gbp|bucks)\b)", re.I
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_WORD = re.compile(r"[\w']+")
_TWO = re.compile(r"\btwo\b", re.I)


def duckling_dimensions(folder: Path) -> tuple[list[str], list[str]]:
    """The dimensions ``config.yml`` asks Duckling for that memchat finds, and those it does not
    (reported as a note); both empty when the pipeline has no Duckling."""
    import yaml

    path = folder / "config.yml"
    if not path.is_file():
        return [], []
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError):
        return [], []  # Rasa's file; memchat reads nothing else in it
    wanted: list[str] = []
    for component in (config.get("pipeline") or []) if isinstance(config, dict) else []:
        if isinstance(component, dict) and component.get("name") == "DucklingEntityExtractor":
            dims = component.get("dimensions") or list(SUPPORTED)
            wanted += [str(d) for d in dims if str(d) not in wanted]
    return [d for d in wanted if d in SUPPORTED], [d for d in wanted if d not in SUPPORTED]


def spell_digits(text: str) -> str:
    """``text`` with numbers in words written in digits ("for six people" -> "for 6 people")."""
    try:
        text = alpha2digit(text, "en")
    except (ValueError, IndexError):  # text2num gives up on some odd inputs: keep the words
        pass
    return _TWO.sub("2", text)  # text2num leaves numbers under 3 as words; "one" stays one ("that one")


def find(text: str, dimensions: list[str] | tuple[str, ...], cues=frozenset()):
    """``(entity, value, cued)`` of each Duckling-like entity in ``text``: ``cued`` when a word of
    ``cues`` (a set, or a test of a word) stands right before or after it (numbers only; the
    others are always cued)."""
    is_cue = cues if callable(cues) else cues.__contains__
    out = []
    if "email" in dimensions:
        out += [("email", m.group(0), True) for m in _EMAIL.finditer(text)]
        text = _EMAIL.sub(" ", text)
    digits = spell_digits(text)
    if "amount-of-money" in dimensions:
        for m in _MONEY.finditer(digits):
            out.append(("amount-of-money", _plain(m.group(1) or m.group(2)), True))
    if "number" in dimensions:
        for m in _NUMBER.finditer(digits):
            if _score(digits, m.start(), m.end()):
                continue
            before = _WORD.findall(digits[: m.start()].lower())[-1:]
            after = _WORD.findall(digits[m.end() :].lower())[:1]
            out.append(("number", _plain(m.group(1)), any(map(is_cue, before + after))))
    return out


_OUT_OF = re.compile(r"^\s*(?:/|out of\b)", re.I)
_OF_OUT = re.compile(r"(?:/|\bout of)\s*$", re.I)


def _score(text: str, start: int, end: int) -> bool:
    """Whether the number at ``text[start:end]`` is part of a score or a fraction ("10/10", "2 out
    of 10"): a rating, never a count of anything."""
    return bool(_OUT_OF.match(text[end:]) or _OF_OUT.search(text[:start]))


def entity_cues(examples, entities, least: int = 2) -> dict[str, list[str]]:
    """For each of ``entities`` (entities of numbers), the words right before or after its
    annotated values in ``examples`` (NLU examples), seen at least ``least`` times: "for" in "a
    table for [4](people)", "of" in "a party of [7](people)"."""
    from collections import Counter

    counts: dict[str, Counter] = {e: Counter() for e in entities}
    for ex in examples:
        for start, end, entity, _ in ex.entities:
            if entity in counts:
                counts[entity].update(_WORD.findall(ex.text[:start].lower())[-1:])
                counts[entity].update(_WORD.findall(ex.text[end:].lower())[:1])
    return {e: sorted(w for w, n in c.items() if n >= least and not w.isdigit()) for e, c in counts.items()}


def is_number(value: str) -> bool:
    """Whether ``value`` is a whole number in digits or words ("12", "twelve")."""
    return spell_digits(value).strip().isdigit() or value.strip().lower() in _SMALL


_SMALL = {"one", "two", "three"}  # alpha2digit leaves the smallest alone


def number_cues(texts: list[str], least: int = 2) -> list[str]:
    """The words right before or after a number in ``texts`` (NLU examples), seen at least
    ``least`` times: "for" in "a table for two", "people" in "for 7 people"."""
    from collections import Counter

    counts: Counter = Counter()
    for text in texts:
        digits = spell_digits(text)
        for m in _NUMBER.finditer(digits):
            counts.update(_WORD.findall(digits[: m.start()].lower())[-1:])
            counts.update(_WORD.findall(digits[m.end() :].lower())[:1])
    return sorted(w for w, n in counts.items() if n >= least and not w.isdigit())


def _plain(value: str) -> str:
    value = value.replace(",", ".")
    return value[:-2] if value.endswith(".0") else value
