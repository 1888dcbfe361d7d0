"""The rules of dialog bAbI api calls: which fields a call gives, and how results are written.

The knowledge-base plugin runs calls against the store's database with these rules;
``run_call`` runs them on facts in memory (tests compare the two).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from memchat.dialogs import KBFact

# The fields of an api call, by its number of arguments, and the order of a restaurant's result lines.
CALL_FIELDS = {
    4: ("R_cuisine", "R_location", "R_number", "R_price"),  # dialog bAbI tasks 1-5
    3: ("R_cuisine", "R_location", "R_price"),  # task 6, DSTC2: a field given as its relation name means "any"
}
RESULT_ORDER = {
    4: ("R_phone", "R_cuisine", "R_address", "R_location", "R_number", "R_price", "R_rating"),
    3: ("R_post_code", "R_cuisine", "R_location", "R_phone", "R_address", "R_price", "R_rating"),
}
NO_RESULT = "api_call no result"


def parse_call(action: str) -> list[tuple[str, str]] | None:
    """The (relation, value) constraints of an api call, or None when it is not one."""
    words = action.split()
    if not words or words[0] != "api_call" or len(words) - 1 not in CALL_FIELDS:
        return None
    args = words[1:]
    return [(rel, value) for rel, value in zip(CALL_FIELDS[len(args)], args) if value != rel]


def by_restaurant(facts: Iterable[tuple[str, str, str]]) -> dict[str, dict[str, str]]:
    """(restaurant, relation, value) facts as restaurant -> relation -> value, in file order."""
    restaurants: dict[str, dict[str, str]] = {}
    for subject, relation, value in facts:
        restaurants.setdefault(subject, {})[relation] = value
    return restaurants


def result_lines(restaurants: Mapping[str, Mapping[str, str]], arity: int) -> list[str]:
    """Result lines for the matching restaurants (name -> relation -> value), in the dataset's form."""
    order = RESULT_ORDER[arity]
    lines = []
    # best rated first, like a search engine; the dataset shuffles them, but most often puts the
    # best one first, and a model trained on it proposes the best more reliably from there
    for name, rels in sorted(restaurants.items(), key=lambda item: -_rating(item[1])):
        ranked = sorted(rels, key=lambda rel: order.index(rel) if rel in order else len(order))
        lines += [f"{name} {rel} {rels[rel]}" for rel in ranked]
    return lines or [NO_RESULT]


def _rating(relations: Mapping[str, str]) -> float:
    value = relations.get("R_rating", "")
    return float(value) if value.isdigit() else float("-inf")


def run_call(facts: Iterable[KBFact], action: str) -> list[str] | None:
    """An api call run against facts in memory (the plugin runs the same rules in SQL)."""
    wanted = parse_call(action)
    if wanted is None:
        return None
    restaurants = by_restaurant((f.subject, f.relation, f.value) for f in facts)
    matching = {n: r for n, r in restaurants.items() if all(r.get(rel) == v for rel, v in wanted)}
    return result_lines(matching, len(action.split()) - 1)
