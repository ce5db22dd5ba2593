"""The mixture's output files, made in Python and stored by the JVM.

Spark's Parquet writer takes a list column apart value by value: at 64 MB of text, writing the
ids cost about a third of tiktoken's time for the same text. pyarrow writes whole buffers. So the
rows of each output file are cut from its parts here (`file_chunks`, a `mapInArrow` function),
written as Parquet into memory one row group at a time, and handed back as byte chunks in order;
`spark_jobs.blob_files` appends them to the file through Hadoop's FileSystem, as every other
output goes (local disks and `s3a://` alike).

A file's bytes depend only on its rows, so a retried or speculative task writes the same file
again; the stage's own commit (the job's `_SUCCESS`) says when all of them are in place.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import BinaryType, IntegerType, StringType, StructField, StructType

from spark_jobs import mix_pack

# Parts buffered before a row group is written: a row group has at most as many rows (a row has
# one part per document it holds), 64 MiB of ids at n_ctx 2048.
FLUSH_PARTS = 8192

#: What a training job reads: the ids, and where each row comes from and stands.
ROWS_ARROW = pa.schema(
    [
        pa.field("input_ids", pa.list_(pa.field("element", pa.int32()))),
        pa.field("source", pa.string(), False),
        pa.field("epoch", pa.int32()),
        pa.field("position", pa.int64()),
    ]
)

#: `file_chunks`' output: a file's name, the next bytes of it, and the id range of its rows.
FILE_CHUNKS = StructType(
    [
        StructField("name", StringType(), False),
        StructField("chunk", BinaryType(), False),
        StructField("min_id", IntegerType(), True),
        StructField("max_id", IntegerType(), True),
    ]
)
FILE_CHUNKS_ARROW = to_arrow_schema(FILE_CHUNKS)


def file_name(index: int, n_files: int) -> str:
    return f"train-{index:05d}-of-{n_files:05d}.parquet"


@dataclass
class _OpenFile:
    """One output file being written: its Parquet writer into memory and the parts not yet cut."""

    name: str
    sink: io.BytesIO = field(default_factory=io.BytesIO)
    writer: pq.ParquetWriter | None = None
    parts: list[pa.RecordBatch] = field(default_factory=list)


class _Cutter:
    """Cuts sorted parts into rows of n_ctx ids and writes them, one row group at a time."""

    def __init__(self, n_ctx: int, n_files: int, flush_parts: int) -> None:
        self.n_ctx, self.n_files, self.flush_parts = n_ctx, n_files, flush_parts
        self.open: _OpenFile | None = None

    def add(self, file: int, parts: pa.RecordBatch) -> Iterator[tuple]:
        name = file_name(file, self.n_files)
        if self.open is not None and self.open.name != name:
            yield from self.close()
        if self.open is None:
            self.open = _OpenFile(name)
        self.open.parts.append(parts)
        if sum(p.num_rows for p in self.open.parts) >= self.flush_parts:
            yield from self._flush(final=False)

    def close(self) -> Iterator[tuple]:
        if self.open is None:
            return
        yield from self._flush(final=True)
        opened, self.open = self.open, None
        if opened.writer is not None:
            opened.writer.close()
        tail = opened.sink.getvalue()
        if tail:
            yield (opened.name, tail, None, None)

    def _flush(self, final: bool) -> Iterator[tuple]:
        opened = self.open
        assert opened is not None
        parts = pa.Table.from_batches(opened.parts).combine_chunks()
        positions = parts.column("position").to_numpy()
        if len(positions) == 0:
            opened.parts = []
            return
        # The last position may have parts still to come, unless the file is complete.
        done = len(positions) if final else int(np.searchsorted(positions, positions[-1]))
        rest = parts.slice(done)
        opened.parts = rest.to_batches() if rest.num_rows else []
        if done == 0:
            return
        table, min_id, max_id = self._rows(parts.slice(0, done))
        if opened.writer is None:
            opened.writer = pq.ParquetWriter(
                opened.sink,
                ROWS_ARROW,
                compression="zstd",
                use_dictionary=["source"],
                write_statistics=["source", "epoch", "position"],
            )
        opened.writer.write_table(table, row_group_size=len(table))
        chunk = opened.sink.getvalue()
        opened.sink.seek(0)
        opened.sink.truncate()
        yield (opened.name, chunk, min_id, max_id)

    def _rows(self, parts: pa.Table) -> tuple[pa.Table, int, int]:
        """Parts sorted by (position, lo), whole rows only -> the rows' table and id range."""
        positions = parts.column("position").to_numpy()
        is_first = np.r_[True, positions[1:] != positions[:-1]]
        starts = np.flatnonzero(is_first)
        ids, lengths = mix_pack.ids_of(parts.column("piece").combine_chunks())
        per_row = np.add.reduceat(lengths, starts)
        if (per_row != self.n_ctx).any():
            bad = int(np.flatnonzero(per_row != self.n_ctx)[0])
            raise RuntimeError(
                f"row at position {positions[starts[bad]]} has {per_row[bad]} ids, not {self.n_ctx}"
            )
        offsets = pa.array(np.arange(len(starts) + 1, dtype=np.int32) * self.n_ctx)
        firsts = parts.filter(pa.array(is_first))  # each row's first part names its row
        table = pa.Table.from_arrays(
            [
                pa.ListArray.from_arrays(offsets, pa.array(ids)).cast(
                    ROWS_ARROW.field("input_ids").type
                ),
                firsts.column("source"),
                firsts.column("epoch").cast(pa.int32()),
                firsts.column("position").cast(pa.int64()),
            ],
            schema=ROWS_ARROW,
        )
        return table, int(ids.min()), int(ids.max())


