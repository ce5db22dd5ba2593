"""quality_filter: the seeded Pareto keep rule (Python and Spark agree, rates match (2 - s)^-9),
determinism, counts, empty documents, bad input."""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from pyspark.ml import Pipeline
from pyspark.ml.functions import vector_to_array
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from spark_jobs.documents import DOCUMENTS, make_doc_id, write_documents
from spark_jobs.job import BadInput, Metrics
from spark_jobs.quality_filter import (
    NAME,
    FilterParams,
    body,
    build_parser,
    keep,
    keep_col,
    keep_probability,
    pareto_draw,
    pareto_draw_col,
    score_col,
    uniform,
)
from spark_jobs.train_classifier import TrainParams, build_pipeline
from spark_jobs.wet import WetDocuments

ALPHA, SEED, N_SYNTHETIC = 9.0, 3, 200_000
GOOD = "the council measured the history of the valley and wrote a careful account of it"
BAD = "buy cheap coupon deal best price free shipping click now offer discount"


def synthetic_score(i: int) -> float:
    """Scores spread evenly over (0, 1), in an order unrelated to i."""
    return ((i * 7919) % N_SYNTHETIC + 0.5) / N_SYNTHETIC


def test_spot_values() -> None:
    assert keep_probability(1.0, ALPHA) == 1.0
    assert keep_probability(0.9, ALPHA) == pytest.approx(0.4241, abs=1e-4)
    assert keep_probability(0.5, ALPHA) == pytest.approx(0.0260, abs=1e-4)
    assert keep_probability(0.0, ALPHA) == pytest.approx(0.00195, abs=1e-5)
    n = 50_000
    for score in (1.0, 0.9, 0.5, 0.0):
        kept = sum(keep(SEED, f"spot-{i}", score, ALPHA) for i in range(n))
        p = keep_probability(score, ALPHA)
        assert abs(kept / n - p) <= 4 * math.sqrt(p * (1 - p) / n) + 1e-12, (score, kept / n)


def test_draw_is_numpy_lomax() -> None:
    """Same distribution as numpy.random.pareto(9): compare quantiles of 50k draws each."""
    ours = np.array([pareto_draw(SEED, f"q-{i}", ALPHA) for i in range(50_000)])
    theirs = np.random.default_rng(0).pareto(ALPHA, 50_000)
    qs = [0.1, 0.25, 0.5, 0.75, 0.9, 0.99]
    exact = [(1 - q) ** (-1 / ALPHA) - 1 for q in qs]
    assert np.quantile(ours, qs) == pytest.approx(exact, rel=0.05)
    assert np.quantile(theirs, qs) == pytest.approx(exact, rel=0.05)
    assert ours.mean() == pytest.approx(1 / (ALPHA - 1), rel=0.03)  # Lomax mean 1/(alpha - 1)


def test_uniform_is_in_unit_interval_and_stream_separated() -> None:
    values = [uniform(SEED, f"u-{i}", "pareto") for i in range(10_000)]
    assert 0.0 <= min(values) and max(values) < 1.0
    assert abs(sum(values) / len(values) - 0.5) < 0.01
    assert uniform(SEED, "x", "pareto") != uniform(SEED, "x", "train_holdout")
    assert uniform(SEED, "x", "pareto") != uniform(SEED + 1, "x", "pareto")


