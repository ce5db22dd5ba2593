"""Where a sample of the mixture's rows came from: `<output>/provenance.json`.

For each sampled position: its source, epoch and row within that epoch's packing, and the
documents in the row in stream order, each with its first token's offset in the epoch's stream
and the file that holds it, as an index into the sorted listing of its dataset folder's Parquet
files (`files` gives, per source, how many were listed). Row ids are then the concatenation of
those documents' ids (each followed by 50256), from `row * n_ctx - offset` of the first, n_ctx
long.

Verification (core/mix/verify.ts) decodes the sampled rows and looks for their text in the
source documents as stored, read by DuckDB. At the paper's size Common Crawl alone is hundreds
of GB: it reads the files named here first, and the others only for what they did not hold. A
wrong document fails the check, so the file guides the search and vouches for nothing.

The job writes it for the positions the plan asks for (`sample_positions`, the ones
verification will sample); each position is located by arithmetic (`mix_order.locate`,
`unpermute`), so no step ranks or scans the output.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_jobs import fs, mix_order
from spark_jobs.documents import DOC_KIND, kind_path

PROVENANCE_FILE = "provenance.json"


def locate_rows(
    positions: Sequence[int],
    table: Sequence[tuple],
    counts: Mapping[str, int],
    ranks: Mapping[str, int],
) -> list[tuple[int, str, int, int]]:
    """(position, source, epoch, row) for each position; `table` is the job's epoch table
    (source, epoch, rows taken, base k, buckets, perm a, perm b)."""
    located = []
    for pos in positions:
        source, k = mix_order.locate(pos, counts, ranks)
        epochs = [e for e in table if e[0] == source and e[3] <= k < e[3] + e[2]]
        if len(epochs) != 1:
            raise RuntimeError(f"position {pos} ({source} row {k}) is in no single epoch")
        _name, epoch, rows, base_k, _buckets, a, b = epochs[0]
        located.append((pos, source, epoch, mix_order.unpermute(a, b, rows, k - base_k)))
    return located


def _files_of(spark: SparkSession, folder: str, doc_ids: list[str]) -> tuple[dict[str, int], int]:
    """doc_id -> the index of its file in the sorted listing of `folder`'s Parquet files, for the
    few ids asked; and the number of files listed.

    An index, not a name: Spark names files at random, so documents written again (an upstream
    stage re-run) have new names though the same rows, while the mix, whose fingerprint covers
    their content, stays committed. The same rows written the same way keep their order, so an
    index stays right, and provenance.json is the same bytes.

    Reads the doc_id column alone, of every file: at paper scale Common Crawl's ~400 million ids,
    about 10 GB, a few percent of its text, once per run."""
    listed = fs.list_files(spark, [folder], [".parquet"])
    index = {f.uri: i for i, f in enumerate(listed)}
    found = (
        spark.read.parquet(fs.literal(kind_path(folder, DOC_KIND)))
        .where(F.col("doc_id").isin(doc_ids))
        .select("doc_id", F.col("_metadata.file_path").alias("uri"))
        .collect()  # bounded: the documents of the sampled rows
    )
    files: dict[str, int] = {}
    for r in found:
        if r.uri not in index:
            raise RuntimeError(f"{r.uri} holds {r.doc_id} but is not in the listing of {folder}")
        if files.setdefault(r.doc_id, index[r.uri]) != index[r.uri]:
            raise RuntimeError(f"{r.doc_id} is in two files of {folder}")
    return files, len(listed)


def write(
    spark: SparkSession,
    output: str,
    placed: DataFrame,
    located: list[tuple[int, str, int, int]],
    inputs: Mapping[str, str],
) -> int:
    """Writes `<output>/provenance.json` for the located rows; `placed` is the job's documents
    with (source, epoch, doc_id, offset, first_row, last_row). Returns the documents named."""
    wanted = spark.createDataFrame(located, ["position", "source", "epoch", "row"])
    in_rows = (
        placed.join(F.broadcast(wanted), ["source", "epoch"])
        .where(F.col("row").between(F.col("first_row"), F.col("last_row")))
        .select("position", "source", "doc_id", "offset")
        .collect()  # bounded: at most n_ctx documents per sampled row
    )
    files: dict[tuple[str, str], int] = {}
    listed: dict[str, int] = {}
    for source in sorted({d.source for d in in_rows}):
        ids = sorted({d.doc_id for d in in_rows if d.source == source})
        found, listed[source] = _files_of(spark, inputs[source], ids)
        files |= {(source, i): f for i, f in found.items()}
    rows = []
    for pos, source, epoch, row in sorted(located):
        docs = sorted((d for d in in_rows if d.position == pos), key=lambda d: d.offset)
        named = [
            {"doc_id": d.doc_id, "offset": d.offset, "file": files[(source, d.doc_id)]}
            for d in docs
        ]
        rows.append(
            {"position": pos, "source": source, "epoch": epoch, "row": row, "documents": named}
        )
    text = json.dumps({"files": listed, "rows": rows}, indent=1)
    fs.write_text(spark, fs.join(output, PROVENANCE_FILE), text)
    return sum(len(r["documents"]) for r in rows)
