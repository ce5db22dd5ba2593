"""Where each packed row goes: its place within its source, and its place in the global order.

Both are arithmetic on row indices, so no step sorts the whole output or ranks it in one task.

Within a source, row r of epoch e (rows counted in that epoch's seeded document order) gets the
source index k = e * rows_per_epoch + perm_e(r), where perm_e is a seeded affine bijection of
[0, rows taken in epoch e): consecutive rows, which share documents, land far apart, and every
epoch comes entirely before the next (sampling without replacement up to the epoch boundary).

Globally, the k-th row of a source with N rows has key (2k + 1) / (2N), ties broken by a seeded
rank of the sources: Webster's (Sainte-Laguë) apportionment sequence. After any prefix of the
order, a source's row count differs from its share of that prefix by less than one row per
source, at least as close as Megatron-LM's "draw from the source furthest behind" rule. A row's
position is the number of rows before it, summed source by source in closed form (exact integer
arithmetic), so positions are computed row by row in parallel and form 0 .. total-1.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from pyspark.sql import Column
from pyspark.sql import functions as F

from spark_jobs.seeded import uniform

MAX_EXACT = 1 << 62  # (2k+1) * N must fit a signed long
SOURCE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


def source_ranks(seed: int, sources: list[str]) -> dict[str, int]:
    """A seeded order of the sources (0 first), used only to break exact ties of the key."""
    ordered = sorted(sources, key=lambda s: (uniform(seed, s, "mix-source-rank"), s))
    return {s: i for i, s in enumerate(ordered)}


def affine_perm(seed: int, source: str, epoch: int, size: int) -> tuple[int, int]:
    """(a, b) with gcd(a, size) = 1, so r -> (a * r + b) mod size is a bijection of [0, size)."""
    if size <= 1:
        return 1, 0
    tag = f"{source}\x00{epoch}"
    a = 1 + int(uniform(seed, tag, "mix-perm-a") * (size - 1))
    while math.gcd(a, size) != 1:
        a = a % (size - 1) + 1
    return a, int(uniform(seed, tag, "mix-perm-b") * size)


def unpermute(a: int, b: int, size: int, j: int) -> int:
    """The r with (a * r + b) mod size == j: `affine_perm`'s bijection undone (gcd(a, size) = 1)."""
    return (j - b) * pow(a, -1, size) % size


def check_exact(counts: Mapping[str, int]) -> None:
    largest = max(counts.values(), default=0)
    if (2 * largest + 1) * largest >= MAX_EXACT:
        raise ValueError(f"{largest} rows in one source: positions would overflow 64-bit integers")


def position(source: str, k: int, counts: Mapping[str, int], ranks: Mapping[str, int]) -> int:
    """Rows before row k of `source` in the global order (plain Python, for tests and checks)."""
    total = k
    n_s = counts[source]
    for other, n_o in counts.items():
        if other == source or n_o == 0:
            continue
        a, b = (2 * k + 1) * n_o, n_s
        strict = 1 if ranks[other] > ranks[source] else 0
        total += min(n_o, (a + b - strict) // (2 * b))
    return total


def position_col(
    source: str, k: str, counts: Mapping[str, int], ranks: Mapping[str, int]
) -> Column:
    """`position` as a Spark SQL expression over the columns named `source` and `k` (longs, SQL
    `div`: exact integer arithmetic, no Python on the row path). Source names are identifiers."""
    for name in counts:
        if not SOURCE_NAME.fullmatch(name):
            raise ValueError(f"source name {name!r} is not an identifier")
    n_s = " ".join(f"WHEN '{s}' THEN {n}L" for s, n in counts.items())
    rank = " ".join(f"WHEN '{s}' THEN {ranks[s]}" for s in counts)
    n_s, rank = f"(CASE {source} {n_s} END)", f"(CASE {source} {rank} END)"
    terms = [f"CAST({k} AS BIGINT)"]
    for other, n_o in counts.items():
        if n_o == 0:
            continue
        strict = f"(CASE WHEN {ranks[other]} > {rank} THEN 1L ELSE 0L END)"
        a = f"((2L * {k} + 1L) * {n_o}L)"
        before = f"least({n_o}L, ({a} + {n_s} - {strict}) div (2L * {n_s}))"
        terms.append(f"(CASE WHEN {source} = '{other}' THEN 0L ELSE {before} END)")
    return F.expr(" + ".join(terms))


def locate(pos: int, counts: Mapping[str, int], ranks: Mapping[str, int]) -> tuple[str, int]:
    """The (source, k) placed at global position `pos`: `position` undone. For a fixed source,
    `position` increases with k, so a bisection per source finds it (driver-side, a few rows)."""
    for source, n in sorted(counts.items()):
        lo, hi = 0, n
        while lo < hi:
            mid = (lo + hi) // 2
            if position(source, mid, counts, ranks) < pos:
                lo = mid + 1
            else:
                hi = mid
        if lo < n and position(source, lo, counts, ranks) == pos:
            return source, lo
    raise ValueError(f"no row at position {pos} of {sum(counts.values())}")