def test_spark_expression_matches_python_and_rates(spark: SparkSession) -> None:
    """200k (doc_id, score) pairs: identical draws and decisions, keep rate per bucket as
    (2 - s)^-9 within 4 binomial standard errors."""
    df = spark.range(N_SYNTHETIC).select(
        F.concat(F.lit("doc-"), F.col("id").cast("string")).alias("doc_id"),
        (((F.col("id") * 7919) % N_SYNTHETIC + 0.5) / N_SYNTHETIC).alias("score"),
    )
    decided = df.select(
        "doc_id",
        "score",
        pareto_draw_col(SEED, F.col("doc_id"), ALPHA).alias("draw"),
        keep_col(SEED, F.col("doc_id"), F.col("score"), ALPHA).alias("keep"),
    )
    sample = decided.filter(F.col("doc_id").endswith("7")).limit(2_000).collect()
    for row in sample:
        assert row.draw == pytest.approx(pareto_draw(SEED, row.doc_id, ALPHA), rel=1e-12, abs=1e-15)
        assert row.keep == keep(SEED, row.doc_id, row.score, ALPHA)

    bucket = F.least(F.floor(F.col("score") * 10), F.lit(9)).cast("int")
    spark_kept = {
        r.b: r.kept
        for r in decided.groupBy(bucket.alias("b"))
        .agg(F.sum(F.col("keep").cast("int")).alias("kept"))
        .collect()
    }
    python_kept, expected, variance, total = [0] * 10, [0.0] * 10, [0.0] * 10, [0] * 10
    for i in range(N_SYNTHETIC):
        score = synthetic_score(i)
        b = min(int(score * 10), 9)
        p = keep_probability(score, ALPHA)
        python_kept[b] += keep(SEED, f"doc-{i}", score, ALPHA)
        expected[b] += p
        variance[b] += p * (1 - p)
        total[b] += 1
    assert [spark_kept[b] for b in range(10)] == python_kept  # every decision agrees
    for b in range(10):
        tolerance = 4 * math.sqrt(variance[b])
        print(
            f"\nbucket [{b / 10:.1f},{(b + 1) / 10:.1f}): n={total[b]} kept={python_kept[b]}"
            f" rate={python_kept[b] / total[b]:.5f} expected={expected[b] / total[b]:.5f}"
            f" (4 SE = {tolerance / total[b]:.5f})",
            end="",
        )
        assert abs(python_kept[b] - expected[b]) <= tolerance


# --- the score ----------------------------------------------------------------------------------

# Java's \\s is these six; U+00A0, U+0085, U+3000 and U+2028 are not whitespace to it. The Greek
# capital sigma lower-cases by position, dotted I and the ligature change length, and U+1F600 is
# two chars.
EDGE_TEXTS = [
    "  leading, trailing and  double  spaces  ",
    "tab\tnewline\nreturn\rvertical\x0bfeed\x0cend",
    "no\u00a0break, next\u0085line, ideographic\u3000space and\u2028line separator",
    "ΟΔΥΣΣΕΥΣ ΣΊΣΥΦΟΣ İstanbul STRAẞE ﬁne Ǆ",
    "emoji \U0001f600 and <|endoftext|> are words too",
    "x",
]


def real_texts(shared_data: Path) -> list[str]:
    """The documents of the real WET samples (the multilingual one included)."""
    texts = []
    for path in sorted((shared_data / "wet").glob("*.wet*")):
        opened = gzip.open(path) if path.suffix == ".gz" else path.open("rb")
        with opened as stream:
            texts += [d.text for d in WetDocuments(stream) if d.text.strip()]
    return texts


@pytest.mark.parametrize("binary", [False, True])
def test_score_is_the_pipelines_probability(
    spark: SparkSession, shared_data: Path, binary: bool
) -> None:
    """`score_col` gives the very double that `PipelineModel.transform` gives, on every document
    of the real samples and on the edge cases of Spark's Tokenizer, with counts or binary terms."""
    texts = real_texts(shared_data)
    assert len(texts) > 300
    labelled = [(t, float(i % 2)) for i, t in enumerate(texts[:200])]
    pipeline = build_pipeline(TrainParams(max_iter=10))
    pipeline.getStages()[1].setBinary(binary)
    model = pipeline.fit(spark.createDataFrame(labelled, "text string, label double"))
    docs = spark.createDataFrame(
        [(i, t) for i, t in enumerate(texts + EDGE_TEXTS)], "i int, text string"
    )
    ours = docs.select("i", score_col(spark, model).alias("score"))
    theirs = model.transform(docs).select("i", vector_to_array("probability")[1].alias("score"))
    got = dict(ours.collect())  # a few hundred test rows
    expected = dict(theirs.collect())
    assert len(got) == len(texts) + len(EDGE_TEXTS)
    assert got == expected  # exact: the same double, not merely close
    assert len(set(got.values())) > len(got) // 2  # scores that vary: the model is not constant


