"""The job contract's 45 TB rules (spark_jobs/job.py), checked where a test can check them: in the
sources of every job, and in the physical plans of the jobs' data paths."""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_jobs import extract, fs, mix_files, mix_pack, quality_filter
from spark_jobs.documents import DOCUMENTS, read_documents, write_documents
from spark_jobs.job import side_by_side
from spark_jobs.train_classifier import TrainParams, build_pipeline

PACKAGE = Path(extract.__file__).resolve().parent
SOURCES = sorted(p for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
DRIVER_ONLY = {"server.py", "spark_session.py", "fs.py"}  # no executor code in these


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_no_single_task_step(path: Path) -> None:
    """Rule 1: a `coalesce(1)` or `repartition(1)` funnels a whole dataset through one task."""
    for number, line in enumerate(lines_of(path), 1):
        assert not re.search(r"\.(coalesce|repartition)\(\s*1\s*[,)]", line), (
            f"{path.name}:{number}"
        )


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_every_collect_says_why_it_is_bounded(path: Path) -> None:
    """Rule 2: only small results reach the driver, and the collecting line says why."""
    lines = lines_of(path)
    for index, line in enumerate(lines):
        if re.search(
            r"\.(collect|toPandas|toLocalIterator)\(\)", line
        ) and not line.lstrip().startswith("#"):
            assert "# bounded:" in line, f"{path.name}:{index + 1}: {line.strip()}"


@pytest.mark.parametrize(
    "path", [p for p in SOURCES if p.name not in DRIVER_ONLY], ids=lambda p: p.name
)
def test_executors_never_open_paths(path: Path) -> None:
    """Rule 5: files are read by Spark's sources through Hadoop's FileSystem, never `open()`."""
    for number, line in enumerate(lines_of(path), 1):
        assert not re.search(r"(?<![.\w`])open\(", line), f"{path.name}:{number}: {line.strip()}"


# PySpark's higher-order functions, each of which takes a Python function of Columns.
HIGHER_ORDER = "transform|filter|aggregate|reduce|exists|forall|zip_with|transform_keys"
HIGHER_ORDER += "|transform_values|map_filter|map_zip_with"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_higher_order_functions_are_sql_text(path: Path) -> None:
    """Rule 8: PySpark names a Python lambda's variable afresh in every query, and the name goes
    into the generated code, which a long-lived driver then compiles again in every run
    (test_dedup.py checks a second run of dedup compiles nothing)."""
    for number, line in enumerate(lines_of(path), 1):
        assert not re.search(rf"\bF\.({HIGHER_ORDER})\(", line), f"{path.name}:{number}"


def exchanges(df: DataFrame) -> list[str]:
    plan = df._jdf.queryExecution().executedPlan().toString()
    return [line.strip() for line in plan.splitlines() if "Exchange" in line]


def test_extraction_plan_has_no_shuffle(spark: SparkSession, tmp_path: Path) -> None:
    """Rules 1 and 4: files -> Arrow batches -> rows, each task on its own files, no exchange."""
    (tmp_path / "a.warc.wet").write_bytes(b"")
    raw = spark.read.format("binaryFile").load(str(tmp_path / "a.warc.wet"))
    rows = extract.extract_rows(raw, extract.ExtractParams())
    assert exchanges(rows) == []
    assert "MapInArrow" in rows._jdf.queryExecution().executedPlan().toString()


def test_documents_are_read_with_no_spark_job_of_their_own(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Their schema comes from one footer on the driver, the schema Spark itself would infer:
    for pyarrow's files (no Spark schema inside) and Spark's own, beside `_SUCCESS` and
    hidden files; a folder with no data file leaves the question to Spark."""
    by_pyarrow = tmp_path / "pa" / "kind=doc"
    by_pyarrow.mkdir(parents=True)
    for name in ("_SUCCESS", ".staging-note"):
        (by_pyarrow / name).write_bytes(b"")
    table = {"doc_id": ["a"], "text": ["x"], "score": [0.5], "n": pa.array([3], pa.int16())}
    pq.write_table(pa.table(table), by_pyarrow / "part-0.parquet")
    by_spark = tmp_path / "spark"
    docs = [("b", "common_crawl", None, None, None, None, "y")]
    write_documents(spark.createDataFrame(docs, DOCUMENTS), str(by_spark))
    only_marker = tmp_path / "marker"
    only_marker.mkdir()
    (only_marker / "_SUCCESS").write_bytes(b"")

    for folder in (by_pyarrow, by_spark / "kind=doc"):
        given = spark.read.schema(fs.parquet_schema(spark, str(folder))).parquet(str(folder))
        assert given.schema == spark.read.parquet(str(folder)).schema
    assert fs.parquet_schema(spark, str(only_marker)) is None
    tracker, group = spark.sparkContext.statusTracker(), "read-documents-probe"
    spark.sparkContext.setJobGroup(group, "jobs that reading documents starts")
    try:
        read = read_documents(spark, [str(tmp_path / "pa"), str(by_spark)], "probe", ("score",))
        assert tracker.getJobIdsForGroup(group) == []
        # Columns the first footer lacks read as nulls under their own names, not "CAST(NULL …)".
        assert read.columns == [*DOCUMENTS.names, "score"]
        assert sorted(r.doc_id for r in read.collect()) == ["a", "b"]
        assert len(tracker.getJobIdsForGroup(group)) > 0  # the group does see jobs
    finally:
        for name in ("spark.jobGroup.id", "spark.job.description"):
            spark.sparkContext.setLocalProperty(name, None)


def test_filter_plan_has_no_single_partition_exchange(spark: SparkSession, tmp_path: Path) -> None:
    """The quality filter scores each partition where it lies: no exchange over the documents."""
    docs = spark.createDataFrame(
        [(f"d{i}", "common_crawl", None, None, None, None, f"words {i}") for i in range(8)],
        DOCUMENTS,
    )
    write_documents(docs, str(tmp_path / "docs"))
    training = spark.createDataFrame(
        [("good words", 1.0), ("bad", 0.0)], "text string, label double"
    )
    model = build_pipeline(TrainParams(num_features=64, max_iter=2)).fit(training)
    read = spark.read.parquet(str(tmp_path / "docs" / "kind=doc"))
    decided = quality_filter.score_and_decide(read, model, quality_filter.FilterParams())
    assert [e for e in exchanges(decided) if "SinglePartition" in e] == []
    assert exchanges(decided.where(F.col("reason").isNull())) == []


def test_packed_ids_cross_one_exchange(spark: SparkSession) -> None:
    """Mix: a row's parts cross the one exchange that gives each output file its own task, and
    are concatenated in offset order whatever order they arrive in."""
    rows = [
        (0, 1, "web", 0, 7, [70, 71]),
        (0, 1, "web", 0, 2, [20]),
        (0, 0, "books", 0, 0, [1, 2, 3]),
        (0, 2, "wiki", 0, 0, [5, 6, 7]),
        (0, 3, "news", 0, 3, [9, 10]),
        (0, 3, "news", 0, 0, [8]),
        (1, 4, "books", 1, 4, [11, 12, 13]),
    ]
    pieces = mix_pack.as_ids16(pa.array([r[-1] for r in rows], pa.list_(pa.int32()))).to_pylist()
    parts = spark.createDataFrame(
        [(*r[:4], (r[4], piece)) for r, piece in zip(rows, pieces, strict=True)],
        "file long, position long, source string, epoch long, part struct<lo: long, piece: binary>",
    )
    chunks = mix_files.chunks(parts, n_ctx=3, n_files=2, partitions=2)
    assert len(exchanges(chunks)) == 1
    placed = chunks.withColumn("task", F.spark_partition_id()).collect()  # bounded: a few chunks
    files: dict[str, bytes] = {}
    for chunk in placed:
        files[chunk.name] = files.get(chunk.name, b"") + chunk.chunk
    assert sorted(files) == ["train-00000-of-00002.parquet", "train-00001-of-00002.parquet"]
    rows = pa.concat_tables(pq.read_table(io.BytesIO(files[n])) for n in sorted(files))
    assert {r["position"]: r["input_ids"] for r in rows.to_pylist()} == {
        0: [1, 2, 3],
        1: [20, 70, 71],
        2: [5, 6, 7],
        3: [8, 9, 10],
        4: [11, 12, 13],
    }
    assert rows.column("source").to_pylist() == ["books", "web", "wiki", "news", "books"]
    for name in files:
        assert len({c.task for c in placed if c.name == name}) == 1, name


def test_side_by_side_runs_at_once_in_the_callers_job_group(spark: SparkSession) -> None:
    """Dedup's output writes: the actions overlap (a barrier both must reach), their Spark jobs
    stay in the caller's job group (what the job server's progress and cancel follow), and a
    failure reaches the caller once every action has ended."""
    sc, group = spark.sparkContext, "side-by-side-test"
    both_started = threading.Barrier(2, timeout=20)
    ended: list[str] = []

    def count() -> None:
        both_started.wait()
        spark.range(1000).count()
        ended.append("count")

    def fail() -> None:
        both_started.wait()
        spark.range(10).count()
        raise ValueError("second action failed")

    sc.setJobGroup(group, "test")
    try:
        with pytest.raises(ValueError, match="second action failed"):
            side_by_side(spark, [count, fail])
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    assert ended == ["count"]
    assert len(sc.statusTracker().getJobIdsForGroup(group)) >= 2
