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


def length_distribution(df: DataFrame, column: str) -> Distribution:
    """count, mean, min, max and a histogram over LENGTH_EDGES (lo <= x < hi) of len(column)."""
    length = F.length(column)
    edges = [*LENGTH_EDGES, None]
    buckets = [
        F.sum(F.when((length >= lo) & (length < hi if hi else F.lit(True)), 1).otherwise(0))
        for lo, hi in zip(edges[:-1], edges[1:], strict=True)
    ]
    stats = df.agg(F.count(length), F.avg(length), F.min(length), F.max(length), *buckets).first()
    count, mean, low, high, *hist = stats
    histogram = [
        {"lo": float(lo), "hi": float(hi if hi else max(high or 0, lo) + 1), "count": float(n or 0)}
        for lo, hi, n in zip(edges[:-1], edges[1:], hist, strict=True)
    ]
    return Distribution(
        count=count,
        mean=None if mean is None else round(mean, 3),
        min=None if low is None else float(low),
        max=None if high is None else float(high),
        histogram=histogram,
    )


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
    by_kind = rows.groupBy("kind", "reason").count().collect()  # a handful of rows
    kept = sum(r["count"] for r in by_kind if r["kind"] == "doc")
    dropped = {r["reason"]: r["count"] for r in by_kind if r["kind"] == "dropped"}
    problem_rows = {r["reason"]: r["count"] for r in by_kind if r["kind"] == "problem"}
    files = rows.where(F.col("kind") == "file")
    totals = {
        r["key"]: r["total"]
        for r in files.select(F.explode("counts"))
        .groupBy("key")
        .agg(F.sum("value").alias("total"))
        .collect()
    }
    metrics.rows_in = kept + sum(dropped.values())
    metrics.rows_kept = kept
    metrics.rows_dropped = sum(dropped.values())
    metrics.dropped_by_reason = dict(sorted(dropped.items()))
    problems = {k: int(totals.get(k, 0)) for k in problem_reasons if totals.get(k)}
    if totals.get("records", 0) != metrics.rows_in:
        raise RuntimeError(f"records seen {totals.get('records', 0)} != rows {metrics.rows_in}")
    for reason, n in {**dropped, **problem_rows}.items():
        if problems.get(reason, 0) != n:
            raise RuntimeError(f"{reason}: {n} excluded rows but readers counted {problems}")
    docs = rows.where(F.col("kind") == "doc")
    metrics.distributions["document_chars"] = length_distribution(docs, "text")
    per_crawl = docs.groupBy("crawl").count().collect()
    metrics.extra.update(
        problems=problems,
        files_read=files.count(),
        bytes_read=int(totals.get("bytes", 0)),
        non_conversion=int(totals.get("non_conversion", 0)),
        kept_by_crawl={str(r["crawl"]): r["count"] for r in sorted(per_crawl, key=str)},
    )
