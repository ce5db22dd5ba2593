"""The documents every dataset is turned into, their stable ids, and how a job publishes them.

Jobs that produce documents (extract, ingest_reference) emit one flat row per event (`ROWS`):
a kept document, a dropped one, a file-level problem, a flag on a kept document whose text was
altered or salvaged, or a per-file summary of counts. `publish` writes all of them in one pass,
split by `kind` into `<output>/kind=doc/` (the documents), `kind=dropped/` and `kind=problem/`
(the excluded rows, with reasons), `kind=flag/` (document ids with a reason) and `kind=file/`
(per-file tallies), then derives the metrics from what it wrote, so the counts add up by
construction and are checked against the readers' own tallies.

A problem whose reason is one of the job's `lost_reasons` stands for one record lost below the
document level (a header without its end, a wrong Content-Length, a cut gzip member): it counts
in `rows_in`, `rows_dropped` and `dropped_by_reason` like a dropped document, so that
rows_in = rows_kept + rows_dropped holds over every record the job took in. Readers of a
stage's documents use `read_documents`, which reads `kind=doc` with the `DOCUMENTS` schema.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence

import pyarrow as pa
from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, LongType, MapType, StringType, StructField, StructType

from spark_jobs import fs
from spark_jobs.job import BadInput, Distribution, Metrics

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
# problem, excluded), "flag" (a kept document listed with a reason: text altered or salvaged),
# "file" (one per input file: `counts` of records, bytes and reasons).
ROWS = StructType(
    [StructField("kind", StringType(), False)]
    + [StructField(f.name, f.dataType, True) for f in DOCUMENTS.fields]
    + [
        StructField(f.name, f.dataType, True)
        for f in EXCLUDED.fields
        if f.name not in DOCUMENTS.names
    ]
    + [StructField("counts", MapType(StringType(), LongType()), True)]
    # The text's length in characters where the producer knows it (Python's len() is free), else
    # null. Not written: `publish` measures the documents with it. Spark's length() counts a UTF-8
    # string's characters byte by byte: in the extract job it took half the task thread's time.
    + [StructField("chars", LongType(), True)]
)
# What `publish` writes: ROWS without `chars`.
WRITTEN_ROWS = StructType([f for f in ROWS.fields if f.name != "chars"])

LENGTH_EDGES = (0, 100, 300, 1_000, 3_000, 10_000, 30_000, 100_000, 1_000_000)
DOC_KIND, EXCLUDED_KINDS = "doc", ("dropped", "problem")
# An Arrow batch back to the JVM holds at most ROWS_PER_BATCH rows and about BATCH_TEXT_CHARS of
# text. Small batches keep the Python worker and the JVM busy at once: a task passes a batch on
# only whole, and with 2,048 real documents (about 10 MB) per batch the two mostly took turns.
ROWS_PER_BATCH = 2048
BATCH_TEXT_CHARS = 1 << 20


def kind_path(output: str, kind: str) -> str:
    return fs.join(output, f"kind={kind}")


def make_doc_id(dataset: str, identity: str) -> str:
    """First 32 hex chars of sha256(dataset NUL identity): stable across re-extraction."""
    return hashlib.sha256(f"{dataset}\x00{identity}".encode()).hexdigest()[:32]


def doc_id_column(dataset: str, identity: Column) -> Column:
    """`make_doc_id` as a Spark expression."""
    joined = F.concat(F.lit(f"{dataset}\x00"), identity.cast("string"))
    return F.substring(F.sha2(joined, 256), 1, 32)


_ROW_FIELDS = tuple(ROWS.names[1:])


def row(kind: str, **fields: object) -> tuple:
    """A ROWS tuple; fields not given are null, but `chars` is the length of a `text` string.

    `text` is a string or valid UTF-8 bytes (with `chars` given): the bytes are not checked.
    """
    unknown = fields.keys() - _ROW_FIELDS
    if unknown:
        raise ValueError(f"not ROWS fields: {sorted(unknown)}")
    text = fields.get("text")
    if "chars" not in fields and isinstance(text, str):
        fields["chars"] = len(text)
    return (kind, *[fields.get(name) for name in _ROW_FIELDS])


def rows_to_batches(rows: Iterable[tuple], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """ROWS tuples -> Arrow batches of at most ROWS_PER_BATCH rows and about BATCH_TEXT_CHARS of
    text (bounded memory per task), counted by the rows' `chars` (`row`)."""
    counts, text = schema.names.index("counts"), schema.names.index("text")
    length = schema.names.index("chars")
    pending: list[tuple] = []
    chars = 0
    for item in rows:
        pending.append(item)
        chars += item[length] or 0
        if len(pending) >= ROWS_PER_BATCH or chars >= BATCH_TEXT_CHARS:
            yield _batch(pending, counts, text, schema)
            pending, chars = [], 0
    if pending:
        yield _batch(pending, counts, text, schema)


