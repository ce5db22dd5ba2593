"""Files whose bytes Python tasks made, written by the JVM through Hadoop's FileSystem.

Python workers cannot reach Hadoop's FileSystem, and every output goes through it (local disks
and `s3a://` alike). ccmix's Java class `ccmix.spark.BlobFiles` (infra/spark/java, built by
infra/setup.sh into `.ccmix/ccmix-spark.jar`, which every ccmix Spark session has on its class
path), appends each partition's (name, chunk) rows, in order, to their files in one folder.
"""

from __future__ import annotations

from py4j.java_gateway import JavaClass
from pyspark.sql import DataFrame

from spark_jobs.fs import qualify
from spark_jobs.spark_session import CCMIX_JAR


def write(chunks: DataFrame, folder: str) -> None:
    """Writes `folder/<name>` for every name in `chunks` (name: string, chunk: binary), each
    file's chunks consecutive rows of one partition: one Spark job, in the caller's job group."""
    writer = chunks.sparkSession._jvm.ccmix.spark.BlobFiles
    if not isinstance(writer, JavaClass):
        raise RuntimeError(
            f"ccmix.spark.BlobFiles is not on Spark's class path ({CCMIX_JAR}): run `npm run setup`"
        )
    writer.write(chunks.select("name", "chunk")._jdf, qualify(folder))
