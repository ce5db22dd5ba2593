"""Job `mix`: the Table 2.2 mixture as tokenized, packed, interleaved Parquet.

    python -m spark_jobs.mix --input-dataset commonCrawl=DOCS --input-dataset webtext2=DOCS ...
        --output DIR --metrics FILE --run-id ID --params-json PLAN

PLAN is core/mix/plan.ts's `mixJobParams`: the seed, n_ctx, rows per file and, per source, its
target rows. With `"mode": "count"` the job only tokenizes and reports each source's documents,
tokens and rows per epoch (what the plan is computed from) and writes no data.

Writes `<output>/data/train-NNNNN-of-MMMMM.parquet` (`input_ids` list<int32> of exactly n_ctx,
`source`, `epoch`, `position`; sorted by position, `rows_per_file` rows per file) and a dataset
card `<output>/README.md`; with `sample_positions`, also `<output>/provenance.json` (the documents
of those rows, for verification: spark_jobs/mix_provenance.py). A literal "<|endoftext|>" inside
a document is ordinary text; only the separator after each document is id 50256. How rows are
made: spark_jobs/mix_pack.py; where they go: spark_jobs/mix_order.py.

Metrics count documents: in = kept (in at least one output row) + dropped (`empty_text`, or
`not_sampled`: only in an epoch's dropped tail or beyond a partial last epoch's rows).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from spark_jobs import blob_files, mix_card, mix_files, mix_order, mix_pack, mix_provenance
from spark_jobs.documents import read_documents
from spark_jobs.fs import has_scheme, literal, write_text
from spark_jobs.job import BadInput, Metrics, arg_parser, run_job
from spark_jobs.tokenizer import RANKS_ENV, default_rank_path

NAME = "mix"
EMPTY_TEXT, NOT_SAMPLED = "empty_text", "not_sampled"
SOURCE_KEYS = {"weight", "target_rows", "rows_per_epoch", "paper_tokens", "paper_weight"}
SOURCE_KEYS |= {"paper_epochs"}
MAX_WRITE_TASKS = 4096  # tasks writing the output, at most; each file is written by one task


@dataclass(frozen=True)
class MixParams:
    """seed: run seed behind every order. n_ctx: ids per row. rows_per_file: output file size.
    sources: {name: {target_rows, weight, rows_per_epoch?, paper_*?}} (the plan).
    mode: "mix" or "count". rank_file: GPT-2 rank file (default: the repo's .ccmix copy).
    sample_positions: rows whose documents go into provenance.json (those verification samples)."""

    seed: int = 0
    n_ctx: int = 2048
    rows_per_file: int = 50_000
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    mode: str = "mix"
    rank_file: str | None = None
    sample_positions: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in ("mix", "count"):
            raise BadInput(f"mode must be 'mix' or 'count', got {self.mode!r}")
        if self.n_ctx < 1 or self.rows_per_file < 1:
            raise BadInput("n_ctx and rows_per_file must be positive")
        for name, spec in self.sources.items():
            if not mix_order.SOURCE_NAME.fullmatch(name):
                raise BadInput(f"source name {name!r}: letters, digits and _ only")
            unknown = set(spec) - SOURCE_KEYS
            if unknown or not isinstance(spec.get("target_rows"), int) or spec["target_rows"] < 0:
                raise BadInput(f"source {name}: needs target_rows >= 0; unknown keys {unknown}")
        if self.mode == "mix" and not any(s["target_rows"] for s in self.sources.values()):
            raise BadInput("the plan has no source with target_rows > 0")
        total = sum(s["target_rows"] for s in self.sources.values())
        if any(not isinstance(p, int) or not 0 <= p < total for p in self.sample_positions):
            raise BadInput(f"sample_positions must be integers in [0, {total})")


def read_dataset(spark: SparkSession, name: str, path: str) -> DataFrame:
    """One deduped documents output -> (source, doc_id, text): the one place inputs are read."""
    docs = read_documents(spark, [path], name)
    return docs.select(F.lit(name).alias("source"), "doc_id", "text")


def parse_inputs(values: Sequence[str]) -> dict[str, str]:
    inputs: dict[str, str] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path or name in inputs:
            raise BadInput(f"--input-dataset {value!r}: expected a new NAME=PATH")
        inputs[name] = path
    return inputs


def source_stats(tokenized: DataFrame) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Per source, of its non-empty documents: documents, distinct ids, tokens, min and max
    tokens (sources with any); and per source, its empty documents (sources with any)."""
    full = ~F.col("empty")
    rows = (
        tokenized.groupBy("source")
        .agg(
            F.count(F.when(full, 1)).alias("documents"),
            F.count(F.when(~full, 1)).alias("empty"),
            F.countDistinct(F.when(full, F.col("doc_id"))).alias("distinct"),
            F.sum(F.when(full, F.col("n_tokens"))).alias("tokens"),
            F.min(F.when(full, F.col("n_tokens"))).alias("min"),
            F.max(F.when(full, F.col("n_tokens"))).alias("max"),
        )
        .collect()  # bounded: one row per source
    )
    stats = {r.source: r.asDict() for r in rows if r.documents}
    return stats, {r.source: r.empty for r in rows if r.empty}


def epoch_table(name: str, target: int, per_epoch: int, docs: int, seed: int) -> list[tuple]:
    """(source, epoch, rows taken, base index k, buckets, perm a, perm b) for each epoch."""
    n_epochs = math.ceil(target / per_epoch) if target else 0
    buckets = max(1, math.ceil(docs / mix_pack.DOCS_PER_BUCKET))
    table = []
    for epoch in range(n_epochs):
        rows = min(per_epoch, target - epoch * per_epoch)
        a, b = mix_order.affine_perm(seed, name, epoch, rows)
        table.append((name, epoch, rows, epoch * per_epoch, buckets, a, b))
    return table


EPOCH_COLUMNS = ["source", "epoch", "rows", "base_k", "buckets", "perm_a", "perm_b"]


def body(spark: SparkSession, args: argparse.Namespace, params: MixParams, metrics: Metrics):
    inputs = parse_inputs(args.input_dataset)
    wanted = {s for s, spec in params.sources.items() if spec["target_rows"] > 0}
    missing = sorted(wanted - set(inputs))
    if missing:
        raise BadInput(f"no --input-dataset for planned source(s): {', '.join(missing)}")
    rank_file = params.rank_file or str(default_rank_path())
    for needed in (rank_file, rank_file + ".json"):
        local = needed.removeprefix("file:")
        if not has_scheme(local) and not Path(local).is_file():
            fix = f"run `npm run setup` or set {RANKS_ENV}"
            raise BadInput(f"no GPT-2 rank file at {needed}: {fix}")
    spark.sparkContext.addFile(rank_file)
    spark.sparkContext.addFile(rank_file + ".json")
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "1024")
    docs = None
    for name in sorted(inputs if params.mode == "count" else wanted):
        df = read_dataset(spark, name, inputs[name])
        docs = df if docs is None else docs.unionByName(df)
    shipped = "sparkfiles:" + rank_file.rsplit("/", 1)[-1]
    tokenized = mix_pack.tokenize(docs, shipped)
    if params.mode == "mix":  # packing reads the tokens again; a count reads them once
        tokenized = tokenized.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        stats, empties = source_stats(tokenized)
        _check_stats(stats, params, empties)
        if params.mode == "count":
            _count_metrics(stats, empties, params.n_ctx, metrics)
            return
        documents = tokenized.where(~F.col("empty"))
        _mix(spark, args.output.rstrip("/"), inputs, documents, stats, empties, params, metrics)
    finally:
        tokenized.unpersist()