def _batch(rows: list[tuple], counts: int, text: int, schema: pa.Schema) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True))
    columns[counts] = tuple(None if c is None else list(c.items()) for c in columns[counts])
    # The text as bytes, then seen as strings: a `str` is encoded either way, and bytes are
    # already UTF-8 (`row`), where a string array checks them again (0.17 s against 0.02 s for the
    # extract bench's 187 MB).
    types = [pa.binary() if i == text else f.type for i, f in enumerate(schema)]
    arrays = [pa.array(column, type=types[i]) for i, column in enumerate(columns)]
    arrays[text] = arrays[text].view(pa.string())
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _length_aggregates(length: Column) -> list[Column]:
    """count, sum, min, max and one count per LENGTH_EDGES bucket of `length` (nulls skipped)."""
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


def content_digest(df: DataFrame) -> Column:
    """An aggregate that is the same for the same set of rows, in any order or file layout."""
    total = F.coalesce(F.sum(row_hash(df.columns)), F.lit(0).cast("decimal(38,0)"))
    return F.concat_ws(":", F.count(F.lit(1)).cast("string"), total.cast("string"))


def digest_of(values: Sequence[object]) -> str:
    return hashlib.sha256("\x00".join(str(v) for v in values).encode()).hexdigest()[:32]


def read_documents(
    spark: SparkSession, outputs: Sequence[str], what: str, extra: Sequence[str] = ()
) -> DataFrame:
    """The documents (`DOCUMENTS` columns + `extra`) of stage outputs written by `publish` or
    `write_documents`. `doc_id` and `text` must be there; other missing columns read as null.

    A stage that kept no document has no `kind=doc` folder: it reads as no rows, not an error.
    """
    if not outputs:
        raise BadInput(f"{what}: no input path given")
    missing = [o for o in outputs if not fs.exists(spark, o)]
    if missing:
        raise BadInput(f"{what}: input not found: {', '.join(missing)}")
    fields = [*DOCUMENTS.fields, *(_EXTRA_FIELDS[name] for name in extra)]
    present = [kind_path(o, DOC_KIND) for o in outputs if fs.exists(spark, kind_path(o, DOC_KIND))]
    if not present:
        return spark.createDataFrame([], StructType(fields))
    # Read from one footer on the driver, not by a Spark job; with no data file, Spark's own
    # inference says what is wrong.
    schema = next(filter(None, (fs.parquet_schema(spark, p) for p in present)), None)
    reader = spark.read.schema(schema) if schema else spark.read
    try:
        df = reader.parquet(*map(fs.literal, present))
    except AnalysisException as error:
        reason = (error.getMessage() or str(error)).strip().splitlines()[0]
        raise BadInput(f"{what}: cannot read {', '.join(outputs)}: {reason}") from error
    types = {f.name: f.dataType for f in df.schema.fields}
    for name in ("doc_id", "text"):
        if types.get(name) != StringType():
            raise BadInput(f"{what}: needs column {name} string, has {types}")
    # One SQL list, not a Column per field: each `cast(DataType)` is its own round trip to the
    # JVM. Dedup's warm read of its five datasets took 0.30 s with them, 0.22 s without.
    return df.selectExpr(
        *[
            f"CAST({f'`{f.name}`' if f.name in types else 'NULL'} AS {f.dataType.simpleString()})"
            f" AS `{f.name}`"
            for f in fields
        ]
    )


def write_documents(docs: DataFrame, output: str) -> None:
    """Documents alone, in the layout `read_documents` reads (`<output>/kind=doc/`)."""
    docs.write.mode("overwrite").parquet(kind_path(output, DOC_KIND))


def read_excluded(spark: SparkSession, output: str) -> DataFrame:
    """The excluded rows (`EXCLUDED` columns, with reasons) of one stage output."""
    present = [
        kind_path(output, k) for k in EXCLUDED_KINDS if fs.exists(spark, kind_path(output, k))
    ]
    if not present:
        return spark.createDataFrame([], EXCLUDED)
    return spark.read.schema(EXCLUDED).parquet(*map(fs.literal, present)).select(*EXCLUDED.names)


_EXTRA_FIELDS = {"score": StructField("score", DoubleType(), True)}


def write_by_kind(rows: DataFrame, output: str) -> None:
    """One pass, one folder per `kind`, without sorting each task's rows by kind first.

    Spark's planned write sorts by the partition column; a few writers open at once per task
    (there are at most four kinds) do the same without the sort: measured about 25% faster.
    """
    spark = rows.sparkSession
    spark.conf.set("spark.sql.optimizer.plannedWrite.enabled", "false")
    spark.conf.set("spark.sql.maxConcurrentOutputFileWriters", "8")
    try:
        rows.write.partitionBy("kind").mode("overwrite").parquet(output)
    finally:
        spark.conf.unset("spark.sql.optimizer.plannedWrite.enabled")
        spark.conf.unset("spark.sql.maxConcurrentOutputFileWriters")


