"""train_classifier on the miniature crawl: quality against the generator's ground truth, counts,
the saved model, deterministic sampling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.ml import PipelineModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from warcio.archiveiterator import ArchiveIterator

from spark_jobs.documents import DOCUMENTS, make_doc_id, read_documents, write_documents
from spark_jobs.features import is_empty
from spark_jobs.job import BadInput, Metrics
from spark_jobs.seeded import uniform_col
from spark_jobs.train_classifier import (
    NAME,
    ROWS_PER_TRAINING_PARTITION,
    TrainParams,
    body,
    build_parser,
    class_targets,
    sample_and_split,
    training_partitions,
)

CRAWLS = ["CC-MAIN-2017-04", "CC-MAIN-2018-34", "CC-MAIN-2019-04"]
REFERENCES = ["webtext2", "books1", "books2", "wikipedia"]
PARAMS = TrainParams(holdout_fraction=0.3)  # the default seed, 0
REQUIRED_AUC = 0.95


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def cc_documents(crawl_dir: Path) -> list[tuple]:
    """The non-broken WET files' conversion records, read by warcio (not the project's reader)."""
    truth = read_jsonl(crawl_dir / "ground-truth" / "documents.jsonl")
    broken = {
        b["key"] for b in json.loads((crawl_dir / "ground-truth" / "broken-files.json").read_text())
    }
    rows = []
    for key in sorted({t["key"] for t in truth} - broken):
        with open(crawl_dir / key, "rb") as stream:
            for record in ArchiveIterator(stream):
                if record.rec_type != "conversion":
                    continue
                headers = record.rec_headers
                record_id = headers.get_header("WARC-Record-ID")
                rows.append(
                    (
                        make_doc_id("common_crawl", record_id),
                        "common_crawl",
                        key.split("/")[1],
                        headers.get_header("WARC-Target-URI"),
                        headers.get_header("WARC-Date"),
                        headers.get_header("WARC-Identified-Content-Language"),
                        record.content_stream().read().decode("utf-8"),
                    )
                )
    return rows


@pytest.fixture(scope="module")
def corpus(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory, make_mini_crawl) -> dict:
    """Mini crawl (size 2, seed 7) as documents Parquet: CC negatives and four reference sets."""
    root = tmp_path_factory.mktemp("classifier")
    crawl_dir = root / "crawl"
    make_mini_crawl(crawl_dir, 2, 7, CRAWLS)
    cc = cc_documents(crawl_dir)
    write_documents(spark.createDataFrame(cc, DOCUMENTS), str(root / "cc"))
    positives = []
    for name in REFERENCES:
        docs = read_jsonl(crawl_dir / "reference" / name / "part-00000.jsonl")
        rows = [(make_doc_id(name, d["id"]), name, None, None, None, None, d["text"]) for d in docs]
        write_documents(spark.createDataFrame(rows, DOCUMENTS), str(root / name))
        positives.append(str(root / name))
    truth = {
        make_doc_id("common_crawl", t["record_id"]): t
        for t in read_jsonl(crawl_dir / "ground-truth" / "documents.jsonl")
    }
    return {"root": root, "cc": str(root / "cc"), "positives": positives, "truth": truth}


def train(spark: SparkSession, corpus: dict, output: Path, params: TrainParams) -> Metrics:
    argv = ["--output", str(output), "--metrics", str(output / "m.json"), "--run-id", "t"]
    argv += [a for p in corpus["positives"] for a in ("--positives", p)]
    args = build_parser().parse_args([*argv, "--negatives", corpus["cc"]])
    metrics = Metrics(job=NAME, run_id="t", params={})
    body(spark, args, params, metrics)
    metrics.check_counts()
    return metrics


@pytest.fixture(scope="module")
def trained(spark: SparkSession, corpus: dict) -> tuple[Path, Metrics]:
    output = corpus["root"] / "model-run"
    return output, train(spark, corpus, output, PARAMS)


def auc(scores_high: list[float], scores_low: list[float]) -> float:
    """Mann-Whitney AUC: P(score of a high page > score of a low page), ties count half."""
    wins = sum((h > lo) + 0.5 * (h == lo) for h in scores_high for lo in scores_low)
    return wins / (len(scores_high) * len(scores_low))


def test_held_out_cc_auc_against_ground_truth(spark, corpus, trained) -> None:
    """Scores the CC pages the classifier did not train on and ranks them against the generator's
    quality label. Held out means: in the hash holdout and no planted duplicate (exact or near,
    same `dup_group`) among the training negatives, since a copy of a training negative is
    memorised as low quality (on this data that alone costs 0.02-0.05 of AUC)."""
    output, metrics = trained
    truth = corpus["truth"]
    model = PipelineModel.load(str(output / "model"))
    cc = read_documents(spark, [corpus["cc"]], "cc").filter(~is_empty(F.col("text")))  # unscored
    holdout = uniform_col(PARAMS.seed, F.col("doc_id"), "train_holdout") < PARAMS.holdout_fraction
    scored = model.transform(cc.withColumn("holdout", holdout)).select(
        "doc_id", "holdout", vector_to_array("probability")[1].alias("score")
    )
    rows = scored.collect()  # a few hundred test rows
    trained_groups = {truth[r.doc_id]["dup_group"] for r in rows if not r.holdout} - {None}
    held_out = [r for r in rows if r.holdout]
    unseen = [r for r in held_out if truth[r.doc_id]["dup_group"] not in trained_groups]

    def by_quality(rs: list) -> tuple[list[float], list[float]]:
        return (
            [r.score for r in rs if truth[r.doc_id]["quality"] == "high"],
            [r.score for r in rs if truth[r.doc_id]["quality"] == "low"],
        )

    high, low = by_quality(unseen)
    figure, raw = auc(high, low), auc(*by_quality(held_out))
    print(
        f"\nCC AUC vs ground truth, held out and unseen: {figure:.4f} ({len(high)} high,"
        f" {len(low)} low); all held out incl. copies of training pages: {raw:.4f}"
        f" ({len(held_out)}); classifier holdout AUC (reference vs CC):"
        f" {metrics.extra['holdout_auc']:.4f}"
    )
    assert len(high) >= 30 and len(low) >= 30
    assert figure >= REQUIRED_AUC


def test_counts_model_and_metrics(spark, corpus, trained) -> None:
    output, metrics = trained
    extra = metrics.extra
    assert (
        metrics.rows_in
        == extra["available"]["positive"]
        + extra["available"]["negative"]
        + (metrics.dropped_by_reason["empty_text"])
    )
    assert metrics.dropped_by_reason["empty_text"] >= 1  # the generator plants empty records
    used = sum(extra[s][c] for s in ("train", "holdout") for c in ("positive", "negative"))
    assert used == metrics.rows_kept
    for split in ("train", "holdout"):
        assert extra[split]["positive"] > 0 and extra[split]["negative"] > 0
    positives = extra["train"]["positive"] + extra["holdout"]["positive"]
    negatives = extra["train"]["negative"] + extra["holdout"]["negative"]
    assert abs(positives - negatives) < 0.25 * negatives  # balanced to 1:1, by hash sampling
    assert 0.5 < extra["holdout_auc"] <= 1.0
    for key in ("precision_at_0_5", "recall_at_0_5", "f1_at_0_5"):
        assert 0.0 <= extra[key] <= 1.0
    model = PipelineModel.load(str(output / "model"))
    assert [type(s).__name__ for s in model.stages] == [
        "Tokenizer",
        "HashingTF",
        "LogisticRegressionModel",
    ]
    assert model.stages[1].getNumFeatures() == 1 << 18


def test_sampling_is_deterministic(spark, corpus, tmp_path) -> None:
    params = TrainParams(holdout_fraction=0.3, seed=5, max_iter=5)
    first = train(spark, corpus, tmp_path / "a", params)
    second = train(spark, corpus, tmp_path / "b", params)
    assert first.extra == second.extra
    assert first.dropped_by_reason == second.dropped_by_reason


def test_class_targets() -> None:
    assert class_targets(1000, 300, TrainParams()) == (300, 300)
    assert class_targets(100, 300, TrainParams()) == (100, 100)
    assert class_targets(1000, 300, TrainParams(negatives_per_positive=2.0)) == (150, 300)
    assert class_targets(10**6, 10**6, TrainParams()) == (200_000, 200_000)


def test_training_sample_partitions_follow_its_size_up_to_the_cores(spark) -> None:
    """Each LR iteration ships a dense gradient per task: a small sample is one task, a large one
    spreads over every core (local[2] here), never over its input's file count."""
    assert spark.sparkContext.defaultParallelism == 2
    assert training_partitions(spark, 0) == 1
    assert training_partitions(spark, ROWS_PER_TRAINING_PARTITION) == 1
    assert training_partitions(spark, ROWS_PER_TRAINING_PARTITION + 1) == 2
    assert training_partitions(spark, 400_000) == 2
    # The sample the job caches takes that count, not its input's five partitions.
    rows = [(f"d{i}", float(i % 2)) for i in range(40)]
    labelled = spark.createDataFrame(rows, ["doc_id", "label"])
    assert sample_and_split(labelled.repartition(5), 20, 20, PARAMS).rdd.getNumPartitions() == 1