def _check_stats(stats: dict, params: MixParams, empties: dict[str, int]) -> None:
    for name, s in stats.items():
        if s["distinct"] != s["documents"]:
            raise BadInput(f"{name}: {s['documents'] - s['distinct']} duplicate doc_id(s)")
    if params.mode == "count":
        return
    for name, spec in params.sources.items():
        target = spec["target_rows"]
        per_epoch = stats.get(name, {}).get("tokens", 0) // params.n_ctx
        if target and not per_epoch:
            raise BadInput(f"{name}: {target} rows planned but the input has no full row of ids")
        planned = spec.get("rows_per_epoch")
        if target and planned is not None and planned != per_epoch:
            raise BadInput(
                f"{name}: the plan counted {planned} rows per epoch, the input has {per_epoch}"
                " (was the plan made on other data?)"
            )


def _count_metrics(stats: dict, empties: dict[str, int], n_ctx: int, metrics: Metrics) -> None:
    sources = {}
    for name in sorted(set(stats) | set(empties)):
        s = stats.get(name, {"documents": 0, "tokens": 0})
        sources[name] = {
            "documents": s["documents"],
            "empty_documents": empties.get(name, 0),
            "tokens": s["tokens"] or 0,
            "rows_per_epoch": (s["tokens"] or 0) // n_ctx,
        }
    metrics.rows_kept = sum(s["documents"] for s in sources.values())
    metrics.rows_dropped = sum(empties.values())
    metrics.rows_in = metrics.rows_kept + metrics.rows_dropped
    if metrics.rows_dropped:
        metrics.dropped_by_reason[EMPTY_TEXT] = metrics.rows_dropped
    metrics.extra["sources"] = sources


