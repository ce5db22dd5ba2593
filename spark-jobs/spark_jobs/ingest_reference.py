"""Job `ingest_reference`: one reference corpus -> documents Parquet + `_excluded/`.

    python -m spark_jobs.ingest_reference --input reference/webtext2 --output OUT \\
        --metrics OUT.json --run-id R --params-json '{"dataset": "webtext2", "format": "jsonl"}'

Formats: `jsonl` (`*.jsonl`, `*.json`, `*.jsonl.gz`; one object a line with `text`), `parquet`
(a `text` column) and `text` (every `*.txt` file is one document). The doc id comes from the
record's `id` field when present, else from `<file name>:<line or row index>` (text: the file's
path relative to its input folder). Dropped with a reason: `empty`, `invalid_json`,
`missing_text`; kept and listed by doc id in `kind=flag/`: `invalid_utf8` (each invalid sequence
decoded as U+FFFD; jsonl and text formats), `too_long` (cut); counted: `blank_line`.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema

from spark_jobs import fs
from spark_jobs.documents import ROWS, doc_id_column, make_doc_id, publish, row, rows_to_batches
from spark_jobs.job import BadInput, run_job

FORMATS = {"jsonl": (".jsonl", ".json", ".jsonl.gz"), "text": (".txt",), "parquet": (".parquet",)}
PROBLEM_REASONS = (
    "empty",
    "invalid_json",
    "missing_text",
    "invalid_utf8",
    "too_long",
    "blank_line",
    "truncated_gzip",
    "corrupt_gzip",
)


@dataclass(frozen=True)
class IngestParams:
    dataset: str = ""  # required: webtext2 | books1 | books2 | wikipedia (any [a-z0-9_]+)
    format: str = "jsonl"  # jsonl | parquet | text
    text_field: str = "text"  # jsonl / parquet field holding the text
    id_field: str = "id"  # the record's own id; absent or null -> "<file>:<index>"
    max_document_chars: int = 0  # 0 keeps whole texts; > 0 cuts longer ones (too_long)


def list_files(
    spark: SparkSession, inputs: Sequence[str], suffixes: tuple[str, ...]
) -> list[fs.ListedFile]:
    """Every matching file, sorted by path; BadInput if none."""
    try:
        found = fs.list_files(spark, inputs, suffixes)
    except FileNotFoundError as error:
        raise BadInput(f"input not found: {error}") from error
    if not found:
        raise BadInput(f"no {'/'.join(suffixes)} files under {', '.join(inputs) or '(no --input)'}")
    return found


def _decode(raw: bytes, counts: Counter[str], flags: list[tuple[str, str]]) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        counts["invalid_utf8"] += 1
        flags.append(("invalid_utf8", f"first invalid byte at {error.start}"))
        return raw.decode("utf-8", errors="replace")


def _record(
    params: IngestParams,
    path: str,
    index: int,
    identity: str,
    text: object,
    counts: Counter[str],
    flags: list[tuple[str, str]],
) -> Iterator[tuple]:
    """The record's row, after a `flag` row for each way its text was altered."""
    counts["records"] += 1
    doc_id = make_doc_id(params.dataset, identity)
    reason = "missing_text" if not isinstance(text, str) else "empty" if not text.strip() else ""
    if not reason and params.max_document_chars and len(text) > params.max_document_chars:
        counts["too_long"] += 1
        flags.append(("too_long", f"{len(text)} characters cut to {params.max_document_chars}"))
        text = text[: params.max_document_chars]
    for flag, detail in flags:
        yield row(
            "flag", doc_id=doc_id, source_file=path, record_offset=index, reason=flag, detail=detail
        )
    if reason:
        counts[reason] += 1
        yield row("dropped", doc_id=doc_id, source_file=path, record_offset=index, reason=reason)
        return
    yield row("doc", doc_id=doc_id, text=text)


def read_file(path: str, name: str, content: bytes, params: IngestParams) -> Iterator[tuple]:
    """ROWS for one jsonl or text file, ending with its `file` summary row."""
    counts: Counter[str] = Counter()
    if params.format == "text":
        counts["bytes"] = len(content)
        flags: list[tuple[str, str]] = []
        text = _decode(content, counts, flags)
        yield from _record(params, path, 0, name, text, counts, flags)
    else:
        yield from _jsonl_records(path, name, content, params, counts)
    yield row("file", source_file=path, counts=dict(counts))


