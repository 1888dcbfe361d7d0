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
        return alpha2digit(text, "en")
    except (ValueError, IndexError):  # text2num gives up on some odd inputs: keep the words
        return text


def find(text: str, dimensions: list[str] | tuple[str, ...], cues: set[str] | frozenset[str] = frozenset()):
    """``(entity, value, cued)`` of each Duckling-like entity in ``text``: ``cued`` when a word of
    ``cues`` stands right before or after it (numbers only; the others are always cued)."""
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
            before = _WORD.findall(digits[: m.start()].lower())[-1:]
            after = _WORD.findall(digits[m.end() :].lower())[:1]
            out.append(("number", _plain(m.group(1)), bool(set(before + after) & cues)))
    return out


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
