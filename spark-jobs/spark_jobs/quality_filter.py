"""Job `quality_filter`: score Common Crawl documents with the classifier, keep by the Pareto rule.

    python -m spark_jobs.quality_filter --model MODEL_DIR --input CC_DOCS [--input ...]
        --output DIR --metrics FILE --run-id ID [--params-json '{"alpha": 9, "seed": 0}']

document_score is the classifier's probability of the positive (reference-like) class. GPT-3 keeps
a document iff `np.random.pareto(alpha) > 1 - document_score` (Brown et al. 2020, appendix A). Here
the draw is seeded per document: u = uniform(seed, doc_id) from sha256, x = (1 - u)^(-1/alpha) - 1
(the inverse CDF of numpy's Lomax-shaped pareto), so P(keep | s) = (2 - s)^-alpha and a re-run keeps
exactly the same documents whatever the partition layout.

Writes the kept documents (input columns + `score`) to `<output>/kind=doc/` and the rest, with
`reason` (`empty_text` before scoring, `pareto` after) and without their text, to
`<output>/kind=dropped/`, in one pass; the metrics are read back from what was written (score,
reason, crawl: no text).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.ml import PipelineModel
from pyspark.ml.classification import LogisticRegressionModel
from pyspark.ml.feature import HashingTF, Tokenizer
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_jobs.documents import (
    DOC_KIND,
    DOCUMENTS,
    content_digest,
    digest_of,
    read_documents,
    write_by_kind,
)
from spark_jobs.features import is_empty
from spark_jobs.fs import literal
from spark_jobs.job import BadInput, Distribution, Metrics, arg_parser, run_job
from spark_jobs.seeded import uniform, uniform_col
from spark_jobs.spark_session import ccmix_class

NAME = "quality_filter"
SCORE_BUCKETS = 10
EMPTY_TEXT, PARETO = "empty_text", "pareto"
SCORE_FUNCTION = "ccmix_quality_score"  # registered in the job's own session


@dataclass(frozen=True)
class FilterParams:
    """alpha: Pareto shape (the paper's 9). seed: the run seed behind every per-document draw."""

    alpha: float = 9.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.alpha > 0:
            raise BadInput(f"alpha must be > 0, got {self.alpha}")


# --- the seeded uniform and the Pareto draw, as plain Python and as Spark columns -------------


def pareto_draw(seed: int, doc_id: str, alpha: float) -> float:
    """x = (1 - u)^(-1/alpha) - 1: distributed as numpy.random.pareto(alpha) (Lomax)."""
    return (1.0 - uniform(seed, doc_id, "pareto")) ** (-1.0 / alpha) - 1.0


def pareto_draw_col(seed: int, doc_id: Column, alpha: float) -> Column:
    return F.pow(F.lit(1.0) - uniform_col(seed, doc_id, "pareto"), F.lit(-1.0 / alpha)) - 1.0


def keep(seed: int, doc_id: str, score: float, alpha: float) -> bool:
    return pareto_draw(seed, doc_id, alpha) > 1.0 - score


def keep_col(seed: int, doc_id: Column, score: Column, alpha: float) -> Column:
    return pareto_draw_col(seed, doc_id, alpha) > F.lit(1.0) - score


def keep_probability(score: float, alpha: float) -> float:
    """P(x > 1 - s) for Lomax(alpha) = (2 - s)^-alpha."""
    return (2.0 - score) ** -alpha


# --- transforms ----------------------------------------------------------------------------------


def score_col(spark: SparkSession, model: PipelineModel) -> Column:
    """The model's probability of the positive class for `text`, the double `model.transform`
    gives, computed in one JVM function of the text (`ccmix.spark.QualityScore`) with no column
    of tokens or feature vectors between the stages."""
    stages = model.stages
    kinds = (Tokenizer, HashingTF, LogisticRegressionModel)
    if len(stages) != 3 or not all(isinstance(s, k) for s, k in zip(stages, kinds, strict=True)):
        found = ", ".join(type(s).__name__ for s in stages)
        raise BadInput(
            f"the classifier must be Tokenizer, HashingTF, LogisticRegression; got {found}"
        )
    tokenizer, hashing, classifier = stages
    reads = [tokenizer.getInputCol(), hashing.getInputCol(), classifier.getFeaturesCol()]
    if reads != ["text", tokenizer.getOutputCol(), hashing.getOutputCol()]:
        raise BadInput("the classifier's stages must read text -> tokens -> features, in order")
    ccmix_class(spark, "QualityScore").register(
        spark._jsparkSession, hashing._java_obj, classifier._java_obj, SCORE_FUNCTION
    )
    return F.call_function(SCORE_FUNCTION, F.col("text"))


def score_and_decide(df: DataFrame, model: PipelineModel, params: FilterParams) -> DataFrame:
    """Input columns + `score` (null when empty) + `reason` (null = kept, else why dropped)."""
    columns = df.columns
    empty = is_empty(F.col("text"))
    scored = df.filter(~empty).withColumn("score", score_col(df.sparkSession, model))
    decided = scored.withColumn(
        "reason",
        F.when(keep_col(params.seed, F.col("doc_id"), F.col("score"), params.alpha), None)
        .otherwise(F.lit(PARETO))
        .cast("string"),
    )
    empties = df.filter(empty).select(
        *columns, F.lit(None).cast("double").alias("score"), F.lit(EMPTY_TEXT).alias("reason")
    )
    return decided.unionByName(empties)


def score_bucket(score: Column) -> Column:
    """0..9 by tenths, 1.0 in the last; null for a null score (`least` alone would skip nulls)."""
    bucket = F.least(F.floor(score * SCORE_BUCKETS), F.lit(SCORE_BUCKETS - 1)).cast("int")
    return F.when(score.isNotNull(), bucket)


def summarise(decided: DataFrame, alpha: float, metrics: Metrics) -> None:
    """Fills metrics from one small aggregation (groups: crawl x reason x bucket)."""
    crawl = F.coalesce(F.col("crawl"), F.lit("(none)")) if "crawl" in decided.columns else F.lit("")
    # The groups are crawls x reasons x score buckets: a few hundred at paper scale.
    rows = (
        decided.groupBy(crawl.alias("crawl"), "reason", score_bucket(F.col("score")).alias("b"))
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.sum("score").alias("sum"),
            F.min("score").alias("min"),
            F.max("score").alias("max"),
            F.sum(F.pow(F.lit(2.0) - F.col("score"), F.lit(-alpha))).alias("expected"),
        )
        .collect()  # bounded: crawls x reasons x buckets
    )
    per_crawl: dict[str, dict[str, int]] = {}
    buckets = [{"in": 0, "kept": 0, "expected": 0.0} for _ in range(SCORE_BUCKETS)]
    total, lo, hi, scored = 0.0, math.inf, -math.inf, 0
    for row in rows:
        metrics.rows_in += row.n
        entry = per_crawl.setdefault(row.crawl, {"in": 0, "kept": 0})
        entry["in"] += row.n
        if row.reason is None:
            metrics.rows_kept += row.n
            entry["kept"] += row.n
        else:
            metrics.rows_dropped += row.n
            metrics.dropped_by_reason[row.reason] = (
                metrics.dropped_by_reason.get(row.reason, 0) + row.n
            )
        if row.b is None:
            continue
        scored += row.n
        total, lo, hi = total + row.sum, min(lo, row.min), max(hi, row.max)
        buckets[row.b]["in"] += row.n
        buckets[row.b]["kept"] += row.n if row.reason is None else 0
        buckets[row.b]["expected"] += row.expected
    width = 1.0 / SCORE_BUCKETS
    metrics.distributions["score"] = Distribution(
        count=scored,
        mean=total / scored if scored else None,
        min=lo if scored else None,
        max=hi if scored else None,
        histogram=[
            {"lo": round(i * width, 10), "hi": round((i + 1) * width, 10), "count": b["in"]}
            for i, b in enumerate(buckets)
        ],
    )
    metrics.extra["per_crawl"] = dict(sorted(per_crawl.items()))
    metrics.extra["keep_rate_by_score_bucket"] = [
        {
            "lo": round(i * width, 10),
            "hi": round((i + 1) * width, 10),
            "in": b["in"],
            "kept": b["kept"],
            "keep_rate": b["kept"] / b["in"] if b["in"] else None,
            "expected_keep_rate": b["expected"] / b["in"] if b["in"] else None,
        }
        for i, b in enumerate(buckets)
    ]