def _jsonl_records(
    path: str, name: str, content: bytes, params: IngestParams, counts: Counter[str]
) -> Iterator[tuple]:
    """ROWS of a jsonl file's records. A damaged `.gz` keeps the records before the damage and
    ends with a problem row saying where (`truncated_gzip`, `corrupt_gzip`)."""
    raw = io.BytesIO(content)
    index = -1
    try:
        with gzip.GzipFile(fileobj=raw) if path.endswith(".gz") else raw as stream:
            for index, line in enumerate(stream):
                counts["bytes"] += len(line)
                if not line.strip():
                    counts["blank_line"] += 1
                    continue
                flags: list[tuple[str, str]] = []
                try:
                    obj = json.loads(_decode(line, counts, flags))
                except json.JSONDecodeError as error:
                    counts["records"] += 1
                    counts["invalid_json"] += 1
                    counts["invalid_utf8"] -= len(flags)  # the line is dropped as a whole
                    yield row(
                        "dropped",
                        source_file=path,
                        record_offset=index,
                        reason="invalid_json",
                        detail=str(error)[:200],
                    )
                    continue
                obj = obj if isinstance(obj, dict) else {}
                own_id = obj.get(params.id_field)
                identity = f"{name}:{index}" if own_id is None else str(own_id)
                text = obj.get(params.text_field)
                yield from _record(params, path, index, identity, text, counts, flags)
    except (EOFError, OSError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        reason = "truncated_gzip" if isinstance(error, EOFError) else "corrupt_gzip"
        counts[reason] += 1
        detail = f"after line {index + 1}: {error}"[:200]
        yield row(
            "problem", source_file=path, record_offset=index + 1, reason=reason, detail=detail
        )


def parquet_rows(
    spark: SparkSession, files: list[fs.ListedFile], params: IngestParams
) -> DataFrame:
    """ROWS of Parquet inputs (`list_files`), computed in Spark. A row without an id is named by
    its file's path below the input and its index: the file's name alone is not unique
    (`train/part-0.parquet` and `validation/part-0.parquet`)."""
    df = spark.read.parquet(*[fs.literal(f.path) for f in files])
    if params.text_field not in df.columns:
        raise BadInput(
            f"no {params.text_field!r} column in {files[0].path} (columns: {df.columns})"
        )
    # Joined on the file's URI: `_metadata.file_path` is percent-encoded (a space is `%20`).
    names = spark.createDataFrame(
        [(f.uri, f.path, f.relative) for f in files], "_uri string, _path string, _name string"
    )
    df = df.select("*", "_metadata").join(
        F.broadcast(names), F.col("_metadata.file_path") == F.col("_uri"), "left"
    )
    unlisted = F.concat(F.lit("ingest_reference: a file it did not list: "), "_metadata.file_path")
    name = F.coalesce(F.col("_name"), F.raise_error(unlisted))
    position = F.concat_ws(":", name, "_metadata.row_index")
    own_id = F.col(params.id_field).cast("string") if params.id_field in df.columns else None
    identity = position if own_id is None else F.coalesce(own_id, position)
    text = F.col(params.text_field).cast("string")
    empty = text.isNull() | text.rlike(r"(?U)^\s*$")
    limit = params.max_document_chars
    cut = F.lit(False) if not limit else F.length(text) > limit
    base = df.select(
        F.when(empty, "dropped").otherwise("doc").alias("kind"),
        doc_id_column(params.dataset, identity).alias("doc_id"),
        F.when(cut, F.substring(text, 1, limit or 1)).otherwise(text).alias("text"),
        F.col("_path").alias("source_file"),
        F.col("_metadata.row_index").alias("record_offset"),
        F.when(empty, "empty").alias("reason"),
        F.col("_metadata.file_size").alias("size"),
        cut.alias("cut"),
    )
    is_doc = F.col("kind") == "doc"
    per_file = {
        "records": F.count(F.lit(1)),
        "empty": F.sum((~is_doc).cast("long")),
        "too_long": F.sum((F.col("cut") & is_doc).cast("long")),
        "bytes": F.first("size"),
    }
    pairs = [part for key, value in per_file.items() for part in (F.lit(key), value)]
    files_df = base.groupBy("source_file").agg(F.create_map(*pairs).alias("counts"))

    def shaped(df: DataFrame, kind: str | None) -> DataFrame:
        return df.select(
            *[
                (
                    F.lit(kind)
                    if c == "kind" and kind
                    else F.col(c)
                    if c in df.columns
                    else F.lit(None)
                )
                .cast(ROWS[c].dataType)
                .alias(c)
                for c in ROWS.names
            ]
        )

    return shaped(base, None).unionByName(shaped(files_df, "file"))


def _body(spark: SparkSession, args, params: IngestParams, metrics) -> None:
    if not re.fullmatch(r"[a-z0-9_]+", params.dataset):
        raise BadInput(f"dataset must be a name like webtext2, got {params.dataset!r}")
    if params.format not in FORMATS:
        raise BadInput(f"format must be one of {', '.join(FORMATS)}, got {params.format!r}")
    if params.max_document_chars < 0:
        raise BadInput("max_document_chars must be >= 0")
    files = list_files(spark, args.input, FORMATS[params.format])
    if params.format == "parquet":
        rows = parquet_rows(spark, files, params)
    else:
        names = spark.createDataFrame(
            [(f.path, f.relative) for f in files], "path string, name string"
        )
        # One whole file per Arrow batch (a book or a jsonl shard); files over 2 GiB must be split.
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "1")
        raw = spark.read.format("binaryFile").load([fs.literal(f.path) for f in files])
        raw = raw.join(names.hint("broadcast"), "path").select("path", "name", "content")
        schema = to_arrow_schema(ROWS)
        rows = raw.mapInArrow(lambda batches: read_batches(batches, params, schema), ROWS)
    publish(rows, params.dataset, args.output, metrics, PROBLEM_REASONS)


def read_batches(
    batches: Iterator[pa.RecordBatch], params: IngestParams, schema: pa.Schema
) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        columns = [batch.column(c).to_pylist() for c in ("path", "name", "content")]
        for path, name, content in zip(*columns, strict=True):
            yield from rows_to_batches(read_file(path, name, content, params), schema)


def main(argv: Sequence[str] | None = None, **session) -> int:
    """`session`: `spark` and `on_error` when run inside the job server (see `run_job`)."""
    return run_job(
        "ingest_reference", IngestParams, _body, argv, description=__doc__ or "", **session
    )


if __name__ == "__main__":
    raise SystemExit(main())
