"""The mixture's files: rows cut from their parts in Python (spark_jobs/mix_files.py), stored by
ccmix's Java class through Hadoop's FileSystem (spark_jobs/blob_files.py)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from spark_jobs import blob_files, mix_files, mix_pack

PARTS = pa.schema(
    [
        ("file", pa.int64()),
        ("position", pa.int64()),
        ("source", pa.string()),
        ("epoch", pa.int64()),
        ("piece", pa.binary()),
    ]
)


def parts_batch(rows: list[tuple]) -> pa.RecordBatch:
    """Parts as the job has them: each piece's ids as uint16 bytes (`mix_pack.as_ids16`)."""
    pieces = mix_pack.as_ids16(pa.array([r[-1] for r in rows], pa.list_(pa.int32())))
    columns = [pa.array([r[i] for r in rows], PARTS.field(i).type) for i in range(4)]
    return pa.RecordBatch.from_arrays([*columns, pieces], schema=PARTS)


def files_of(batches: list[pa.RecordBatch], n_ctx: int, n_files: int, group: int) -> dict:
    run = mix_files.file_chunks(n_ctx, n_files, flush_parts=group)
    files: dict[str, bytes] = {}
    for out in run(iter(batches)):
        for chunk in out.to_pylist():
            files[chunk["name"]] = files.get(chunk["name"], b"") + chunk["chunk"]
    return files


def test_rows_span_batches_and_row_groups() -> None:
    """A row whose parts arrive in two Arrow batches is one row; row groups hold whole rows."""
    first = parts_batch([(0, 0, "a", 0, [1, 2]), (0, 1, "a", 0, [3])])
    second = parts_batch([(0, 1, "a", 0, [4]), (0, 2, "b", 1, [5, 6]), (1, 3, "a", 0, [7, 8])])
    files = files_of([first, second], n_ctx=2, n_files=2, group=2)
    table = pq.read_table(io.BytesIO(files["train-00000-of-00002.parquet"]))
    assert table.to_pylist() == [
        {"input_ids": [1, 2], "source": "a", "epoch": 0, "position": 0},
        {"input_ids": [3, 4], "source": "a", "epoch": 0, "position": 1},
        {"input_ids": [5, 6], "source": "b", "epoch": 1, "position": 2},
    ]
    assert table.schema == mix_files.ROWS_ARROW
    meta = pq.ParquetFile(io.BytesIO(files["train-00000-of-00002.parquet"])).metadata
    # Flushed at two parts or more, keeping the last position's parts for the next flush: row 0
    # (row 1 may have more parts to come), then row 1 with the second batch, then row 2 at close.
    groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert groups == [1, 1, 1]
    last = pq.read_table(io.BytesIO(files["train-00001-of-00002.parquet"]))
    assert last.column("input_ids").to_pylist() == [[7, 8]]


def test_ids_cross_as_two_bytes_each_and_come_back() -> None:
    """GPT-2's largest id survives the round trip, and a sliced array reads from its own offset."""
    lists = pa.array([[0, 50256, 1], [], [65535, 7]], pa.list_(pa.int32()))
    packed = mix_pack.as_ids16(lists)
    assert packed.to_pylist()[0] == bytes([0, 0, 0x50, 0xC4, 1, 0])  # little-endian uint16
    assert mix_pack.as_ids16(lists.slice(2)).to_pylist() == [bytes([0xFF, 0xFF, 7, 0])]
    ids, lengths = mix_pack.ids_of(packed.slice(1))
    assert ids.tolist() == [65535, 7] and lengths.tolist() == [0, 2]
    with pytest.raises(ValueError, match="id 65536 does not fit in 16 bits"):
        mix_pack.as_ids16(pa.array([[65536]], pa.list_(pa.int32())))


def test_a_row_of_the_wrong_length_fails_the_task() -> None:
    short = parts_batch([(0, 0, "a", 0, [1, 2]), (0, 1, "a", 0, [3])])
    with pytest.raises(RuntimeError, match="row at position 1 has 1 ids, not 2"):
        files_of([short], n_ctx=2, n_files=1, group=100)


def test_blob_files_writes_each_file_whole_and_overwrites(spark: SparkSession, tmp_path) -> None:
    """What a retried task does: the same names again replace the files, never append."""
    chunks = spark.createDataFrame(
        [("a.bin", b"xy"), ("a.bin", b"z"), ("b.bin", b"q")], "name string, chunk binary"
    ).coalesce(1)  # one partition: a file's chunks consecutive, in this order
    out = tmp_path / "out"
    for _ in range(2):
        blob_files.write(chunks, str(out))
        assert {p.name: p.read_bytes() for p in out.iterdir()} == {"a.bin": b"xyz", "b.bin": b"q"}


@pytest.mark.parametrize("name", ["../escape.bin", ".."])
def test_blob_files_refuses_a_path_for_a_name(spark: SparkSession, tmp_path: Path, name) -> None:
    chunks = spark.createDataFrame([(name, b"x")], "name string, chunk binary")
    with pytest.raises(Exception, match=f"not a file name: {re.escape(name)}"):
        blob_files.write(chunks, str(tmp_path / "out"))
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_spark_hashes_an_int_as_task_keys_expects(spark: SparkSession) -> None:
    """Regression: a Spark whose partitioning hash differs from `_murmur3_int` would send files
    to the wrong tasks (and pile them up again)."""
    values = [*range(-300, 300), 2**31 - 1, -(2**31), 123_456_789]
    df = spark.createDataFrame([(v,) for v in values], "v int")
    theirs = {r.v: r.h for r in df.select("v", F.hash("v").alias("h")).collect()}
    assert theirs == {v: mix_files._murmur3_int(v) for v in values}


@pytest.mark.parametrize("n_files,partitions", [(7, 7), (5, 3)])
def test_each_file_is_one_task_and_tasks_share_files_evenly(
    spark: SparkSession, n_files: int, partitions: int
) -> None:
    """Regression: parts hashed by file number put 3 of 7 files in one task and left 4 empty."""
    parts = spark.range(n_files * 20).select((F.col("id") % n_files).cast("long").alias("file"))
    placed = mix_files.by_file(parts, partitions).select("file", F.spark_partition_id().alias("t"))
    tasks_of = {}
    for r in placed.distinct().collect():
        tasks_of.setdefault(r.file, set()).add(r.t)
    assert tasks_of == {f: {f % partitions} for f in range(n_files)}