def file_chunks(n_ctx: int, n_files: int, flush_parts: int = FLUSH_PARTS):
    """A `mapInArrow` function: parts (file, position, source, epoch, piece), sorted by file,
    position and the part's offset within each partition, every part of a file in one partition
    -> FILE_CHUNKS: each file's Parquet bytes in order, one chunk per row group and the footer."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        cutter = _Cutter(n_ctx, n_files, flush_parts)

        def chunks() -> Iterator[tuple]:
            for batch in batches:
                files = batch.column("file").to_numpy()
                edges = np.flatnonzero(np.r_[True, files[1:] != files[:-1]]).tolist()
                for lo, hi in zip(edges, edges[1:] + [len(files)], strict=True):
                    yield from cutter.add(int(files[lo]), batch.slice(lo, hi - lo))
            yield from cutter.close()

        for name, chunk, min_id, max_id in chunks():
            yield pa.RecordBatch.from_pylist(
                [{"name": name, "chunk": chunk, "min_id": min_id, "max_id": max_id}],
                schema=FILE_CHUNKS_ARROW,
            )

    return run


def _murmur3_int(value: int, seed: int = 42) -> int:
    """Spark's Murmur3_x86_32.hashInt: the hash that its hash partitioning applies to an int."""

    def rotl(x: int, r: int) -> int:
        return ((x << r) | (x >> (32 - r))) & 0xFFFFFFFF

    k = (rotl((value & 0xFFFFFFFF) * 0xCC9E2D51 & 0xFFFFFFFF, 15) * 0x1B873593) & 0xFFFFFFFF
    h = (rotl(seed ^ k, 13) * 5 + 0xE6546B64) & 0xFFFFFFFF
    h ^= 4
    h = ((h ^ (h >> 16)) * 0x85EBCA6B) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    return h - (1 << 32) if h >= 1 << 31 else h


def task_keys(partitions: int) -> list[int]:
    """For each task t < partitions, the smallest int that Spark's hash partitioning sends to t."""
    keys: dict[int, int] = {}
    candidate = 0
    while len(keys) < partitions:
        keys.setdefault(_murmur3_int(candidate) % partitions, candidate)
        candidate += 1
    return [keys[t] for t in range(partitions)]


def by_file(parts: DataFrame, partitions: int) -> DataFrame:
    """`parts` repartitioned so that file i is task i % partitions's, whole.

    Hashing the file number itself would not do: with as many tasks as files, a hash leaves about
    a third of the tasks empty and gives others several files (6 of 2,930 at paper scale), and
    the stage lasts as long as its busiest task. So each file is given the key that lands on its
    own task.
    """
    keys = F.array(*[F.lit(k) for k in task_keys(partitions)])
    task = F.element_at(keys, (F.col("file") % partitions + 1).cast("int"))
    return parts.repartition(partitions, task)


def chunks(parts: DataFrame, n_ctx: int, n_files: int, partitions: int) -> DataFrame:
    """Parts (file, position, source, epoch, part: (lo, piece)) -> FILE_CHUNKS of every file.

    The parts cross one exchange, which gives each file to one task (`by_file`), and are sorted
    there by position and offset: a file's rows are then its parts' ids end to end, cut every
    n_ctx.
    """
    local = parts.select(
        "file", "position", "source", "epoch", F.col("part.lo").alias("lo"), "part.piece"
    )
    local = by_file(local, partitions).sortWithinPartitions("file", "position", "lo")
    return local.drop("lo").mapInArrow(file_chunks(n_ctx, n_files), FILE_CHUNKS)