def publish(
    rows: DataFrame,
    dataset: str,
    output: str,
    metrics: Metrics,
    problem_reasons: tuple[str, ...],
    lost_reasons: tuple[str, ...] = (),
) -> None:
    """Writes `rows` (ROWS) under `<output>/kind=…/` in one pass, then fills `metrics` from them.

    The rows are computed once, by that write: the documents' lengths and content digest are
    observed on the way to the writer (`observe`), and the counts come from reading back only the
    small columns of what was written (kind, reason, crawl, counts: never the text). The file
    layout follows the input partitions (no shuffle of the text); content is deterministic, and
    `metrics.output_digest` does not depend on the layout. Raises if the rows disagree with the
    readers' per-file counts or with what was observed.
    """
    rows = rows.withColumn("dataset", F.lit(dataset)).select(*ROWS.names)
    is_doc = F.col("kind") == DOC_KIND
    # Measured once per row in a compiled projection: `observe` evaluates its aggregates row by
    # row, uncompiled, and counted a text's characters once per aggregate (a dozen times), which
    # doubled the extract job's time on real-sized files.
    measured = rows.withColumns(
        {
            "_doc_chars": F.when(is_doc, F.coalesce("chars", F.length("text"))),
            "_doc_hash": F.when(is_doc, row_hash(DOCUMENTS.names)),
        }
    )
    observation = Observation()
    observed = measured.observe(
        observation,
        *[a.alias(f"length_{i}") for i, a in enumerate(_length_aggregates(F.col("_doc_chars")))],
        F.sum("_doc_hash").alias("digest_sum"),
    ).drop("_doc_chars", "_doc_hash", "chars")
    write_by_kind(observed, output)
    seen = list(observation.get.values())  # bounded: one row of a dozen aggregates
    written = rows.sparkSession.read.schema(WRITTEN_ROWS).parquet(fs.literal(output))
    _fill_metrics(written, seen[:-1], seen[-1], metrics, problem_reasons, lost_reasons)


def row_hash(columns: Sequence[str]) -> Column:
    """xxhash64 of a row's columns, as a decimal that sums without overflow."""
    return F.xxhash64(*[F.col(c) for c in columns]).cast("decimal(38,0)")


def _fill_metrics(
    rows: DataFrame,
    doc_lengths: list,
    doc_digest_sum: object,
    metrics: Metrics,
    problem_reasons: tuple[str, ...],
    lost_reasons: tuple[str, ...],
) -> None:
    # Counts from the small columns of what was written; `doc_lengths` and `doc_digest_sum` were
    # observed over the text while it was written.
    groups = rows.groupBy("kind", "reason", "crawl").agg(F.count(F.lit(1)))
    groups = groups.collect()  # bounded: one row per (kind, reason, crawl), a few dozen
    count: dict[tuple, int] = {}  # (kind, crawl for documents else reason) -> rows
    for g in groups:
        key = (g["kind"], g["crawl"] if g["kind"] == "doc" else g["reason"])
        count[key] = count.get(key, 0) + g[3]

    def count_of(kind: str) -> dict:
        return {k: n for (c, k), n in sorted(count.items(), key=str) if c == kind}

    kept_by_crawl, problem_rows, flagged = count_of("doc"), count_of("problem"), count_of("flag")
    dropped = count_of("dropped")
    lost = {k: n for k, n in problem_rows.items() if k in lost_reasons}
    for reason, n in lost.items():
        dropped[reason] = dropped.get(reason, 0) + n
    dropped = dict(sorted(dropped.items()))
    totals = {
        r["key"]: int(r["total"])
        for r in rows.where(F.col("kind") == "file")
        .select(F.explode("counts"))
        .groupBy("key")
        .agg(F.sum("value").alias("total"))
        .collect()  # bounded: one row per counter name (a dozen)
    }
    metrics.rows_kept = sum(kept_by_crawl.values())
    metrics.rows_dropped = sum(dropped.values())
    metrics.rows_in = metrics.rows_kept + metrics.rows_dropped
    metrics.dropped_by_reason = dropped
    problems = {k: totals[k] for k in problem_reasons if totals.get(k)}
    records = totals.get("records", 0) + sum(lost.values())
    if records != metrics.rows_in:
        raise RuntimeError(f"records seen and lost {records} != rows {metrics.rows_in}")
    for reason, n in {**count_of("dropped"), **problem_rows, **flagged}.items():
        if problems.get(reason, 0) != n:
            raise RuntimeError(f"{reason}: {n} rows but readers counted {problems}")
    if (doc_lengths[0] or 0) != metrics.rows_kept:
        raise RuntimeError(f"observed {doc_lengths[0]} documents, wrote {metrics.rows_kept}")
    metrics.output_digest = digest_of([metrics.rows_kept, int(doc_digest_sum or 0)])
    metrics.distributions["document_chars"] = _merge_lengths([doc_lengths])
    metrics.extra.update(
        problems=problems,
        files_read=sum(count_of("file").values()),
        bytes_read=totals.get("bytes", 0),
        non_conversion=totals.get("non_conversion", 0),
        lost_records=lost,
        flagged=flagged,
        kept_by_crawl={str(k): n for k, n in kept_by_crawl.items()},
    )
