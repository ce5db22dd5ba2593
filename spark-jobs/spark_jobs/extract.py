"""Job `extract`: raw WET files -> documents Parquet (`documents.DOCUMENTS`) + `_excluded/`.

    python -m spark_jobs.extract --input <storage>/raw/CC-MAIN-2019-04 --output OUT \\
        --metrics OUT.json --run-id R [--params-json '{"max_document_chars": 100000}']

Each `--input` is a download inventory (`<root>/raw/<crawl>/inventory-<listId>.parquet`, named
by the run's selection: the files it lists as verified, plus the bytes it kept of quarantined
ones), a WET file, or a folder searched
recursively for `*.warc.wet.gz` / `*.warc.wet` (names starting with `_` or `.` are skipped).
Paths may be local or `s3a://`.

Spark's `binaryFile` source reads the files through Hadoop's FileSystem; each file crosses into
Python as one Arrow record (`mapInArrow`), is parsed by `wet.WetDocuments`, and its rows go back
in Arrow batches. Nothing is shuffled: each task writes the documents of its own files.

Salvage: a file quarantined by the download (its gzip stream ends early or breaks at the source,
after every retry) keeps its bytes under `raw/<crawl>/_quarantine/`. Its complete records are
extracted like any other; each document from it is listed in `kind=flag/` with reason
`salvaged`, and its incomplete tail counts as a dropped record (`truncated_gzip`, ...).
Records lost inside any file (`wet.RECORD_LOSS`) count in rows_in and dropped_by_reason.
Text that is not valid UTF-8 is decoded with U+FFFD, kept, and listed in `kind=flag/` with
reason `invalid_utf8`; texts cut to `max_document_chars` likewise with `too_long`.
"""

from __future__ import annotations

import io
import posixpath
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.pandas.types import to_arrow_schema

from spark_jobs import fs
from spark_jobs.documents import ROWS, make_doc_id, publish, row, rows_to_batches
from spark_jobs.job import BadInput, run_job
from spark_jobs.wet import CONTAINER_PROBLEMS, DOCUMENT_PROBLEMS, RECORD_LOSS, WetDocuments

WET_SUFFIXES = (".warc.wet.gz", ".warc.wet")
CRAWL_ID = r"CC-MAIN-\d{4}-\d{2}"
# Named by the selection (`inventory-<listId>.parquet`): runs sharing a root keep their own.
INVENTORY_NAME = re.compile(r"(?:^|/)inventory(?:-[0-9a-z]+)?\.parquet$")
QUARANTINE_DIR = "/_quarantine/"  # where the download keeps the bytes of a quarantined file
# The session's split size also governs reading back what the job wrote: far below a Parquet
# page it would cut each file into thousands of splits.
MIN_PARTITION_BYTES = 1 << 20


@dataclass(frozen=True)
class ExtractParams:
    max_document_chars: int = 100_000  # longer texts are cut to this many characters (too_long)
    dataset: str = "common_crawl"  # the dataset name in doc ids and rows
    # Spark packs files into tasks up to this many bytes (Spark's maxPartitionBytes): one real
    # WET file (100-160 MiB) per task, many small ones together.
    target_partition_bytes: int = 128 * 1024 * 1024


def inventory_files(spark: SparkSession, inventories: Sequence[str]) -> list[str]:
    """The files (qualified) download inventories list as verified, and the kept bytes of
    quarantined ones.

    Reading the inventory, not the folder, keeps files published for another selection (another
    run sharing the storage root) out of this run. A quarantined file with kept bytes
    (`raw_path` set) is read for salvage. The inventories of one storage root are read in one
    query: a job of many small crawls would otherwise pay a Spark job per crawl.
    """
    by_root: dict[str, list[str]] = {}
    for inventory in inventories:
        qualified = fs.qualify(inventory)
        root = posixpath.dirname(posixpath.dirname(posixpath.dirname(qualified)))
        by_root.setdefault(root, []).append(qualified)
    wanted = "status = 'ok' OR (status = 'quarantined' AND raw_path IS NOT NULL)"
    files = []
    for root, paths in by_root.items():
        listed = spark.read.parquet(*map(fs.literal, paths)).filter(wanted).select("raw_path")
        rows = listed.collect()  # bounded: one short path per WET file (< ~100k per crawl)
        files += [fs.join(root, r.raw_path) for r in rows]
    return files


def list_wet_files(spark: SparkSession, inputs: Sequence[str]) -> list[str]:
    """Every WET file under `inputs`, sorted and unique; BadInput if one is missing or none."""
    found: set[str] = set()
    inventories = []
    for given in inputs:
        if INVENTORY_NAME.search(given) and fs.exists(spark, given):
            # Not checked one by one here (a request per file on S3): the read checks them all,
            # in parallel, and a missing one fails it (`read_wet_files`).
            inventories.append(given)
            continue
        try:
            found.update(f.path for f in fs.list_files(spark, [given], WET_SUFFIXES))
        except FileNotFoundError as error:
            raise BadInput(f"input not found: {given}") from error
    if inventories:
        found.update(inventory_files(spark, inventories))  # joined to a qualified root
    if not found:
        raise BadInput(f"no *.warc.wet[.gz] files under {', '.join(inputs) or '(no --input)'}")
    return sorted(found)


