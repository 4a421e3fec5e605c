"""Arithmetic of the fan-out index tree; pure functions, no I/O.

Records are leaves numbered from 1. Each level of the tree has one *rightmost
node* that is not full yet and lives in the master node; every other node is a
*full node* of ``fan_out`` coordinates stored in the data. ``levels[h - 1]`` is
the rightmost node at height ``h`` as a flat ``(pos, off, pos, off, ...)`` tuple.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["locate", "record_count"]


def record_count(levels: Sequence[Sequence[int]], fan_out: int) -> int:
    """Number of records under a rightmost path."""
    total = 0
    weight = 1
    for level in levels:
        total += (len(level) >> 1) * weight
        weight *= fan_out
    return total


def locate(
    index: int, levels: Sequence[Sequence[int]], fan_out: int
) -> tuple[int, int, int, list[int]]:
    """Find where the record with 0-based ``index`` hangs off the rightmost path.

    Returns ``(height, pos, off, digits)``: the coordinate of the child at
    ``height`` on the rightmost path whose subtree holds the record, and the
    child numbers to follow through full nodes below it, top first (empty when
    the child is the record itself). ``index`` must be below
    ``record_count(levels, fan_out)``.
    """
    digits = []
    rest = index
    for _ in levels:
        rest, digit = divmod(rest, fan_out)
        digits.append(digit)
    # Walk from the root down: while the digit equals the rightmost node's
    # child count, the record lies under the next rightmost node below.
    height = len(levels)
    while height:
        level = levels[height - 1]
        digit = digits[height - 1]
        if 2 * digit < len(level):
            below = digits[: height - 1]
            below.reverse()
            return height, level[2 * digit], level[2 * digit + 1], below
        height -= 1
    raise IndexError(index)
