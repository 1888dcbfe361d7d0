"""Sparse tables as numpy arrays, rows of items: row r's items are ``items[at[r] : at[r + 1]]``.

The ranker's candidates by the entity they name, the intent matcher's examples by 3-gram, and a
bundle's candidates' word and entity ids are such tables; this module makes them, reads many
rows at once, and checks a kept one.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import numpy as np


def from_lists(lists: Sequence[Sequence[int]], dtype=np.int32) -> tuple[np.ndarray, np.ndarray]:
    """(items, at): list r's items are ``items[at[r] : at[r + 1]]``."""
    at = np.zeros(len(lists) + 1, dtype=dtype)
    np.cumsum(np.fromiter(map(len, lists), dtype=dtype, count=len(lists)), out=at[1:])
    return np.fromiter(chain.from_iterable(lists), dtype=dtype, count=int(at[-1])), at


def to_lists(items: np.ndarray, at: np.ndarray) -> list[list[int]]:
    """The rows of a table, as lists."""
    flat, bounds = items.tolist(), at.tolist()
    return [flat[a:b] for a, b in zip(bounds, bounds[1:])]


def by_row(rows: Sequence[int] | np.ndarray, n: int, *columns) -> tuple[np.ndarray, ...]:
    """(at, column, ...): the pairs (``rows[i]``, ``column[i]``) as a table of ``n`` rows, each
    row's items in the order given."""
    rows = np.asarray(rows, dtype=np.intp)
    order = np.argsort(rows, kind="stable")  # (P,)
    at = np.zeros(n + 1, dtype=np.intp)
    np.cumsum(np.bincount(rows, minlength=n), out=at[1:])
    return (at, *(np.asarray(c)[order] for c in columns))


def gather(at: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions, lengths): where the items of ``rows`` are, row after row, and how many each
    row has: one gather for many rows, no loop over them."""
    start = at[rows]  # (K,)
    lengths = at[rows + 1] - start  # (K,)
    first = np.cumsum(lengths) - lengths  # (K,) where each row's items begin in the gather
    return np.repeat(start - first, lengths) + np.arange(int(lengths.sum())), lengths  # (R,), (K,)


def offsets_fit(at: np.ndarray, rows: int, items: int) -> bool:
    """Whether ``at`` can be a table's offsets: ``rows`` + 1 of them, rising from 0 to ``items``."""
    return len(at) == rows + 1 and at[0] == 0 and at[-1] == items and not (np.diff(at) < 0).any()
