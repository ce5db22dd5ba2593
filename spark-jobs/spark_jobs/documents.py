"""The documents every dataset is turned into, their stable ids, and how a job publishes them.

Jobs that produce documents (extract, ingest_reference) emit one flat row per event (`ROWS`):
a kept document, a dropped one, a file-level problem, or a per-file summary of counts. `publish`
writes the documents and the excluded rows and derives the metrics from those same rows, so the
counts add up by construction and are checked against the readers' own tallies.
"""

from __future__ import annotations

import hashlib

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, MapType, StringType, StructField, StructType

from spark_jobs.job import Distribution, Metrics

DOCUMENTS = StructType(
    [
        StructField("doc_id", StringType(), False),
        StructField("dataset", StringType(), False),
        StructField("crawl", StringType(), True),
        StructField("url", StringType(), True),
        StructField("date", StringType(), True),
        StructField("lang", StringType(), True),
        StructField("text", StringType(), False),
    ]
)

EXCLUDED = StructType(
    [
        StructField("doc_id", StringType(), True),
        StructField("dataset", StringType(), False),
        StructField("source_file", StringType(), False),
        StructField("record_offset", LongType(), True),
        StructField("reason", StringType(), False),
        StructField("detail", StringType(), True),
    ]
)

# kind: "doc" (kept), "dropped" (a document excluded with its reason), "problem" (a file-level
# problem, excluded), "file" (one per input file: `counts` of records, bytes and reasons).
ROWS = StructType(
    [StructField("kind", StringType(), False)]
    + [StructField(f.name, f.dataType, True) for f in DOCUMENTS.fields if f.name != "dataset"]
    + [StructField(f.name, f.dataType, True) for f in EXCLUDED.fields if f.name != "doc_id"]
    + [StructField("counts", MapType(StringType(), LongType()), True)]
)

LENGTH_EDGES = (0, 100, 300, 1_000, 3_000, 10_000, 30_000, 100_000, 1_000_000)


def make_doc_id(dataset: str, identity: str) -> str:
    """First 32 hex chars of sha256(dataset NUL identity): stable across re-extraction."""
    return hashlib.sha256(f"{dataset}\x00{identity}".encode()).hexdigest()[:32]


def doc_id_column(dataset: str, identity: Column) -> Column:
    """`make_doc_id` as a Spark expression."""
    joined = F.concat(F.lit(f"{dataset}\x00"), identity.cast("string"))
    return F.substring(F.sha2(joined, 256), 1, 32)


def row(kind: str, **fields: object) -> tuple:
    """A ROWS tuple; fields not given are null."""
    unknown = set(fields) - set(ROWS.names)
    if unknown:
        raise ValueError(f"not ROWS fields: {sorted(unknown)}")
    return (kind, *(fields.get(name) for name in ROWS.names[1:]))


def _length_aggregates(column: str) -> list[Column]:
    """count, sum, min, max and one count per LENGTH_EDGES bucket of len(column)."""
    length = F.length(column)
    his = [*LENGTH_EDGES[1:], None]
    buckets = [
        F.sum(((length >= lo) & (length < hi if hi else F.lit(True))).cast("long"))
        for lo, hi in zip(LENGTH_EDGES, his, strict=True)
    ]
    return [F.count(length), F.sum(length), F.min(length), F.max(length), *buckets]


def _merge_lengths(partials: list[list]) -> Distribution:
    """One Distribution from rows of `_length_aggregates` (e.g. one per group)."""
    partials = [p for p in partials if p[0]]
    count = sum(p[0] for p in partials)
    if not count:
        return Distribution(histogram=[])
    low, high = min(p[2] for p in partials), max(p[3] for p in partials)
    his = [*LENGTH_EDGES[1:], max(high + 1, LENGTH_EDGES[-1] + 1)]
    histogram = [
        {"lo": float(lo), "hi": float(hi), "count": float(sum(p[4 + i] for p in partials))}
        for i, (lo, hi) in enumerate(zip(LENGTH_EDGES, his, strict=True))
    ]
    mean = round(sum(p[1] for p in partials) / count, 3)
    return Distribution(count, mean, float(low), float(high), histogram)


