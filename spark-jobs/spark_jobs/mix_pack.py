"""Tokenize documents and pack them into rows of exactly n_ctx ids, per source and epoch.

- Tokenize: GPT-2 BPE through tiktoken, in Arrow batches (`mapInArrow`); every document is its
  text as ordinary text (a literal `<|endoftext|>` is characters, not id 50256) followed by 50256.
- Order: each epoch orders a source's documents by a seeded hash of (source, epoch, doc_id).
- Offsets: a document's first token offset in its epoch's stream is a prefix sum in that order,
  computed in two levels so no task sees a whole source: the hash is uniform, so documents fall
  into `buckets` contiguous key ranges; bucket totals (a few per 10^4 documents) are summed on the
  driver, and a window inside each bucket adds the documents before it.
- Rows: the stream is cut every n_ctx ids; a document yields one slice per row it overlaps, and
  a row is its slices concatenated in offset order. The partial tail of an epoch is dropped; a
  partial last epoch keeps its first `rows` rows, i.e. the documents that come first in that
  epoch's seeded order (a seeded subset, as training that stops mid-epoch would see).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import (
    BinaryType,
    BooleanType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from spark_jobs.seeded import uniform_col
from spark_jobs.tokenizer import GPT2_EOT, gpt2_encoding

DOCS_PER_BUCKET = 20_000

TOKENIZED = StructType(
    [
        StructField("source", StringType(), False),
        StructField("doc_id", StringType(), False),
        StructField("n_tokens", LongType(), False),
        StructField("ids16", BinaryType(), False),
        StructField("empty", BooleanType(), False),
    ]
)


def encode_texts(enc, texts: list[str | None]) -> tuple[pa.ListArray, np.ndarray]:
    """Each text's ids then EOT, as one Arrow list<int32> column, and the lengths.

    `encode_to_numpy` with no special token allowed or disallowed is `encode_ordinary` (a literal
    "<|endoftext|>" is text) returned as a buffer: no Python int per id.
    """
    eot = np.array([GPT2_EOT], dtype=np.uint32)
    pieces: list[np.ndarray] = []
    for text in texts:
        pieces.append(enc.encode_to_numpy(text or "", allowed_special=set(), disallowed_special=()))
        pieces.append(eot)
    lengths = np.array([len(p) for p in pieces[::2]], dtype=np.int64) + 1
    offsets = np.zeros(len(texts) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.concatenate(pieces).view(np.int32) if pieces else np.zeros(0, dtype=np.int32)
    lists = pa.ListArray.from_arrays(pa.array(offsets), pa.array(ids, type=pa.int32()))
    return lists, lengths


def as_ids16(lists: pa.ListArray) -> pa.BinaryArray:
    """Each list of ids as little-endian uint16 bytes (GPT-2's 50,257 ids fit in two bytes).

    A binary value crosses into the JVM, its cache, a slice and a shuffle as one copy, where an
    array of ints is taken apart and put together again id by id (and takes twice the bytes).
    """
    ids = lists.flatten().to_numpy()  # the array's own values, if it is a slice
    if len(ids) and int(ids.max()) > 0xFFFF:
        raise ValueError(f"id {int(ids.max())} does not fit in 16 bits: not a GPT-2 vocabulary")
    bounds = lists.offsets.to_numpy()
    offsets = ((bounds - bounds[0]) * 2).astype(np.int32)
    data = ids.astype("<u2")
    return pa.BinaryArray.from_buffers(
        pa.binary(), len(lists), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def ids_of(ids16: pa.BinaryArray) -> tuple[np.ndarray, np.ndarray]:
    """`as_ids16`'s values back: all ids end to end as int32, and each value's number of ids."""
    first = ids16.offset
    offsets = np.frombuffer(ids16.buffers()[1], dtype=np.int32)[first : first + len(ids16) + 1]
    start, end = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(ids16.buffers()[2], dtype="<u2", count=(end - start) // 2, offset=start)
    return data.astype(np.int32), np.diff(offsets) // 2


def tokenize_batches(rank_file: str | None):
    """A `mapInArrow` function: (source, doc_id, text) batches -> TOKENIZED batches.

    An empty or null text is kept, flagged `empty` (its ids are the separator alone), so the job
    counts empties from the same pass instead of reading every text once more.
    """

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        enc = gpt2_encoding(_resolve(rank_file))
        for batch in batches:
            texts = batch.column("text").to_pylist()
            lists, lengths = encode_texts(enc, texts)
            empty = pa.array([not text for text in texts], type=pa.bool_())
            columns = [batch.column("source"), batch.column("doc_id"), pa.array(lengths)]
            yield pa.RecordBatch.from_arrays(
                [*columns, as_ids16(lists), empty], schema=TOKENIZED_ARROW
            )

    return run


TOKENIZED_ARROW = to_arrow_schema(TOKENIZED)


def _resolve(rank_file: str | None) -> str | None:
    """A rank file shipped with `SparkContext.addFile` is found by its name on executors."""
    if rank_file and rank_file.startswith("sparkfiles:"):
        from pyspark import SparkFiles

        return SparkFiles.get(rank_file.removeprefix("sparkfiles:"))
    return rank_file


def tokenize(docs: DataFrame, rank_file: str | None) -> DataFrame:
    """(source, doc_id, text) -> TOKENIZED, Python <-> JVM in Arrow batches."""
    return docs.select("source", "doc_id", "text").mapInArrow(
        tokenize_batches(rank_file), TOKENIZED
    )


def epoch_order(thin: DataFrame, epochs: DataFrame, seed: int) -> DataFrame:
    """(source, doc_id, n_tokens) x epochs -> + epoch, key (seeded, uniform in [0, 1)), bucket.

    `epochs` has one row per (source, epoch) with `buckets` (see DOCS_PER_BUCKET).
    """
    tag = F.concat_ws("\x00", "source", F.col("epoch").cast("string"), "doc_id")
    ordered = thin.join(F.broadcast(epochs), "source").withColumn(
        "key", uniform_col(seed, tag, "mix-epoch-order")
    )
    bucket = F.least(F.floor(F.col("key") * F.col("buckets")), F.col("buckets") - 1)
    return ordered.withColumn("bucket", bucket.cast("long"))


def bucket_totals(ordered: DataFrame) -> DataFrame:
    """Tokens per (source, epoch, bucket): the small table the driver prefix-sums."""
    return ordered.groupBy("source", "epoch", "bucket").agg(F.sum("n_tokens").alias("tokens"))


def prefix_bases(totals: list[tuple[str, int, int, int]]) -> list[tuple[str, int, int, int]]:
    """(source, epoch, bucket, tokens) -> (source, epoch, bucket, tokens before the bucket)."""
    bases, running = [], {}
    for source, epoch, bucket, tokens in sorted(totals):
        before = running.get((source, epoch), 0)
        bases.append((source, epoch, bucket, before))
        running[(source, epoch)] = before + tokens
    return bases


def offsets(ordered: DataFrame, bases: DataFrame) -> DataFrame:
    """+ `offset`: the document's first token within its epoch's stream."""
    window = (
        Window.partitionBy("source", "epoch", "bucket")
        .orderBy("key", "doc_id")
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    inside = F.sum("n_tokens").over(window) - F.col("n_tokens")
    joined = ordered.join(F.broadcast(bases), ["source", "epoch", "bucket"])
    return joined.withColumn("offset", F.col("base") + inside)


def spans(with_offsets: DataFrame, n_ctx: int) -> DataFrame:
    """+ first_row, last_row: the rows of the epoch a document overlaps (`rows` taken only)."""
    first = F.expr(f"offset div {int(n_ctx)}")
    last = F.expr(f"(offset + n_tokens - 1) div {int(n_ctx)}")
    return with_offsets.withColumn("first_row", first).withColumn(
        "last_row", F.least(last, F.col("rows") - 1)
    )


def pieces(placed: DataFrame, ids: DataFrame, n_ctx: int) -> DataFrame:
    """Documents with spans + their `ids16` -> (source, epoch, row, part): one part per row a
    document overlaps, `part` = (lo: its first offset in the epoch's stream, piece: its ids in
    that row, as `ids16` bytes)."""
    return (
        placed.where(F.col("first_row") <= F.col("last_row"))
        .join(ids, ["source", "doc_id"])
        .withColumn("row", F.explode(F.sequence("first_row", "last_row")))
        .withColumn("lo", F.greatest(F.col("offset"), F.col("row") * n_ctx))
        .withColumn("hi", F.least(F.col("offset") + F.col("n_tokens"), (F.col("row") + 1) * n_ctx))
        .select(
            "source",
            "epoch",
            "row",
            F.struct(
                "lo",
                F.expr("substring(ids16, (lo - offset) * 2 + 1, (hi - lo) * 2)").alias("piece"),
            ).alias("part"),
        )
    )
