"""Seeded uniforms: every random choice in ccmix derives from (seed, stream, stable id).

The same u comes out of plain Python and out of a Spark column expression (no Python UDF), so a
decision made on the driver, in a test or in a job is identical, whatever the partition layout.
"""

from __future__ import annotations

import hashlib

from pyspark.sql import Column
from pyspark.sql import functions as F

UNIFORM_BITS = 52  # 13 hex digits: exact as a double and as a Spark long, so u is bit-identical


def uniform(seed: int, doc_id: str, stream: str) -> float:
    """u in [0, 1) from the first 52 bits of sha256(f"{stream}\\0{seed}\\0{doc_id}")."""
    digest = hashlib.sha256(f"{stream}\x00{seed}\x00{doc_id}".encode()).hexdigest()
    return int(digest[: UNIFORM_BITS // 4], 16) / float(1 << UNIFORM_BITS)


def uniform_col(seed: int, doc_id: Column, stream: str) -> Column:
    """The same u as `uniform`, as a Spark expression (no Python UDF)."""
    digest = F.sha2(F.concat(F.lit(f"{stream}\x00{seed}\x00"), doc_id), 256)
    bits = F.conv(F.substring(digest, 1, UNIFORM_BITS // 4), 16, 10).cast("long")
    return bits.cast("double") / F.lit(float(1 << UNIFORM_BITS))