def length_distribution(df: DataFrame, column: str) -> Distribution:
    """count, mean, min, max and a histogram over LENGTH_EDGES (lo <= x < hi) of len(column)."""
    return _merge_lengths([list(df.agg(*_length_aggregates(column)).first())])


def publish(
    rows: DataFrame,
    dataset: str,
    output: str,
    partitions: int,
    metrics: Metrics,
    problem_reasons: tuple[str, ...],
) -> None:
    """Writes `<output>/` (documents) and `<output>/_excluded/`, and fills `metrics`.

    Layout is deterministic: hash-partitioned by doc_id into `partitions` files, sorted by
    doc_id within each. Raises if the rows disagree with the readers' per-file counts.
    """
    rows = rows.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        docs = rows.where(F.col("kind") == "doc").select(
            *[F.lit(dataset).alias(c) if c == "dataset" else F.col(c) for c in DOCUMENTS.names]
        )
        docs = docs.repartition(partitions, "doc_id").sortWithinPartitions("doc_id")
        docs.write.mode("overwrite").parquet(output)
        excluded = rows.where(F.col("kind").isin("dropped", "problem")).select(
            *[F.lit(dataset).alias(c) if c == "dataset" else F.col(c) for c in EXCLUDED.names]
        )
        order = ["source_file", "record_offset", "reason", "doc_id"]
        excluded.coalesce(1).sortWithinPartitions(*order).write.mode("overwrite").parquet(
            f"{output}/_excluded"
        )
        _fill_metrics(rows, metrics, problem_reasons)
    finally:
        rows.unpersist()


def _fill_metrics(rows: DataFrame, metrics: Metrics, problem_reasons: tuple[str, ...]) -> None:
    aggregates = [F.count(F.lit(1)), *_length_aggregates("text")]
    groups = rows.groupBy("kind", "reason", "crawl").agg(*aggregates).collect()  # a handful
    count: dict[tuple, int] = {}  # (kind, crawl for documents else reason) -> rows
    for g in groups:
        key = (g["kind"], g["crawl"] if g["kind"] == "doc" else g["reason"])
        count[key] = count.get(key, 0) + g[3]

    def count_of(kind: str) -> dict:
        return {k: n for (c, k), n in sorted(count.items(), key=str) if c == kind}

    kept_by_crawl, dropped, problem_rows = count_of("doc"), count_of("dropped"), count_of("problem")
    totals = {
        r["key"]: int(r["total"])
        for r in rows.where(F.col("kind") == "file")
        .select(F.explode("counts"))
        .groupBy("key")
        .agg(F.sum("value").alias("total"))
        .collect()
    }
    metrics.rows_kept = sum(kept_by_crawl.values())
    metrics.rows_dropped = sum(dropped.values())
    metrics.rows_in = metrics.rows_kept + metrics.rows_dropped
    metrics.dropped_by_reason = dropped
    problems = {k: totals[k] for k in problem_reasons if totals.get(k)}
    if totals.get("records", 0) != metrics.rows_in:
        raise RuntimeError(f"records seen {totals.get('records', 0)} != rows {metrics.rows_in}")
    for reason, n in {**dropped, **problem_rows}.items():
        if problems.get(reason, 0) != n:
            raise RuntimeError(f"{reason}: {n} excluded rows but readers counted {problems}")
    doc_lengths = [list(g)[4:] for g in groups if g["kind"] == "doc"]
    metrics.distributions["document_chars"] = _merge_lengths(doc_lengths)
    metrics.extra.update(
        problems=problems,
        files_read=sum(count_of("file").values()),
        bytes_read=totals.get("bytes", 0),
        non_conversion=totals.get("non_conversion", 0),
        kept_by_crawl={str(k): n for k, n in kept_by_crawl.items()},
    )