def load_model(path: str) -> PipelineModel:
    try:
        return PipelineModel.load(path)
    except Exception as error:  # Spark raises several JVM error types for a missing/bad model
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise BadInput(f"cannot load the classifier model at {path}: {reason}") from error


def body(spark: SparkSession, args: argparse.Namespace, params: FilterParams, metrics: Metrics):
    model = load_model(args.model)
    docs = read_documents(spark, args.input, "CC documents")
    decided = score_and_decide(docs, model, params)
    kept = F.col("reason").isNull()
    # A dropped document keeps its id, crawl, URL and score, not its text: at paper scale that is
    # about 98 % of Common Crawl's text written again for nothing (the id finds it in its crawl).
    decided = decided.withColumn("text", F.when(kept, F.col("text"))).withColumn(
        "kind", F.when(kept, DOC_KIND).otherwise("dropped")
    )
    # One pass: kept documents (with `score`) under kind=doc, the rest with `reason` beside them.
    write_by_kind(decided, args.output)
    written = spark.read.parquet(literal(args.output))
    summarise(written, params.alpha, metrics)
    kept = written.where(F.col("kind") == DOC_KIND).select(*DOCUMENTS.names, "score")
    digest = kept.agg(content_digest(kept)).first()[0]  # bounded: one row
    metrics.output_digest = digest_of([digest])


def build_parser() -> argparse.ArgumentParser:
    parser = arg_parser("Score CC documents with the classifier and keep them by the Pareto rule")
    parser.add_argument("--model", required=True, help="PipelineModel saved by train_classifier")
    return parser


def main(argv: Sequence[str] | None = None, **session) -> int:
    """`session`: `spark` and `on_error` when run inside the job server (see `run_job`)."""
    return run_job(NAME, FilterParams, body, argv, parser=build_parser(), **session)


if __name__ == "__main__":
    sys.exit(main())
