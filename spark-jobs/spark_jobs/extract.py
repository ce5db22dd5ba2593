"""Job `extract`: raw WET files -> documents Parquet (`documents.DOCUMENTS`) + `_excluded/`.

    python -m spark_jobs.extract --input <storage>/raw/CC-MAIN-2019-04 --output OUT \\
        --metrics OUT.json --run-id R [--params-json '{"max_document_chars": 100000}']

Each `--input` is a WET file or a folder searched recursively for `*.warc.wet.gz` / `*.warc.wet`
(names starting with `_` or `.` are skipped). The sorted file list is distributed and every
task streams its files through `wet.WetDocuments`; the dataset itself is never collected.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from spark_jobs.documents import ROWS, make_doc_id, publish, row
from spark_jobs.job import BadInput, run_job
from spark_jobs.wet import CONTAINER_PROBLEMS, DOCUMENT_PROBLEMS, WetDocuments

WET_SUFFIXES = (".warc.wet.gz", ".warc.wet")
CRAWL_ID = r"CC-MAIN-\d{4}-\d{2}"


@dataclass(frozen=True)
class ExtractParams:
    max_document_chars: int = 100_000  # longer texts are cut to this many characters (too_long)
    dataset: str = "common_crawl"  # the dataset name in doc ids and rows
    # Spark tasks (and output Parquet files) take consecutive WET files up to this many bytes:
    # one real WET file (100-160 MiB) per task, many small ones together. From the inputs
    # alone, so the layout does not depend on the master or the machine.
    target_partition_bytes: int = 128 * 1024 * 1024


INVENTORY_NAME = "inventory.parquet"


def inventory_files(spark, inventory: str) -> list[str]:
    """The files a download inventory lists as verified (`<root>/raw/<crawl>/inventory.parquet`).

    Reading the inventory, not the folder, keeps files published for another selection (another
    run sharing the storage root) out of this run. Only the file list is collected, never data.
    """
    root = os.path.dirname(os.path.dirname(os.path.dirname(inventory)))
    rows = spark.read.parquet(inventory).filter("status = 'ok'").select("raw_path").collect()
    return [os.path.join(root, r.raw_path) for r in rows]


def list_wet_files(inputs: Sequence[str], spark=None) -> list[str]:
    """Every WET file under `inputs`, sorted and unique; BadInput if one is missing or none.

    An input may be a WET file, a folder searched recursively, or a download inventory.
    """
    found: set[str] = set()
    for given in inputs:
        path = os.path.abspath(given.removeprefix("file://"))
        if path.endswith(INVENTORY_NAME) and os.path.exists(path) and spark is not None:
            listed = inventory_files(spark, path)
            missing = [f for f in listed if not os.path.isfile(f)]
            if missing:
                raise BadInput(f"{len(missing)} inventoried file(s) missing, e.g. {missing[0]}")
            found.update(listed)
        elif os.path.isfile(path):
            found.add(path)
        elif os.path.isdir(path):
            for folder, dirs, names in os.walk(path):
                dirs[:] = [d for d in dirs if not d.startswith(("_", "."))]
                found.update(
                    os.path.join(folder, n)
                    for n in names
                    if n.endswith(WET_SUFFIXES) and not n.startswith(("_", "."))
                )
        else:
            raise BadInput(f"input not found: {given}")
    if not found:
        raise BadInput(f"no *.warc.wet[.gz] files under {', '.join(inputs) or '(no --input)'}")
    return sorted(found)


def group_files(files: Sequence[str], target_bytes: int) -> list[list[str]]:
    """Consecutive files (in sorted order) grouped until a group reaches `target_bytes`."""
    groups: list[list[str]] = []
    size = 0
    for path in files:
        if not groups or size >= target_bytes:
            groups.append([])
            size = 0
        groups[-1].append(path)
        size += os.path.getsize(path)
    return groups


def crawl_of_path(path: str) -> str | None:
    """The crawl id from a `crawl-data/<crawl>/` or `raw/<crawl>/` component, else any component."""
    match = re.search(rf"(?:^|/)(?:crawl-data|raw)/({CRAWL_ID})(?:/|$)", path)
    if match:
        return match.group(1)
    return next((p for p in path.split("/") if re.fullmatch(CRAWL_ID, p)), None)


def extract_file(path: str, params: ExtractParams) -> Iterator[tuple]:
    """ROWS for one WET file: its documents, drops, problems and one `file` summary row."""
    crawl = crawl_of_path(path)
    with open(path, "rb") as stream:
        documents = WetDocuments(stream, params.max_document_chars)
        for doc in documents:
            crawl = crawl or documents.crawl
            doc_id = make_doc_id(params.dataset, doc.record_id) if doc.record_id else None
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
                text=doc.text,
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
        yield row("file", source_file=path, counts=counts)


def _body(spark, args, params: ExtractParams, metrics) -> None:
    if params.max_document_chars < 0 or params.target_partition_bytes < 1:
        raise BadInput("max_document_chars must be >= 0 and target_partition_bytes >= 1")
    if not params.dataset:
        raise BadInput("dataset must not be empty")
    files = list_wet_files(args.input, spark)
    groups = group_files(files, params.target_partition_bytes)
    partitions = len(groups)
    rdd = spark.sparkContext.parallelize(groups, partitions).flatMap(
        lambda group: (r for path in group for r in extract_file(path, params))
    )
    rows = spark.createDataFrame(rdd, ROWS)
    publish(rows, params.dataset, args.output, partitions, metrics, PROBLEM_REASONS)


PROBLEM_REASONS = (*CONTAINER_PROBLEMS, *DOCUMENT_PROBLEMS)


def main(argv: Sequence[str] | None = None) -> int:
    return run_job("extract", ExtractParams, _body, argv, description=__doc__ or "")


if __name__ == "__main__":
    raise SystemExit(main())