def _mix(spark, output, inputs, tokenized, stats, empties, params, metrics: Metrics) -> None:
    n_ctx, seed = params.n_ctx, params.seed
    targets = {s: spec["target_rows"] for s, spec in params.sources.items() if spec["target_rows"]}
    per_epoch = {s: stats[s]["tokens"] // n_ctx for s in targets}
    table = []
    for name, target in sorted(targets.items()):
        table += epoch_table(name, target, per_epoch[name], stats[name]["documents"], seed)
    epochs = spark.createDataFrame(table, EPOCH_COLUMNS)
    ordered = mix_pack.epoch_order(tokenized.select("source", "doc_id", "n_tokens"), epochs, seed)
    ordered = ordered.persist(StorageLevel.MEMORY_AND_DISK)
    placed = None
    try:
        per_bucket = mix_pack.bucket_totals(ordered)
        # One row per (source, epoch, bucket): about documents / DOCS_PER_BUCKET per epoch.
        totals = [tuple(r) for r in per_bucket.collect()]  # bounded: buckets, not documents
        bases = spark.createDataFrame(
            mix_pack.prefix_bases(totals), ["source", "epoch", "bucket", "base"]
        )
        placed = mix_pack.spans(mix_pack.offsets(ordered, bases), n_ctx)
        placed = placed.persist(StorageLevel.MEMORY_AND_DISK)
        sampled = _sampled_documents(placed)
        parts = mix_pack.pieces(placed, tokenized.select("source", "doc_id", "ids16"), n_ctx)
        mix_order.check_exact(targets)
        ranks = mix_order.source_ranks(seed, sorted(targets))
        parts = parts.join(F.broadcast(epochs), ["source", "epoch"]).withColumn(
            "k", F.expr("base_k + pmod(perm_a * `row` + perm_b, rows)")
        )
        total, per_file = sum(targets.values()), params.rows_per_file
        parts = parts.withColumn("position", mix_order.position_col("source", "k", targets, ranks))
        parts = parts.withColumn("file", F.expr(f"position div {per_file}"))
        # Located before the write: a position the arithmetic cannot place fails the job early.
        located = mix_provenance.locate_rows(params.sample_positions, table, targets, ranks)
        files, ids = _write(output, parts, n_ctx, total, per_file)
        if located:
            named = mix_provenance.write(spark, output, placed, located, inputs)
            metrics.extra["provenance"] = {"rows": len(located), "documents": named}
    finally:
        ordered.unpersist()
        if placed is not None:
            placed.unpersist()
    written = _read_back(spark, output)
    _fill_metrics(metrics, stats, empties, sampled, written, ids, table, params, files)
    write_text(spark, f"{output}/README.md", mix_card.render_card(metrics.extra, params))


def _sampled_documents(placed: DataFrame) -> dict[str, int]:
    """Documents in at least one taken row, per source."""
    kept = placed.where(F.col("first_row") <= F.col("last_row")).select("source", "doc_id")
    return dict(kept.distinct().groupBy("source").count().collect())  # bounded: sources


def _write(output: str, parts: DataFrame, n_ctx: int, total: int, per_file: int):
    """Parts with their output `file` -> `data/train-NNNNN-of-MMMMM.parquet`, `per_file` rows each,
    sorted by position (`mix_files`); returns the files and the range of the ids written."""
    n_files = math.ceil(total / per_file)
    chunks = mix_files.chunks(parts, n_ctx, n_files, min(n_files, MAX_WRITE_TASKS))
    observed = Observation()
    chunks = chunks.observe(
        observed, F.min("min_id").alias("min_id"), F.max("max_id").alias("max_id")
    )
    blob_files.write(chunks, f"{output}/data")
    names = [f"data/{mix_files.file_name(i, n_files)}" for i in range(n_files)]
    files = [{"name": n, "rows": min(per_file, total - i * per_file)} for i, n in enumerate(names)]
    return files, observed.get


def _read_back(spark: SparkSession, output: str) -> list[dict]:
    """Per (source, epoch) of the written files: rows and positions (never the ids)."""
    df = spark.read.parquet(literal(f"{output}/data")).select("source", "epoch", "position")
    return [
        r.asDict()
        for r in df.groupBy("source", "epoch")
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.min("position").alias("min_position"),
            F.max("position").alias("max_position"),
        )
        .orderBy("source", "epoch")
        .collect()  # bounded: one row per (source, epoch)
    ]


