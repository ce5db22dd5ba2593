"""Job `train_classifier`: GPT-3's quality classifier, reference corpora vs raw Common Crawl.

    python -m spark_jobs.train_classifier --positives REF_DOCS [--positives ...]
        --negatives CC_DOCS --output DIR --metrics FILE --run-id ID [--params-json '{...}']

Brown et al. 2020 (appendix A): logistic regression on Spark's standard Tokenizer + HashingTF
features, positives WebText / Wikipedia / web books, negatives unfiltered Common Crawl. The paper
gives no settings; every one below is a documented default. Sampling and the train/holdout split
use hash(seed, doc_id) uniforms (see quality_filter.uniform), never the partition layout.

Writes the PipelineModel to `<output>/model`; metrics extra holds the held-out AUC,
precision/recall/F1 at 0.5 and the class counts in train and holdout.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_jobs import fs
from spark_jobs.documents import digest_of, read_documents
from spark_jobs.features import DEFAULT_NUM_FEATURES, feature_stages, is_empty
from spark_jobs.job import BadInput, Metrics, arg_parser, run_job
from spark_jobs.quality_filter import EMPTY_TEXT
from spark_jobs.seeded import uniform_col

NAME = "train_classifier"
SAMPLED_OUT = "sampled_out"
METRIC_DIGITS = 6
# Logistic regression ships a dense num_features gradient from every task on every iteration, so
# a task should carry many documents: the demo's sample is one task, the paper-scale cap
# (2 x 200,000 documents) eight, fewer on a cluster with fewer cores.
ROWS_PER_TRAINING_PARTITION = 50_000


@dataclass(frozen=True)
class TrainParams:
    """Classifier settings (the paper gives none).

    num_features: HashingTF dimension (Spark's default 2^18).
    reg_param, elastic_net_param, max_iter: LogisticRegression (L2 by default).
    negatives_per_positive: class balance; the larger class is subsampled to this ratio.
    max_docs_per_class: cap on each class before the split.
    holdout_fraction: share of sampled documents held out for the metrics, by hash of doc_id.
    seed: the run seed behind the sampling and the split.
    """

    num_features: int = DEFAULT_NUM_FEATURES
    reg_param: float = 0.01
    max_iter: int = 100
    elastic_net_param: float = 0.0
    negatives_per_positive: float = 1.0
    max_docs_per_class: int = 200_000
    holdout_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_features < 1 or self.max_iter < 1 or self.max_docs_per_class < 1:
            raise BadInput("num_features, max_iter and max_docs_per_class must be >= 1")
        if self.negatives_per_positive <= 0:
            raise BadInput(f"negatives_per_positive must be > 0, got {self.negatives_per_positive}")
        if not 0.0 <= self.holdout_fraction < 1.0:
            raise BadInput(f"holdout_fraction must be in [0, 1), got {self.holdout_fraction}")


def build_pipeline(params: TrainParams) -> Pipeline:
    return Pipeline(
        stages=[
            *feature_stages(params.num_features),
            LogisticRegression(
                featuresCol="features",
                labelCol="label",
                regParam=params.reg_param,
                elasticNetParam=params.elastic_net_param,
                maxIter=params.max_iter,
            ),
        ]
    )


def class_targets(n_pos: int, n_neg: int, params: TrainParams) -> tuple[int, int]:
    """How many positives and negatives to use: capped per class, then balanced to the ratio."""
    ratio, cap = params.negatives_per_positive, params.max_docs_per_class
    pos = min(n_pos, cap, int(n_neg / ratio))
    neg = min(n_neg, cap, round(pos * ratio))
    return pos, neg


def sample_and_split(labelled: DataFrame, n_pos: int, n_neg: int, params: TrainParams) -> DataFrame:
    """Keeps ~target/available of each class by a hash uniform; adds `holdout` (boolean).

    The sample is hash-partitioned by doc_id into `training_partitions` of its target size.
    """
    pos, neg = class_targets(n_pos, n_neg, params)
    fraction = F.when(F.col("label") == 1.0, pos / n_pos if n_pos else 0.0).otherwise(
        neg / n_neg if n_neg else 0.0
    )
    doc_id = F.col("doc_id")
    sampled = labelled.filter(uniform_col(params.seed, doc_id, "train_sample") < fraction)
    parts = training_partitions(labelled.sparkSession, pos + neg)
    return sampled.repartition(parts, "doc_id").withColumn(
        "holdout", uniform_col(params.seed, doc_id, "train_holdout") < params.holdout_fraction
    )


def training_partitions(spark: SparkSession, rows: int) -> int:
    """Partitions of the cached sample: by its size, at most one per core of the cluster.

    Its input's partitions follow the file count (one extract output per crawl plus the
    references), which on a small sample means many near-empty tasks on each of max_iter passes.
    """
    cores = spark.sparkContext.defaultParallelism
    return max(1, min(cores, math.ceil(rows / ROWS_PER_TRAINING_PARTITION)))


def evaluate(model: PipelineModel, holdout: DataFrame) -> dict[str, float | None]:
    """Held-out AUC and precision/recall/F1 of the positive class at probability 0.5."""
    scored = model.transform(holdout).cache()
    try:
        return _evaluate(scored)
    finally:  # the job server's cache outlives the job, failed or not
        scored.unpersist()


def _evaluate(scored: DataFrame) -> dict[str, float | None]:
    counts = scored.agg(
        F.sum(F.col("label")).alias("pos"),
        F.count(F.lit(1)).alias("n"),
        F.sum(((F.col("prediction") == 1.0) & (F.col("label") == 1.0)).cast("int")).alias("tp"),
        F.sum(((F.col("prediction") == 1.0) & (F.col("label") == 0.0)).cast("int")).alias("fp"),
        F.sum(((F.col("prediction") == 0.0) & (F.col("label") == 1.0)).cast("int")).alias("fn"),
    ).first()
    pos, n = int(counts.pos or 0), int(counts.n)
    tp, fp, fn = int(counts.tp or 0), int(counts.fp or 0), int(counts.fn or 0)
    auc = None
    if 0 < pos < n:
        auc = BinaryClassificationEvaluator(labelCol="label", metricName="areaUnderROC").evaluate(
            scored
        )
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else None
    figures = {"holdout_auc": auc, "precision_at_0_5": precision, "recall_at_0_5": recall}
    figures["f1_at_0_5"] = f1
    # Spark's tree aggregations sum in varying order: round off the last-bit noise between runs.
    return {k: None if v is None else round(v, METRIC_DIGITS) for k, v in figures.items()}


def body(spark: SparkSession, args: argparse.Namespace, params: TrainParams, metrics: Metrics):
    if args.input:
        raise BadInput("train_classifier takes --positives and --negatives, not --input")
    positives = read_documents(spark, args.positives, "positives").select("doc_id", "text")
    negatives = read_documents(spark, args.negatives, "negatives").select("doc_id", "text")
    docs = positives.withColumn("label", F.lit(1.0)).unionByName(
        negatives.withColumn("label", F.lit(0.0))
    )
    docs = docs.withColumn("empty", is_empty(F.col("text")))
    # A counting pass (no cache): the corpus may be all of Common Crawl.
    counted = docs.groupBy("label", "empty").count().collect()  # bounded: 4 groups
    tally = {(r.label, r.empty): r["count"] for r in counted}
    n_pos, n_neg = tally.get((1.0, False), 0), tally.get((0.0, False), 0)
    if n_pos == 0 or n_neg == 0:
        raise BadInput(f"need non-empty positives and negatives, have {n_pos} and {n_neg}")
    empties = tally.get((1.0, True), 0) + tally.get((0.0, True), 0)

    # Sample first, then cache only the sample (at most 2 x max_docs_per_class documents):
    # logistic regression iterates over it max_iter times.
    sampled = sample_and_split(docs.filter(~F.col("empty")), n_pos, n_neg, params).cache()
    try:
        _train(args, params, metrics, sampled, (n_pos, n_neg, empties))
    finally:  # the job server's cache outlives the job, failed or not
        sampled.unpersist()


def _train(
    args: argparse.Namespace,
    params: TrainParams,
    metrics: Metrics,
    sampled: DataFrame,
    available: tuple[int, int, int],
) -> None:
    """Fits on the sample's training part, saves the model, fills the metrics.
    `available`: non-empty positives, non-empty negatives, empty documents."""
    n_pos, n_neg, empties = available
    split = sampled.groupBy("holdout", "label").count().collect()  # bounded: 4 groups
    split_counts = {(r.holdout, r.label): r["count"] for r in split}
    used = sum(split_counts.values())
    model = build_pipeline(params).fit(sampled.filter(~F.col("holdout")))
    model.write().overwrite().save(fs.join(args.output, "model"))

    metrics.rows_in = n_pos + n_neg + empties
    metrics.rows_kept = used
    metrics.rows_dropped = metrics.rows_in - used
    metrics.dropped_by_reason = {EMPTY_TEXT: empties, SAMPLED_OUT: n_pos + n_neg - used}
    metrics.extra.update(
        {
            "available": {"positive": n_pos, "negative": n_neg},
            "train": {
                "positive": split_counts.get((False, 1.0), 0),
                "negative": split_counts.get((False, 0.0), 0),
            },
            "holdout": {
                "positive": split_counts.get((True, 1.0), 0),
                "negative": split_counts.get((True, 0.0), 0),
            },
            **evaluate(model, sampled.filter(F.col("holdout"))),
        }
    )
    metrics.output_digest = model_digest(model)


def model_digest(model: PipelineModel) -> str:
    """What the filter depends on: the features and the weights (rounded: Spark's tree
    aggregation sums in a varying order, so the last bits of a retrained model can differ)."""
    lr = model.stages[-1]
    weights = [round(w, 8) for w in lr.coefficients.toArray().tolist()]
    return digest_of([model.stages[1].getNumFeatures(), round(lr.intercept, 8), *weights])


def build_parser() -> argparse.ArgumentParser:
    parser = arg_parser("Train the GPT-3 quality classifier (reference corpora vs Common Crawl)")
    parser.add_argument(
        "--positives", action="append", default=[], help="reference documents Parquet (repeatable)"
    )
    parser.add_argument(
        "--negatives",
        action="append",
        required=True,
        help="Common Crawl documents (repeatable: one extract output per crawl)",
    )
    return parser


def main(argv: Sequence[str] | None = None, **session) -> int:
    """`session`: `spark` and `on_error` when run inside the job server (see `run_job`)."""
    return run_job(NAME, TrainParams, body, argv, parser=build_parser(), **session)


if __name__ == "__main__":
    sys.exit(main())