def test_score_refuses_another_model(spark: SparkSession) -> None:
    rows = spark.createDataFrame([(GOOD, 1.0), (BAD, 0.0)], "text string, label double")
    no_tokenizer = Pipeline(stages=build_pipeline(TrainParams(max_iter=2)).getStages()[:1])
    with pytest.raises(BadInput, match="must be Tokenizer, HashingTF, LogisticRegression"):
        score_col(spark, no_tokenizer.fit(rows))
    renamed = build_pipeline(TrainParams(max_iter=2))
    renamed.getStages()[0].setInputCol("body")
    with pytest.raises(BadInput, match="text -> tokens -> features"):
        score_col(spark, renamed.fit(rows.withColumnRenamed("text", "body")))


# --- the job ------------------------------------------------------------------------------------


def doc(i: int, text: str | None, crawl: str = "CC-MAIN-2019-04") -> tuple:
    record = f"<urn:uuid:{i:08d}>"
    return (
        make_doc_id("common_crawl", record),
        "common_crawl",
        crawl,
        f"http://x/{i}",
        None,
        None,
        text,
    )


@pytest.fixture(scope="module")
def setup(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("quality")
    training = [(f"{GOOD} {i}", 1.0) for i in range(20)] + [(f"{BAD} {i}", 0.0) for i in range(20)]
    model = build_pipeline(TrainParams(num_features=1 << 10, max_iter=20)).fit(
        spark.createDataFrame(training, "text string, label double")
    )
    model.write().overwrite().save(str(root / "model"))
    rows = []
    for i in range(300):
        words = (GOOD if i % 3 else BAD).split()
        text = " ".join(words[: 4 + i % len(words)])  # a spread of scores
        rows.append(doc(i, text, crawl="CC-MAIN-2017-04" if i % 2 else "CC-MAIN-2019-04"))
    rows += [doc(1000, ""), doc(1001, "  \n "), doc(1002, "\t")]
    write_documents(spark.createDataFrame(rows, DOCUMENTS).repartition(3), str(root / "docs"))
    return {"root": root, "model": str(root / "model"), "docs": str(root / "docs"), "n": len(rows)}


def run_filter(spark: SparkSession, setup: dict, output: Path, **params) -> Metrics:
    args = build_parser().parse_args(
        ["--model", setup["model"], "--input", setup["docs"], "--output", str(output)]
        + ["--metrics", str(output) + ".json", "--run-id", "t"]
    )
    metrics = Metrics(job=NAME, run_id="t", params={})
    body(spark, args, FilterParams(**params), metrics)
    metrics.check_counts()
    return metrics


def content_hash(spark: SparkSession, path: Path) -> str:
    rows = spark.read.parquet(str(path)).orderBy("doc_id").collect()  # a few hundred test rows
    return hashlib.sha256(json.dumps([r.asDict() for r in rows]).encode()).hexdigest()


def test_filter_counts_output_and_determinism(spark: SparkSession, setup: dict, tmp_path) -> None:
    first = run_filter(spark, setup, tmp_path / "a", seed=SEED)
    second = run_filter(spark, setup, tmp_path / "b", seed=SEED)
    for sub in ("kind=doc", "kind=dropped"):
        assert content_hash(spark, tmp_path / "a" / sub) == content_hash(
            spark, tmp_path / "b" / sub
        )
    assert first.extra == second.extra

    assert first.rows_in == setup["n"]
    assert first.dropped_by_reason["empty_text"] == 3
    assert first.dropped_by_reason["pareto"] == first.rows_dropped - 3
    assert first.rows_kept > 0 and first.dropped_by_reason["pareto"] > 0
    per_crawl = first.extra["per_crawl"]
    assert sum(c["in"] for c in per_crawl.values()) == first.rows_in
    assert sum(c["kept"] for c in per_crawl.values()) == first.rows_kept
    histogram = first.distributions["score"].histogram
    assert len(histogram) == 10 and sum(h["count"] for h in histogram) == first.rows_in - 3
    buckets = first.extra["keep_rate_by_score_bucket"]
    assert sum(b["kept"] for b in buckets) == first.rows_kept

    kept = spark.read.parquet(str(tmp_path / "a" / "kind=doc"))
    assert kept.columns == [*DOCUMENTS.names, "score", "reason"]
    assert kept.count() == first.rows_kept
    assert kept.where(F.col("reason").isNotNull()).count() == 0
    excluded = spark.read.parquet(str(tmp_path / "a" / "kind=dropped"))
    assert excluded.columns == [*DOCUMENTS.names, "score", "reason"]
    for row in kept.collect():
        assert 0.0 <= row.score <= 1.0 and keep(SEED, row.doc_id, row.score, ALPHA)
    for row in excluded.collect():
        assert row.text is None  # the dropped text is not written again
        if row.reason == "pareto":
            assert not keep(SEED, row.doc_id, row.score, ALPHA)
        else:
            assert row.reason == "empty_text" and row.score is None


def test_other_seed_keeps_other_documents(spark: SparkSession, setup: dict, tmp_path) -> None:
    base = run_filter(spark, setup, tmp_path / "a", seed=SEED)
    other = run_filter(spark, setup, tmp_path / "b", seed=SEED + 1)
    assert content_hash(spark, tmp_path / "a") != content_hash(spark, tmp_path / "b")
    assert base.rows_in == other.rows_in


def test_bad_inputs(spark: SparkSession, setup: dict, tmp_path) -> None:
    with pytest.raises(BadInput, match="alpha"):
        FilterParams(alpha=0)
    args = build_parser().parse_args(
        ["--model", str(tmp_path / "nope"), "--input", setup["docs"]]
        + ["--output", str(tmp_path / "o"), "--metrics", "m", "--run-id", "t"]
    )
    with pytest.raises(BadInput, match="cannot load the classifier model"):
        body(spark, args, FilterParams(), Metrics(job=NAME, run_id="t", params={}))
    write_documents(spark.createDataFrame([("a",)], "doc_id string"), str(tmp_path / "no_text"))
    args.model, args.input = setup["model"], [str(tmp_path / "no_text")]
    with pytest.raises(BadInput, match="needs column text"):
        body(spark, args, FilterParams(), Metrics(job=NAME, run_id="t", params={}))


def test_cli_end_to_end(setup: dict, job_cli, tmp_path) -> None:
    """The real entry point in its own process: exit 0, metrics and _params.json; bad params 2."""
    base = ["--model", setup["model"], "--input", setup["docs"], "--run-id", "cli"]
    base += ["--output", str(tmp_path / "out"), "--metrics", str(tmp_path / "metrics.json")]
    base += ["--master", "local[1]"]
    bad = job_cli("quality_filter", *base, "--params-json", '{"alfa": 9}')
    assert bad.returncode == 2 and "unknown parameter(s): alfa" in bad.stderr
    ok = job_cli("quality_filter", *base, "--params-json", '{"seed": 3}')
    assert ok.returncode == 0, ok.stderr[-2000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["rows_in"] == setup["n"] == metrics["rows_kept"] + metrics["rows_dropped"]
    assert json.loads((tmp_path / "out" / "_params.json").read_text()) == {"alpha": 9.0, "seed": 3}