def test_bad_params_and_inputs(spark, corpus, tmp_path) -> None:
    with pytest.raises(BadInput):
        TrainParams(holdout_fraction=1.0)
    args = build_parser().parse_args(
        ["--output", str(tmp_path), "--metrics", "m", "--run-id", "t", "--negatives", corpus["cc"]]
    )
    with pytest.raises(BadInput, match="positives: no input path"):
        body(spark, args, TrainParams(), Metrics(job=NAME, run_id="t", params={}))
    args.positives = [str(tmp_path / "missing")]
    with pytest.raises(BadInput, match="positives: input not found"):
        body(spark, args, TrainParams(), Metrics(job=NAME, run_id="t", params={}))


def test_a_failed_training_releases_what_it_cached(spark, corpus, tmp_path) -> None:
    """Regression: the sample stayed cached when training failed, in a job server whose cache
    outlives its jobs. Here the model cannot be saved: a file stands where its folder goes."""
    (tmp_path / "out").write_text("a file where the output folder goes")
    cache = spark._jsparkSession.sharedState().cacheManager()
    assert cache.isEmpty()
    with pytest.raises(Exception, match="(?i)exist|directory|file"):
        train(spark, corpus, tmp_path / "out", TrainParams(max_iter=2))
    assert cache.isEmpty(), "the training sample is still cached"
