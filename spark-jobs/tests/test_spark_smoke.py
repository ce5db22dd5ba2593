"""A local PySpark session runs real jobs: a DataFrame aggregation and a pyspark.ml pipeline."""

from __future__ import annotations

import importlib.util
import os

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from spark_jobs.spark_session import MAX_JAVA, MIN_JAVA, java_major

DOCS = [
    ("d1", "The quick  brown Fox"),
    ("d2", "the lazy dog\t\tsleeps"),
    ("d3", "THE END"),
]


def test_session_settings(spark: SparkSession) -> None:
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.ui.enabled") == "false"
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert spark.conf.get("spark.sql.shuffle.partitions") == "4"
    jvm_version = spark.sparkContext._jvm.java.lang.System.getProperty("java.version")
    major = int(jvm_version.split(".")[0])
    assert MIN_JAVA <= major <= MAX_JAVA
    assert java_major(os.environ["JAVA_HOME"]) == major


def test_word_count_job(spark: SparkSession) -> None:
    df = spark.createDataFrame(DOCS, "doc_id string, text string")
    words = df.select(F.explode(F.split(F.lower("text"), r"\s+")).alias("word"))
    counts = {r["word"]: r["count"] for r in words.groupBy("word").count().collect()}
    assert counts["the"] == 3
    assert counts["fox"] == 1
    assert sum(counts.values()) == 4 + 4 + 2  # split on runs of whitespace


@pytest.mark.skipif(
    importlib.util.find_spec("numpy") is None,
    reason="pyspark.ml needs numpy, which is not installed in this environment",
)
def test_ml_tokenizer_and_hashing_tf(spark: SparkSession) -> None:
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import HashingTF, Tokenizer

    df = spark.createDataFrame(DOCS, "doc_id string, text string")
    tokenizer = Tokenizer(inputCol="text", outputCol="words")
    hashing = HashingTF(inputCol="words", outputCol="features")
    assert hashing.getNumFeatures() == 1 << 18
    model = Pipeline(stages=[tokenizer, hashing]).fit(df)
    rows = {r["doc_id"]: r for r in model.transform(df).orderBy("doc_id").collect()}

    # Spark's Tokenizer lowercases and splits on each single whitespace character (regex "\\s"),
    # so a run of two spaces or two tabs leaves an empty token between them.
    assert rows["d1"]["words"] == ["the", "quick", "", "brown", "fox"]
    assert rows["d2"]["words"] == ["the", "lazy", "dog", "", "sleeps"]
    assert rows["d3"]["words"] == ["the", "end"]
    features = rows["d1"]["features"]
    assert features.size == 1 << 18
    assert sum(features.values) == 5


def test_python_workers_use_this_interpreter(spark: SparkSession) -> None:
    import sys

    @F.udf("string")
    def worker_python(_):  # no type hints: Spark would try to infer a pandas UDF from them
        import sys

        return sys.executable

    df = spark.createDataFrame(DOCS, "doc_id string, text string")
    executables = {r[0] for r in df.select(worker_python("text")).distinct().collect()}
    assert {os.path.normpath(e) for e in executables} == {os.path.normpath(sys.executable)}
