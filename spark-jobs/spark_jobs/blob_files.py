"""Files whose bytes Python tasks made, written by the JVM through Hadoop's FileSystem.

Python workers cannot reach Hadoop's FileSystem, and every output goes through it (local disks
and `s3a://` alike). ccmix's Java class `ccmix.spark.BlobFiles` (infra/spark/java, built by
infra/setup.sh into `.ccmix/ccmix-spark.jar`, which every ccmix Spark session has on its class
path), appends each partition's (name, chunk) rows, in order, to their files in one folder.
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from spark_jobs.fs import qualify
from spark_jobs.spark_session import ccmix_class


def write(chunks: DataFrame, folder: str) -> None:
    """Writes `folder/<name>` for every name in `chunks` (name: string, chunk: binary), each
    file's chunks consecutive rows of one partition: one Spark job, in the caller's job group."""
    ccmix_class(chunks.sparkSession, "BlobFiles").write(
        chunks.select("name", "chunk")._jdf, qualify(folder)
    )