def crawl_of_path(path: str) -> str | None:
    """The crawl id from a `crawl-data/<crawl>/` or `raw/<crawl>/` component, else any component."""
    match = re.search(rf"(?:^|/)(?:crawl-data|raw)/({CRAWL_ID})(?:/|$)", path)
    if match:
        return match.group(1)
    return next((p for p in path.split("/") if re.fullmatch(CRAWL_ID, p)), None)


def extract_file(path: str, content: bytes, params: ExtractParams) -> Iterator[tuple]:
    """ROWS for one WET file: its documents, drops, problems and one `file` summary row.

    A document's `text` is its UTF-8 bytes (which Arrow takes as they are), with `chars` given.
    """
    crawl = crawl_of_path(path)
    salvaged = QUARANTINE_DIR in path
    salvaged_docs = 0
    with io.BytesIO(content) as stream:
        documents = WetDocuments(stream, params.max_document_chars)
        for doc in documents:
            crawl = crawl or documents.crawl
            doc_id = make_doc_id(params.dataset, doc.record_id) if doc.record_id else None
            for reason, detail in doc.flags:
                yield row(
                    "flag",
                    doc_id=doc_id,
                    source_file=path,
                    record_offset=doc.offset,
                    reason=reason,
                    detail=detail,
                )
            if salvaged and not doc.dropped:
                salvaged_docs += 1
                yield row(
                    "flag",
                    doc_id=doc_id,
                    source_file=path,
                    record_offset=doc.offset,
                    reason="salvaged",
                    detail="a complete record of a quarantined file",
                )
            if doc.dropped:
                yield row(
                    "dropped",
                    doc_id=doc_id,
                    source_file=path,
                    record_offset=doc.offset,
                    reason=doc.dropped,
                    detail=doc.url,
                )
                continue
            yield row(
                "doc",
                doc_id=doc_id,
                crawl=crawl,
                url=doc.url,
                date=doc.date,
                lang=doc.lang,
                text=doc.utf8,
                chars=len(doc.text),
            )
        for problem in documents.reader.problems:
            yield row(
                "problem",
                source_file=path,
                record_offset=problem.offset,
                reason=problem.reason,
                detail=problem.detail,
            )
        counts = {**documents.counts, "bytes": documents.reader.bytes_read}
        if salvaged:
            counts["salvaged"] = salvaged_docs
        yield row("file", source_file=path, counts=counts)


def extract_batches(
    batches: Iterator[pa.RecordBatch], params: ExtractParams, schema: pa.Schema
) -> Iterator[pa.RecordBatch]:
    """binaryFile batches (`path`, `content`) -> ROWS batches."""
    for batch in batches:
        columns = [batch.column(c).to_pylist() for c in ("path", "content")]
        for path, content in zip(*columns, strict=True):
            yield from rows_to_batches(extract_file(path, content, params), schema)


def _body(spark, args, params: ExtractParams, metrics) -> None:
    if params.max_document_chars < 0 or params.target_partition_bytes < MIN_PARTITION_BYTES:
        raise BadInput(
            f"max_document_chars must be >= 0 and target_partition_bytes >= {MIN_PARTITION_BYTES}"
        )
    if not params.dataset:
        raise BadInput("dataset must not be empty")
    files = list_wet_files(spark, args.input)
    # One file per Arrow batch: a batch holds whole files, so keep it to one.
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "1")
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(params.target_partition_bytes))
    # Past 32 paths Spark lists them in a job of one task per path (up to 10,000 tasks): on the
    # bench's 128 small files that job cost more than extracting them. One task per core lists
    # the same paths, still spread over a cluster.
    spark.conf.set(
        "spark.sql.sources.parallelPartitionDiscovery.parallelism",
        str(max(1, spark.sparkContext.defaultParallelism)),
    )
    rows = extract_rows(read_wet_files(spark, files), params)
    publish(rows, params.dataset, args.output, metrics, PROBLEM_REASONS, RECORD_LOSS)


def read_wet_files(spark: SparkSession, files: list[str]) -> DataFrame:
    """binaryFile rows (`path`, `content`, ...) of `files`; BadInput naming one that is missing."""
    try:
        return spark.read.format("binaryFile").load([fs.literal(f) for f in files])
    except AnalysisException as error:
        if error.getCondition() != "PATH_NOT_FOUND":
            raise
        missing = (error.getMessageParameters() or {}).get("path", str(error))
        raise BadInput(f"input not found: {missing}") from error


def extract_rows(raw: DataFrame, params: ExtractParams) -> DataFrame:
    """binaryFile rows (`path`, `content`) -> ROWS, file by file in Arrow batches; no shuffle."""
    schema = to_arrow_schema(ROWS)
    return raw.select("path", "content").mapInArrow(
        lambda batches: extract_batches(batches, params, schema), ROWS
    )


PROBLEM_REASONS = (*CONTAINER_PROBLEMS, *DOCUMENT_PROBLEMS, "salvaged")


def main(argv: Sequence[str] | None = None, **session) -> int:
    """`session`: `spark` and `on_error` when run inside the job server (see `run_job`)."""
    return run_job("extract", ExtractParams, _body, argv, description=__doc__ or "", **session)


if __name__ == "__main__":
    raise SystemExit(main())