def _fill_metrics(metrics, stats, empties, sampled, written, ids, table, params, files) -> None:
    """`written`: `_read_back`; `ids`: the range of the ids written (`_write`); every row has
    n_ctx ids, or `mix_files` failed the job."""
    n_ctx = params.n_ctx
    total_rows = sum(w["rows"] for w in written)
    sources = {}
    for name, spec in sorted(params.sources.items()):
        if not spec["target_rows"]:
            continue
        mine = [w for w in written if w["source"] == name]
        tokens = stats[name]["tokens"]
        per_epoch = tokens // n_ctx
        taken = [t[2] for t in table if t[0] == name]
        rows = sum(w["rows"] for w in mine)
        if rows != spec["target_rows"]:
            raise RuntimeError(f"{name}: wrote {rows} rows, planned {spec['target_rows']}")
        sources[name] = {
            "documents": stats[name]["documents"],
            "documents_sampled": sampled.get(name, 0),
            "tokens_per_epoch": tokens,
            "rows_per_epoch": per_epoch,
            "target_rows": spec["target_rows"],
            "rows": rows,
            "tokens": rows * n_ctx,
            "epochs": rows / per_epoch,
            "rows_per_epoch_taken": taken,
            "tail_tokens_dropped": sum(tokens - per_epoch * n_ctx for r in taken if r == per_epoch),
            # A partial last epoch leaves its untaken rows and its tail: every token of every
            # epoch is then taken, a full epoch's tail, or not taken in the last epoch.
            "tokens_not_taken_in_last_epoch": 0
            if taken[-1] == per_epoch
            else tokens - taken[-1] * n_ctx,
            "target_weight": spec.get("weight"),
            "achieved_weight": rows / total_rows,
            "paper": {k[6:]: spec.get(k) for k in ("paper_tokens", "paper_weight", "paper_epochs")},
        }
    metrics.rows_in = sum(s["documents"] for s in stats.values()) + sum(empties.values())
    metrics.rows_kept = sum(sampled.values())
    not_sampled = sum(s["documents"] for s in stats.values()) - metrics.rows_kept
    metrics.rows_dropped = sum(empties.values()) + not_sampled
    metrics.dropped_by_reason = {
        k: v for k, v in ((EMPTY_TEXT, sum(empties.values())), (NOT_SAMPLED, not_sampled)) if v
    }
    positions = (min(w["min_position"] for w in written), max(w["max_position"] for w in written))
    metrics.extra.update(
        n_ctx=n_ctx,
        rows=total_rows,
        tokens=total_rows * n_ctx,
        position_range=list(positions),
        id_range=[ids["min_id"], ids["max_id"]],
        sources=sources,
        per_epoch=[{k: w[k] for k in ("source", "epoch", "rows")} for w in written],
        files=files,
    )
    if positions != (0, total_rows - 1):
        raise RuntimeError(f"positions span {positions}, expected 0..{total_rows - 1}")


def build_parser() -> argparse.ArgumentParser:
    parser = arg_parser("Tokenize, pack and interleave the deduped datasets into the mixture")
    parser.add_argument(
        "--input-dataset",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a deduped document Parquet folder (doc_id, text) for source NAME (repeatable)",
    )
    return parser


def main(argv: Sequence[str] | None = None, **session) -> int:
    """`session`: `spark` and `on_error` when run inside the job server (see `run_job`)."""
    return run_job(NAME, MixParams, body, argv, parser=build_parser(), **session)


if __name__ == "__main__":
    sys.exit(main())
